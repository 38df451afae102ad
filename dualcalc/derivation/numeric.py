"""Float64 numpy evaluation of derived kernels K(q1, q2, c), c clipped to |c| <= sqrt(q1 q2)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from dualcalc.derivation import special
from dualcalc.expression.symbols import Q1, Q2, C

KernelFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

#: numpy implementations of the project's own special functions, by sympy class name.
SPECIAL_NUMPY = special.NUMPY_FUNCTIONS


def lambdify_kernel(expr: sp.Expr) -> KernelFn:
    """Compile a sympy kernel in (q1, q2, c) to a broadcasting float64 numpy function."""
    fn = sp.lambdify((Q1, Q2, C), expr, modules=[SPECIAL_NUMPY, "scipy", "numpy"])

    def evaluate(q1, q2, c) -> np.ndarray:
        q1, q2, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (q1, q2, c)))
        bound = np.sqrt(q1 * q2)
        c = np.clip(c, -bound, bound)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.asarray(fn(q1, q2, c), dtype=np.float64)
        return np.broadcast_to(out, q1.shape).copy()

    return evaluate

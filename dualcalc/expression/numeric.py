"""Vectorised float64 evaluation of a sympy expression in x (numpy, long double where needed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from dualcalc.expression.symbols import X


def lambdify_numpy(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    """Compile an expression in x to a broadcasting numpy function returning float64.

    Where float64 is not finite at a finite x, the point is evaluated again in numpy's long
    double (80-bit on x86: exponents to about 11356 instead of 709): an intermediate that
    overflows float64, exp(2 x) in log(1 + exp(2 x)) or in its derivative
    2 exp(2 x) / (1 + exp(2 x)), then no longer spoils a value that float64 can hold.
    """
    heaviside = {"Heaviside": lambda a, h0=0.5: np.heaviside(a, h0)}
    fn = sp.lambdify(X, expr, modules=[heaviside, "scipy", "numpy"])
    wide = sp.lambdify(X, expr, modules=[heaviside, "numpy"])

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = np.broadcast_to(np.asarray(fn(x), dtype=np.float64), x.shape).copy()
            redo = ~np.isfinite(out) & np.isfinite(x)
            if np.any(redo):
                out[redo] = _long_double(wide, x[redo])
        return out

    return evaluate


def _long_double(fn: Callable, x: np.ndarray) -> np.ndarray:
    """fn at x in long double, rounded to float64 (inf / nan where it is not finite there,
    or where fn needs functions numpy has no long-double version of)."""
    try:
        value = np.asarray(fn(x.astype(np.longdouble)))
    except (TypeError, AttributeError, NameError):
        return np.full(x.shape, np.nan)
    if value.dtype.kind not in "fi":
        return np.full(x.shape, np.nan)
    return np.broadcast_to(value.astype(np.float64), x.shape)

"""Verification of a generated module against the independent quadrature oracle.

A printed closed form is accepted only when its K (and K') agree with 2-D Gaussian quadrature
(``derivation.quadrature``) at VERIFY_POINTS deterministic (q1, q2, c) inside the domain, to
VERIFY_TOLERANCE of the Cauchy-Schwarz scale.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from dualcalc.compiler.calibrate import eager_probe
from dualcalc.derivation.derivation import evaluate_kernel
from dualcalc.derivation.quadrature import (
    dkernel_scale,
    dual_dkernel_oracle,
    dual_kernel_oracle,
    kernel_scale,
)
from dualcalc.expression.activation import Activation

#: Verification protocol for closed forms (relative to the Cauchy-Schwarz scale).
VERIFY_POINTS = 20
VERIFY_TOLERANCE = 1e-10
VERIFY_Q_RANGE = (0.05, 20.0)
VERIFY_RHO_MAX = 0.999


def verification_points(count: int = VERIFY_POINTS, seed: int = 0) -> np.ndarray:
    """Deterministic (q1, q2, c) rows: q log-uniform in VERIFY_Q_RANGE, |rho| <= VERIFY_RHO_MAX."""
    rng = np.random.default_rng(seed)
    lo, hi = np.log(VERIFY_Q_RANGE[0]), np.log(VERIFY_Q_RANGE[1])
    q = np.exp(rng.uniform(lo, hi, size=(count, 2)))
    rho = rng.uniform(-VERIFY_RHO_MAX, VERIFY_RHO_MAX, size=count)
    rho[:2] = (VERIFY_RHO_MAX, -VERIFY_RHO_MAX)
    return np.column_stack([q[:, 0], q[:, 1], rho * np.sqrt(q[:, 0] * q[:, 1])])


def verify_module(activation: Activation, module: Any, count: int = VERIFY_POINTS) -> float:
    """Largest relative error of a generated module's printed K (and K') against the oracle.

    Errors are relative to the Cauchy-Schwarz scales sqrt(K(q1,q1,q1) K(q2,q2,q2)) (and the
    same for K'), at ``count`` deterministic points inside the domain (``verification_points``);
    the code generator checks the same printed forms at the edge rho = +-1.
    """
    points = verification_points(count)
    q1, q2, c = points.T
    # eager: twenty points do not repay compiling a large printed form; padded to the probe
    # length, they reuse the primitives the code generator's probes compiled
    with jax.disable_jit():
        k = evaluate_kernel(functools.partial(eager_probe, module._nngp), q1, q2, c)
        dk = None
        if not module.DERIVATIVE_IS_DISTRIBUTION:
            dk = evaluate_kernel(functools.partial(eager_probe, module._dnngp), q1, q2, c)
    worst = 0.0
    for i, (a, b, cov) in enumerate(points):
        err = abs(float(k[i]) - dual_kernel_oracle(activation, a, b, cov))
        worst = max(worst, err / max(kernel_scale(activation, a, b), 1e-300))
        if dk is None:
            continue
        derr = abs(float(dk[i]) - dual_dkernel_oracle(activation, a, b, cov))
        worst = max(worst, derr / max(dkernel_scale(activation, a, b), 1e-300))
    return float(worst) if np.isfinite(worst) else float("inf")

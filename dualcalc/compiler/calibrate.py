"""Calibration of a printed closed form: edge margins and the variances where it holds.

The template prints a closed form as it is; here the draft module is executed and probed:
``edge_margins`` finds how far inside rho = +-1 a 0/0 form must be evaluated (and
extrapolated) to match the 1-D edge integrals, ``stable_limits`` the variances beyond which
its terms cancel or overflow (ELU's exp(q) erfc(...)) and Mehler's series takes over. Both
compare against the Hermite engine's exact per-variance numerics, never the printed form.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dualcalc.codegen.calibration import UNCALIBRATED, Calibration
from dualcalc.codegen.template import render
from dualcalc.compiler.execute import module_from_source
from dualcalc.derivation.hermite import hermite_coefficients
from dualcalc.derivation.pair_expectation import edge_pair_expectation
from dualcalc.errors import DerivationError
from dualcalc.expression.pieces import piecewise_numpy
from dualcalc.runtime._support.guards import kernel_args, project


def calibrate(derivation: Any) -> Calibration:
    """Margins and variance limits of a derivation's printed closed form (none for Hermite)."""
    if not derivation.closed_form:
        return UNCALIBRATED
    draft = render(derivation, UNCALIBRATED)
    return Calibration(_edge_margins(draft, derivation), _stable_limits(draft, derivation))


#: Variances at which the printed closed form is compared with Mehler's series (rho = +-0.3,
#: where the series converges fast): 20 * 4^k up to about 1.3e6.
STABILITY_LADDER = tuple(20.0 * 4.0**k for k in range(9))
#: Agreement required there, relative to the Cauchy-Schwarz scale, per dtype.
STABILITY_TOLERANCE = {"float32": 1e-4, "float64": 1e-10}
#: The correlation of the stability probes, and the degree of the reference series there.
STABILITY_RHO = 0.3
REFERENCE_DEGREE = 120


def _stable_limits(source: str, derivation: Any) -> tuple[float, float]:
    """The largest ladder variance (float32, float64) up to which the printed K and K' agree
    with Mehler's series at rho = +-0.3: beyond it terms like exp(q) erfc(...) cancel
    catastrophically or overflow (ELU's form), and the module sums the series there instead.

    Reference: the engine's coefficients a_k(q) up to REFERENCE_DEGREE (numpy, exact
    per-variance), trusted where the Cauchy-Schwarz tail bound sqrt(tail tail) 0.3^(D + 1) is
    negligible, and only where the kernel's scale E[s(sqrt(q) z)^2] is finite (a kernel that
    overflows float64 itself, like exp's, is left as it is). inf when the form holds throughout.
    """
    module = module_from_source(source, "dualcalc_stability_probe", "<dualcalc stability probe>")
    printed = {False: module._nngp}
    if not derivation.derivative_is_distribution:
        printed[True] = module._dnngp
    ladder = np.asarray(STABILITY_LADDER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = hermite_coefficients(derivation.activation, REFERENCE_DEGREE + 1, ladder)
    k = np.arange(REFERENCE_DEGREE + 2)
    good = {"float32": np.ones(len(ladder), bool), "float64": np.ones(len(ladder), bool)}
    with _x64(), jax.disable_jit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for derivative, fn in printed.items():
            if derivative:
                coeffs = np.sqrt(k[1:]) * a[:, 1:] / np.sqrt(ladder)[:, None]
            else:
                coeffs = a[:, :-1]
            f = piecewise_numpy(derivation.activation, derivative=derivative)
            kinks = derivation.activation.kinks
            scale = np.array([edge_pair_expectation(f, v, v, 1.0, kinks) for v in ladder])
            tail = np.maximum(scale - np.sum(coeffs**2, axis=1), 0.0)
            trusted = np.isfinite(scale) & (
                tail * STABILITY_RHO ** (REFERENCE_DEGREE + 1) <= 1e-3 * 1e-10 * scale
            )
            for sign in (1.0, -1.0):
                rho = sign * STABILITY_RHO
                exact = np.sum(coeffs * coeffs * rho ** k[: coeffs.shape[1]], axis=1)
                for name in ("float32", "float64"):
                    args = (np.asarray(v, name) for v in (ladder, ladder, rho * ladder))
                    value = eager_probe(fn, *kernel_args(*args))
                    error = np.abs(value - exact) / np.maximum(scale, 1e-300)
                    ok = np.isfinite(value) & (error <= STABILITY_TOLERANCE[name])
                    good[name] &= ok | ~trusted
    limits = []
    for name in ("float32", "float64"):
        failing = np.nonzero(~good[name])[0]
        limits.append(float("inf") if not len(failing) else _limit_below(failing[0]))
    return limits[0], limits[1]


#: Probe arrays are padded to this many entries (or the next power of two above): eager JAX
#: compiles each primitive once per shape and dtype, so probes of one length share them.
PROBE_LENGTH = 1024


def eager_probe(fn: Callable, q1: Any, q2: Any, c: Any, *more: Any) -> Any:
    """fn(q1, q2, c, *more) on 1-D probe arrays of one length, padded with q = 1, c = 0 (and
    zeros) to the common probe length (the margin, stability and verification probes then
    share one compilation of each primitive per dtype); float64 values of the real entries."""
    arrays = [np.asarray(v) for v in (q1, q2, c, *more)]
    n = len(arrays[0])
    length = max(PROBE_LENGTH, 1 << max(n - 1, 0).bit_length())
    fills = (1.0, 1.0) + (0.0,) * (len(arrays) - 2)
    padded = [
        np.concatenate([a, np.full(length - n, fill, a.dtype)])
        for a, fill in zip(arrays, fills, strict=True)
    ]
    return np.asarray(fn(*padded), np.float64)[:n]


def _projected(fn: Callable) -> Callable:
    """fn at (q1, q2, c) moved inside the edge by ``margin`` (``_support.guards.project``)."""
    return lambda q1, q2, c, margin: fn(*project(*kernel_args(q1, q2, c), margin))


def _limit_below(index: int) -> float:
    """The last ladder variance before the first failing one (0 when even 20 fails)."""
    return STABILITY_LADDER[index - 1] if index > 0 else 0.0


#: Candidate margins per dtype, tried in order. A printed form that is 0/0 at rho = +-1 (e.g.
#: ELU's erfc((c^2/sqrt(q1) - sqrt(q1) q2) / sqrt(q1 q2 - c^2))) is evaluated this far inside
#: the edge, at 1, 4 and 9 times the margin, and extrapolated to the edge (``_support.guards``).
MARGIN_LADDER = {"float32": (0.0, 1e-6, 1e-5, 1e-4, 1e-3), "float64": (0.0, 1e-10, 1e-9, 1e-8)}
#: Agreement required at the edge probes, relative to the Cauchy-Schwarz scale. float64: a 0/0
#: form loses digits near the edge (the rounding of c^2 - q1 q2 is amplified by eps / m and by
#: the extrapolation's weights), which leaves about 1e-10 at the best margin: 1e-9. float32: only
#: gross errors (a wrong limit, NaN) are refused.
EDGE_TOLERANCE = {"float32": 1e-2, "float64": 1e-9}
#: Variances probed pairwise at rho = +-1: the range the closed forms are verified on
#: (``derivation.VERIFY_Q_RANGE``); outside it the edge is as good as the form itself.
PROBE_VARIANCES = (0.05, 0.5, 1.3, 7.0, 20.0)


def _edge_margins(source: str, derivation: Any) -> tuple[float, float]:
    """The smallest margins (float32, float64) at which the printed nngp (and dnngp), taken at
    1, 4 and 9 times the margin inside the edge and extrapolated to it, match the 1-D edge
    integrals E[s(sqrt(q1) z) s(+-sqrt(q2) z)] at every pair of probe variances."""
    module = module_from_source(source, "dualcalc_boundary_probe", "<dualcalc boundary probe>")
    printed = {False: module._nngp}
    if not derivation.derivative_is_distribution:
        printed[True] = module._dnngp
    chosen = []
    # Eager, op by op (a few probes do not repay compiling a large printed form), every
    # candidate margin and its 1, 4, 9 multiples stacked into one call per dtype and function.
    with _x64(), jax.disable_jit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow inside the probes
        for name in ("float32", "float64"):
            q1, q2, sign = (
                np.array(v).ravel()
                for v in np.meshgrid(PROBE_VARIANCES, PROBE_VARIANCES, (1.0, -1.0), indexing="ij")
            )
            exact = {d: _edge_integrals(derivation.activation, q1, q2, sign, d) for d in printed}
            ladder = MARGIN_LADDER[name]
            steps = np.array([[m * f for f in (1.0, 4.0, 9.0)] for m in ladder])  # (L, 3)
            tiled = [np.tile(np.asarray(v, name), steps.size) for v in (q1, q2, sign)]
            margin = np.repeat(steps.ravel(), len(q1)).astype(name)
            c = tiled[2] * np.sqrt(tiled[0] * tiled[1])
            passing = np.ones(len(ladder), bool)
            for derivative, fn in printed.items():
                values = eager_probe(_projected(fn), tiled[0], tiled[1], c, margin)
                values = values.reshape(len(ladder), 3, len(q1))
                extrapolated = 3 * (values[:, 0] - values[:, 1]) + values[:, 2]
                edge = np.where(steps[:, :1] == 0.0, values[:, 0], extrapolated)
                target, scale = exact[derivative]
                error = np.abs(edge - target) / scale
                finite = np.all(np.isfinite(values), axis=(1, 2))
                passing &= finite & np.all(error <= EDGE_TOLERANCE[name], axis=1)
            chosen.append(ladder[int(np.argmax(passing))] if passing.any() else None)
    if None in chosen:
        which = " and ".join(
            n for n, m in zip(("float32", "float64"), chosen, strict=True) if m is None
        )
        raise DerivationError(
            f"the printed closed form of {derivation.activation.text} disagrees in {which} with "
            "the edge integrals E[s(sqrt(q1) z) s(+-sqrt(q2) z)] at rho = +-1, at every margin "
            "tried"
        )
    return (float(chosen[0]), float(chosen[1]))


def _edge_integrals(activation: Any, q1, q2, sign, derivative: bool):
    """(E[f(sqrt(q1) z) f(sign sqrt(q2) z)], Cauchy-Schwarz scale), f = s or s', float64."""
    f = piecewise_numpy(activation, derivative=derivative)
    kinks = activation.kinks
    pairs = [edge_pair_expectation(f, a, b, s, kinks) for a, b, s in zip(q1, q2, sign, strict=True)]
    own = {v: edge_pair_expectation(f, v, v, 1.0, kinks) for v in set(q1) | set(q2)}
    scale = np.sqrt([own[a] * own[b] for a, b in zip(q1, q2, strict=True)])
    return np.array(pairs), np.maximum(scale, 1e-300)


def _x64():
    """Context with float64 enabled, whatever the caller's JAX configuration."""
    return jax.enable_x64(True)



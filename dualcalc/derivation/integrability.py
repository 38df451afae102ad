"""Admissibility of an activation: E[s(sqrt(q) z)^2] finite and representable for q <= 250.

Refused: poles, points where s is undefined, growth like exp(a x^2) or faster (the second
moment is infinite beyond q = 1 / 4a), and exponential growth fast enough that the kernel
overflows float64 below q = MAX_VARIANCE (E[exp(2 b u)] = exp(2 b^2 q)). Growth is judged
from the expression's asymptotics as x -> +-inf (sympy limits of log(s^2) / x^2 and
log(s^2) / |x| on the outermost smooth pieces), not from float64 values, which overflow in
intermediate results (softplus(2 x) = log(1 + exp(2 x)) grows like 2 x, yet exp(2 x)
overflows for x > 355), and the second moments are bounded with mpmath wherever float64
overflows. The limits cost up to seconds, so they run only where a cheap mpmath probe or a
float64 overflow on [-40, 40] gives a reason; where sympy cannot decide, the probe does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from dualcalc.derivation.budget import SymbolicBudgetExceeded, time_budget
from dualcalc.derivation.closed_form.terms import blows_up
from dualcalc.errors import DerivationError
from dualcalc.expression.activation import Activation
from dualcalc.expression.pieces import jump_points, piecewise_numpy, smooth_pieces
from dualcalc.expression.symbols import X

#: Variances up to which E[s(sqrt(q) z)^2] (and the same for s') must be finite and
#: representable in float64; beyond them a kernel may overflow.
MAX_VARIANCE = 250.0
#: log of the largest float64 (about 1.8e308).
LOG_FLOAT64_MAX = math.log(float(np.finfo(np.float64).max))
#: Seconds sympy may spend on the limits of one side of one activation.
ASYMPTOTIC_BUDGET = 4.0
#: Where the second-moment integrand is scanned: a linear grid that float64 covers and a
#: logarithmic one reaching far out (mpmath evaluates the points where float64 overflows).
_FAR = np.logspace(-3.0, 8.0, 221)
_MOMENT_GRID = np.unique(np.concatenate([np.linspace(-600.0, 600.0, 2401), _FAR, -_FAR]))
_MPMATH_ERRORS = (ValueError, ZeroDivisionError, OverflowError, MemoryError, TypeError)


@dataclass(frozen=True)
class Growth:
    """Asymptotics of s on one side: log s(x)^2 ~ quadratic x^2 + linear |x| + o(|x|).

    ``quadratic`` > 0 (or inf): growth like exp(a x^2) or faster, not square-integrable for
    every variance; ``quadratic`` == 0 and ``linear`` finite: exp(o(x^2)) growth, square-
    integrable at every variance, E[s(u)^2] ~ exp(linear^2 q / 2) when ``linear`` > 0.
    """

    quadratic: float
    linear: float | None


def check_square_integrable(act: Activation) -> None:
    """Raise DerivationError unless E[s(sqrt(q) z)^2] is finite in float64 for every q <= 250.

    Checks: real denominators without real roots, finite real values on a dense grid (catches
    1/x, log(x), sqrt(x) on x < 0), growth like exp(a x^2) (from the asymptotics), and the
    second moments of s and s' at q = MAX_VARIANCE: fast growth like exp(10 x) overflows
    float64 (E[exp(20 u)] = exp(200 q)) and is refused with the variance where that starts.
    """
    problem = integrability_problem(act)
    if problem is not None:
        raise DerivationError(problem)


@lru_cache(maxsize=256)
def integrability_problem(act: Activation) -> str | None:
    """The reason ``act`` is refused by check_square_integrable, or None (memoised)."""
    pole = _pole_problem(act)
    if pole is not None:
        return pole
    grid = np.concatenate(
        [np.linspace(-40.0, 40.0, 8001), np.linspace(-1e-3, 1e-3, 201), np.array(act.kinks)]
    )
    with np.errstate(all="ignore"):
        values = piecewise_numpy(act)(grid)
    bad = ~np.isfinite(values)
    if np.any(bad):
        x_bad = float(grid[bad][np.argmin(np.abs(grid[bad]))])
        undefined = _undefined_message(act, x_bad)
        if undefined is not None:
            return undefined
    if grows_quadratically(act, overflows=bool(np.any(bad))):
        return (
            f"{act.text} grows like exp(a x^2) or faster: E[s(u)^2] is infinite for large "
            "variances (not square-integrable under a Gaussian)"
        )
    if np.any(bad):
        return (
            f"{act.text} cannot be evaluated in float64 at x = {x_bad:.6g} (a value exceeds "
            "the float64 range, about 1.8e308): its kernel would overflow"
        )
    for derivative, what in ((False, "E[s(u)^2]"), (True, "E[s'(u)^2] (the NTK's K')")):
        if derivative and jump_points(act):
            continue
        if log_moment_bound(act, MAX_VARIANCE, derivative) > LOG_FLOAT64_MAX:
            limit = _overflow_variance(act, derivative)
            return (
                f"{act.text} grows too fast: {what} exceeds the float64 range (about 1.8e308) "
                f"for input variances q above about {limit:.3g}, so its kernel overflows there; "
                f"dualcalc accepts activations whose kernels stay finite for q up to "
                f"{MAX_VARIANCE:g}"
            )
    return None


def _pole_problem(act: Activation) -> str | None:
    """The refusal when a denominator of s has a real root where s blows up, else None."""
    expr = act.expr
    for power in expr.atoms(sp.Pow):
        if power.exp.is_negative and power.base.has(X):
            base = sp.expand(power.base)
            if base.is_polynomial(X):
                for root in sp.Poly(base, X).nroots(n=20):
                    if abs(sp.im(root)) < 1e-12 and blows_up(expr, float(sp.re(root))):
                        return (
                            f"{act.text} has a pole at x = {float(sp.re(root)):.6g}: it is not "
                            "square-integrable under a Gaussian"
                        )
    return None


def _undefined_message(act: Activation, x_bad: float) -> str | None:
    """The refusal when s is undefined at x_bad (not finite or not real even in mpmath), or
    None when float64 merely overflows there."""
    try:
        with mpmath.workdps(30):
            exact = mpmath.mpmathify(mp_lambdify(act.expr)(mpmath.mpf(x_bad)))
            defined = mpmath.isfinite(exact) and abs(mpmath.im(exact)) <= 1e-20 * (1 + abs(exact))
    except _MPMATH_ERRORS:
        defined = False
    if defined:
        return None
    return (
        f"{act.text} is not finite (or not real) at x = {x_bad:.6g}: it is not "
        "square-integrable under a Gaussian"
    )


def grows_quadratically(act: Activation, overflows: bool = False) -> bool:
    """True when log s(x)^2 grows like x^2 or faster on either side (E[s^2] infinite for large q).

    sympy's limits (which can take seconds) decide, when they give an answer, wherever there
    is a reason to look: the cheap numeric probe (``_probe_quadratic``) suspects quadratic
    growth, or float64 ``overflows`` on [-40, 40]. Otherwise growth is at most exponential
    (the probe's 1e3 -> 1e4 decade) and the second-moment bound judges it.
    """
    suspect = _probe_quadratic(act)
    if not (suspect or overflows):
        return False
    verdicts = [asymptotic_growth(act, side) for side in (1, -1)]
    if any(v is not None and v.quadratic > 0 for v in verdicts):
        return True
    if all(v is not None for v in verdicts):
        return False
    return suspect


@lru_cache(maxsize=256)
def asymptotic_growth(act: Activation, side: int) -> Growth | None:
    """Growth of s as x -> side * inf from sympy limits on the outermost piece (None: unknown)."""
    piece = smooth_pieces(act)[-1 if side > 0 else 0].expr
    y = sp.Symbol("y", positive=True)
    log_square = sp.log(piece.subs(X, side * y) ** 2)
    try:
        with time_budget(ASYMPTOTIC_BUDGET):
            quadratic = sp.limit(log_square / y**2, y, sp.oo)
            linear = sp.limit(log_square / y, y, sp.oo) if quadratic == 0 else None
    except (SymbolicBudgetExceeded, NotImplementedError, ValueError, TypeError):
        return None
    values = []
    for limit in (quadratic, linear):
        if limit is None:
            values.append(None)
            continue
        if not (limit.is_extended_real and limit.is_comparable or limit in (sp.oo, -sp.oo)):
            return None
        values.append(float(limit))
    return Growth(values[0], values[1])


def _probe_quadratic(act: Activation) -> bool:
    """Numeric probe: log|s| grows 50x or more from x = 1e3 to 1e4 (a linear exponent exp(b x)
    grows 10x over that decade, a quadratic one 100x, a power x^k not at all). Where mpmath
    cannot evaluate s (sin(exp(exp(x))) at 1e3) nothing is concluded."""
    fn = mp_lambdify(act.expr)
    with mpmath.workdps(30):
        for sign in (1, -1):
            try:
                near, far = (abs(fn(mpmath.mpf(sign * x))) for x in (1e3, 1e4))
            except _MPMATH_ERRORS:
                continue
            if near == 0 or far == 0 or not (mpmath.isfinite(near) and mpmath.isfinite(far)):
                continue
            log_near, log_far = mpmath.log(near), mpmath.log(far)
            if log_far > 1e3 and log_far > 50 * max(log_near, 1):
                return True
    return False


def log_moment_bound(act: Activation, q: float, derivative: bool) -> float:
    """max over _MOMENT_GRID of log(f(x)^2 phi(x; q)), f = s or s': about log E[f(sqrt(q) z)^2].

    The Gaussian density phi(x; q) = exp(-x^2 / 2q) / sqrt(2 pi q); log|f| comes from
    ``_log_abs_on_grid``.
    """
    x = _MOMENT_GRID
    log_density = -(x**2) / (2 * q) - 0.5 * math.log(2 * math.pi * q)
    with np.errstate(invalid="ignore"):
        terms = 2 * _log_abs_on_grid(act, derivative) + log_density
    return float(np.max(np.where(np.isnan(terms), -np.inf, terms)))


@lru_cache(maxsize=64)
def _log_abs_on_grid(act: Activation, derivative: bool) -> np.ndarray:
    """log|f| on _MOMENT_GRID, f = s or s' (-inf where f is 0 or undefined).

    float64 gives the value wherever f(x) is finite; where float64 overflows (in f or only in
    an intermediate, as exp(2 x) inside log(1 + exp(2 x))), mpmath evaluates f; +inf where
    mpmath cannot either. Points where f is undefined are skipped (the grid check refuses
    those inside [-40, 40]).
    """
    with np.errstate(all="ignore"):
        values = piecewise_numpy(act, derivative)(_MOMENT_GRID)
        out = np.log(np.abs(values))
    out = np.where(np.isfinite(values) & (values != 0), out, -np.inf)
    overflow = np.flatnonzero(np.isinf(values))
    if overflow.size:
        fn = mp_lambdify(act.derivative if derivative else act.expr)
        with mpmath.workdps(30):
            for index in overflow:
                try:
                    size = abs(fn(mpmath.mpf(float(_MOMENT_GRID[index]))))
                except _MPMATH_ERRORS:
                    out[index] = math.inf
                    continue
                if size > 0:
                    out[index] = float(mpmath.log(size))
    out.setflags(write=False)
    return out


def _overflow_variance(act: Activation, derivative: bool) -> float:
    """About the largest q whose second moment (of s or s') stays within float64 (bisection)."""
    lo, hi = math.log(1e-6), math.log(MAX_VARIANCE)
    if log_moment_bound(act, math.exp(lo), derivative) > LOG_FLOAT64_MAX:
        return math.exp(lo)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if log_moment_bound(act, math.exp(mid), derivative) > LOG_FLOAT64_MAX:
            hi = mid
        else:
            lo = mid
    return math.exp(lo)


def mp_lambdify(expr: sp.Expr) -> Callable:
    """s as an mpmath function of one mpf (Heaviside(0) = 1/2)."""
    heaviside = {"Heaviside": lambda a, h0=0.5: 1 if a > 0 else (0 if a < 0 else h0)}
    return sp.lambdify(X, expr, modules=[heaviside, "mpmath"])

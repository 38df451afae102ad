"""The independent numerical oracle: Gaussian expectations by kink-aware quadrature.

Everything dualcalc derives (closed forms, Hermite series, generated code) is checked
against this module. It shares no formula with the engines it checks: it integrates
E[f(u) g(v)] directly, conditioning on u,

    u = sqrt(q1) z1,   v = sqrt(q2) (rho z1 + sqrt(1 - rho^2) z2),   z1, z2 ~ N(0, 1),

with composite Gauss-Legendre rules on truncated domains, split exactly at the kinks
(in z1 at kinks_f / sqrt(q1); in z2 at the z1-dependent images of kinks_g) and graded
towards the points where the inner integral changes on the scale sqrt(1 - rho^2).
It also owns the project's error scale ``kernel_scale`` and an mpmath reference for
Hermite coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import mpmath
import numpy as np

from dualcalc.derivation.legendre import gauss_legendre
from dualcalc.errors import DerivationError, DualcalcError
from dualcalc.expression.activation import Activation
from dualcalc.expression.pieces import jump_points, piecewise_mpmath, piecewise_numpy

Func = Callable[[np.ndarray], np.ndarray]

#: Gauss-Legendre nodes per panel and the widest panel (in standard-normal units).
NODES_PER_PANEL = 14
PANEL_WIDTH = 0.5
#: Inner (conditional) domain half-width: P(|z2| > 12) = 3.6e-33.
INNER_HALF_WIDTH = 12.0
#: Mass of f^2 phi left outside the outer domain, relative to E f^2.
TRUNCATION_MASS = 1e-32
_LOG_PHI0 = -0.5 * math.log(2.0 * math.pi)


def _panel_rule(edges: np.ndarray, n: int = NODES_PER_PANEL) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on consecutive panels [e_i, e_(i+1)]."""
    x, w = gauss_legendre(n)
    lo, hi = edges[:-1], edges[1:]
    half = 0.5 * (hi - lo)
    nodes = (0.5 * (hi + lo))[:, None] + half[:, None] * x[None, :]
    weights = half[:, None] * w[None, :]
    return nodes.ravel(), weights.ravel()


def _edges(
    lo: float, hi: float, extra: Sequence[float] = (), width: float = PANEL_WIDTH
) -> np.ndarray:
    """Panel edges covering [lo, hi]: a uniform grid plus the extra points inside."""
    count = max(1, math.ceil((hi - lo) / width))
    grid = np.linspace(lo, hi, count + 1)
    inside = [p for p in extra if lo < p < hi]
    edges = np.unique(np.concatenate([grid, np.asarray(inside, dtype=np.float64)]))
    keep = np.concatenate([[True], np.diff(edges) > 1e-14 * max(1.0, abs(hi), abs(lo))])
    return edges[keep]


def _width(scale: float) -> float:
    """Panel width in z for f(scale z): f varies on the scale 1 in x, i.e. 1 / scale in z."""
    return PANEL_WIDTH * min(1.0, 2.0 / scale) if scale > 0 else PANEL_WIDTH


def _log_phi(z: np.ndarray) -> np.ndarray:
    return _LOG_PHI0 - 0.5 * z * z


def _support(
    f: Func, scale: float, threshold: float = TRUNCATION_MASS, power: float = 2.0
) -> tuple[float, float]:
    """Interval [lo, hi] in z outside which |f(scale z)|^power phi(z) has negligible mass.

    Raises DerivationError when f is not finite where the Gaussian weight is not negligible.
    """
    z = np.linspace(-38.0, 38.0, 3041)
    values = np.asarray(f(scale * z), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        bad = z[~np.isfinite(values)][0] * scale
        raise DerivationError(
            f"the function is not finite at x = {bad:.6g}: its Gaussian expectation does not exist"
        )
    with np.errstate(divide="ignore"):
        log_mass = power * np.log(np.abs(values)) + _log_phi(z)
    top = np.max(log_mass)
    if not np.isfinite(top):
        return -1.0, 1.0
    mass = np.exp(log_mass - top)
    if not np.all(np.isfinite(mass)):
        raise DerivationError("the function grows too fast for a Gaussian expectation")
    total = mass.sum()
    left = np.cumsum(mass)
    right = np.cumsum(mass[::-1])[::-1]
    small = threshold * total
    lo_index = int(np.searchsorted(left, small))
    hi_index = len(z) - 1 - int(np.searchsorted(right[::-1], small))
    lo = max(-38.0, min(z[max(lo_index - 2, 0)], -1.0))
    hi = min(38.0, max(z[min(hi_index + 2, len(z) - 1)], 1.0))
    if lo <= -37.9 and mass[0] > 1e-40 or hi >= 37.9 and mass[-1] > 1e-40:
        raise DerivationError(
            "the function grows too fast: E[f(sqrt(q) z)^2] has mass beyond |z| = 38"
        )
    return float(lo), float(hi)


def _validate_variance(q: float, name: str = "q") -> float:
    q = float(q)
    if not math.isfinite(q) or q <= 0.0:
        raise DualcalcError(f"{name} must be a finite positive variance, got {q}")
    return q


def gaussian_expectation(f: Func, q: float, kinks: Sequence[float] = ()) -> float:
    """E[f(sqrt(q) z)] for z ~ N(0, 1), f a vectorised numpy callable with kinks at ``kinks``."""
    q = _validate_variance(q)
    scale = math.sqrt(q)
    lo, hi = _support(f, scale, TRUNCATION_MASS**0.5, power=1.0)
    edges = _edges(lo, hi, [k / scale for k in kinks], _width(scale))
    z, w = _panel_rule(edges)
    values = np.asarray(f(scale * z), dtype=np.float64)
    return float(np.sum(w * values * np.exp(_log_phi(z))))


def _graded_points(centre: float, sigma: float, width: float = PANEL_WIDTH) -> list[float]:
    """Points centre +- sigma 2^j (j >= -3) up to the panel width: panels graded to scale sigma."""
    points = [centre]
    step = sigma / 8.0
    while step < width:
        points += [centre - step, centre + step]
        step *= 2.0
    return points


def _correlation(q1: float, q2: float, c: float) -> float:
    c = float(c)
    if not math.isfinite(c):
        raise DualcalcError(f"covariance c must be finite, got {c}")
    rho = c / math.sqrt(q1 * q2)
    if abs(rho) > 1.0 + 1e-9:
        raise DualcalcError(
            f"|c| = {abs(c):.6g} exceeds sqrt(q1 q2) = {math.sqrt(q1 * q2):.6g}: "
            "not a covariance matrix"
        )
    return min(1.0, max(-1.0, rho))


def gaussian_pair_expectation(
    f: Func,
    g: Func,
    q1: float,
    q2: float,
    c: float,
    kinks_f: Sequence[float] = (),
    kinks_g: Sequence[float] = (),
) -> float:
    """E[f(u) g(v)] for a centred Gaussian pair with covariance [[q1, c], [c, q2]]."""
    q1 = _validate_variance(q1, "q1")
    q2 = _validate_variance(q2, "q2")
    rho = _correlation(q1, q2, c)
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    if abs(rho) == 1.0:
        sign = rho

        def product(x: np.ndarray) -> np.ndarray:
            return np.asarray(f(r1 * x), dtype=np.float64) * np.asarray(
                g(sign * r2 * x), dtype=np.float64
            )

        lo_f, hi_f = _support(f, r1)
        lo_g, hi_g = _support(g, sign * r2)
        kinks = [k / r1 for k in kinks_f] + [sign * k / r2 for k in kinks_g]
        width = min(_width(r1), _width(r2))
        edges = _edges(max(lo_f, lo_g), min(hi_f, hi_g), kinks, width)
        z, w = _panel_rule(edges)
        return float(np.sum(w * product(z) * np.exp(_log_phi(z))))

    s = math.sqrt((1.0 - rho) * (1.0 + rho))
    _support(g, r2)  # finiteness check of g
    lo, hi = _support(f, r1)
    extra = [k / r1 for k in kinks_f]
    if rho != 0.0:
        sigma = s / abs(rho)
        for k in kinks_g:
            extra += _graded_points(k / (r2 * rho), sigma)
    z1, w1 = _panel_rule(_edges(lo, hi, extra, _width(r1)))
    inner = _conditional_expectation(g, r2, rho, s, z1, kinks_g)
    values = np.asarray(f(r1 * z1), dtype=np.float64)
    return float(np.sum(w1 * values * inner * np.exp(_log_phi(z1))))


def _conditional_expectation(
    g: Func, r2: float, rho: float, s: float, z1: np.ndarray, kinks_g: Sequence[float]
) -> np.ndarray:
    """E[g(r2 (rho z1 + s z2)) | z1] for every z1, split at the kink images in z2."""
    lim = INNER_HALF_WIDTH
    grid = np.linspace(-lim, lim, math.ceil(2 * lim / _width(r2 * s)) + 1)
    images = [np.clip((k / r2 - rho * z1) / s, -lim, lim) for k in kinks_g]
    edges = np.sort(
        np.concatenate(
            [np.broadcast_to(grid, (len(z1), len(grid)))] + [i[:, None] for i in images], axis=1
        ),
        axis=1,
    )
    x, w = gauss_legendre(NODES_PER_PANEL)
    lo, hi = edges[:, :-1], edges[:, 1:]
    half = 0.5 * (hi - lo)
    z2 = (0.5 * (hi + lo))[..., None] + half[..., None] * x
    weights = half[..., None] * w * np.exp(_log_phi(z2))
    values = np.asarray(g(r2 * (rho * z1[:, None, None] + s * z2)), dtype=np.float64)
    return np.sum(values * weights, axis=(1, 2))


# --- Activations -------------------------------------------------------------------------


def is_discontinuous(act: Activation) -> bool:
    """True when s jumps at one of its kinks (step, sign, ...): then s' has a Dirac part."""
    return bool(jump_points(act))


def dual_kernel_oracle(act: Activation, q1: float, q2: float, c: float) -> float:
    """K(q1, q2, c) = E[s(u) s(v)] by direct quadrature."""
    kinks, f = act.kinks, piecewise_numpy(act)
    return gaussian_pair_expectation(f, f, q1, q2, c, kinks, kinks)


@lru_cache(maxsize=256)
def _derivative_numpy(act: Activation) -> Func:
    jumps = jump_points(act)
    if jumps:
        raise DerivationError(
            f"{act.text} jumps at x = {', '.join(f'{j:g}' for j in jumps)}: its derivative has a "
            "Dirac delta there, so K' = E[s'(u) s'(v)] is a distribution, not a function"
        )
    return piecewise_numpy(act, derivative=True)


def dual_dkernel_oracle(act: Activation, q1: float, q2: float, c: float) -> float:
    """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc by direct quadrature (s continuous)."""
    d = _derivative_numpy(act)
    return gaussian_pair_expectation(d, d, q1, q2, c, act.kinks, act.kinks)


def second_moment(act: Activation, q: float) -> float:
    """E[s(sqrt(q) z)^2] = K(q, q, q)."""
    f = piecewise_numpy(act)
    return gaussian_expectation(lambda x: f(x) ** 2, q, act.kinks)


def kernel_scale(act: Activation, q1: float, q2: float) -> float:
    """sqrt(K(q1, q1, q1) K(q2, q2, q2)): the Cauchy-Schwarz bound used as the error scale."""
    return math.sqrt(second_moment(act, q1) * second_moment(act, q2))


def dkernel_scale(act: Activation, q1: float, q2: float) -> float:
    """sqrt(E[s'(u)^2] E[s'(v)^2]): the Cauchy-Schwarz bound of K'."""
    d = _derivative_numpy(act)
    m1 = gaussian_expectation(lambda x: d(x) ** 2, q1, act.kinks)
    m2 = gaussian_expectation(lambda x: d(x) ** 2, q2, act.kinks)
    return math.sqrt(m1 * m2)


# --- mpmath reference for Hermite coefficients -------------------------------------------


def _mp_function(act_or_callable: Activation | Callable) -> tuple[Callable, tuple[float, ...]]:
    if isinstance(act_or_callable, Activation):
        return piecewise_mpmath(act_or_callable), act_or_callable.kinks
    return act_or_callable, ()


def hermite_coefficients_mp(
    act_or_callable: Activation | Callable,
    degree: int,
    q: float,
    dps: int = 40,
    kinks: Sequence[float] = (),
) -> np.ndarray:
    """a_k(q) = E[s(sqrt(q) z) h_k(z)], h_k = He_k / sqrt(k!), k = 0..degree, by mpmath quadrature.

    Composite Gauss-Legendre at ``dps`` digits on [-T, T], split at the kinks, with panels
    fine enough for h_degree. A plain callable must accept mpmath numbers; pass its kinks.
    """
    fn, act_kinks = _mp_function(act_or_callable)
    kinks = tuple(kinks) or act_kinks
    q = _validate_variance(q)
    root = math.sqrt(q)
    # Truncate where the mass of s^2 phi is below 10^(-2 dps): by Cauchy-Schwarz the
    # truncated part of every a_k is then below 10^(-dps) ||s||, whatever k is.
    as_float = np.vectorize(lambda x: float(fn(mpmath.mpf(float(x)))))
    lo, hi = _support(as_float, root, 10.0 ** (-2 * dps))
    n_nodes = max(24, (degree + 2 * dps) // 2 + 8)
    edges = _edges(lo, hi, [float(k) / root for k in kinks], 1.0)
    xs, ws = _mp_legendre(n_nodes, dps + 10)
    with mpmath.workdps(dps + 10):
        sq = mpmath.sqrt(mpmath.mpf(q))
        exact = {float(k) / root: mpmath.mpf(k) / sq for k in kinks}
        edges_mp = [exact.get(float(e), mpmath.mpf(float(e))) for e in edges]
        roots = [mpmath.sqrt(k) for k in range(degree + 2)]
        acc = [mpmath.mpf(0)] * (degree + 1)
        norm = 1 / mpmath.sqrt(2 * mpmath.pi)
        for a, b in zip(edges_mp[:-1], edges_mp[1:], strict=True):
            mid, half = (a + b) / 2, (b - a) / 2
            for x, w in zip(xs, ws, strict=True):
                z = mid + half * x
                weight = half * w * norm * mpmath.exp(-z * z / 2) * fn(sq * z)
                h_prev, h = mpmath.mpf(0), weight
                for k in range(degree + 1):
                    acc[k] += h
                    h_prev, h = h, (z * h - roots[k] * h_prev) / roots[k + 1]
        return np.array([float(a) for a in acc])


@lru_cache(maxsize=8)
def _mp_legendre(n: int, dps: int) -> tuple[list, list]:
    """Gauss-Legendre nodes and weights on [-1, 1] at ``dps`` digits (Newton on P_n)."""
    with mpmath.workdps(dps):
        xs, ws = [], []
        for i in range(1, n + 1):
            x = mpmath.cos(mpmath.pi * (i - mpmath.mpf(1) / 4) / (n + mpmath.mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mpmath.mpf(1), x
                for k in range(2, n + 1):
                    p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
                dp = n * (x * p1 - p0) / (x * x - 1)
                step = p1 / dp
                x -= step
                if abs(step) < mpmath.mpf(10) ** (-dps + 2):
                    break
            p0, p1 = mpmath.mpf(1), x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1)
            xs.append(x)
            ws.append(2 / ((1 - x * x) * dp * dp))
        return xs, ws

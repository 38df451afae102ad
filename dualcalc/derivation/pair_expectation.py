"""Direct quadrature of E[f(u) f(v)] for a Gaussian pair: near and on the edge |rho| = 1.

Where the truncated Mehler series cannot certify its tolerance, the Hermite route integrates
in rotated coordinates (``rotated_pair_expectation``); on the edge one Gaussian serves both
inputs (``edge_pair_expectation``), a 1-D rule split at every kink.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dualcalc.derivation.hermite_rules import (
    SQRT2PI,
    Z_LIMIT,
    panel_width,
    rule,
    split_rule,
    z_range,
)
from dualcalc.derivation.legendre import gauss_legendre

#: Direct 2-D rule near |rho| = 1: nodes per panel and the widest panel.
DIRECT_NODES = 12
DIRECT_WIDTH = 0.75


def rotated_pair_expectation(
    f: Callable, q1: float, q2: float, rho: float, kinks: tuple[float, ...] = ()
) -> float:
    """E[f(u) f(v)], corr(u, v) = rho, by a 2-D rule in rotated coordinates.

    For rho < 0 the second factor is reflected, f(v) = f(-(-v)), so that rho >= 0. Then
    x = a t1 + b t2, y = a t1 - b t2 with a = sqrt((1 + rho)/2) >= b = sqrt((1 - rho)/2)
    and independent standard normals t1, t2; u = sqrt(q1) x, v = sqrt(q2) y. The inner
    integral over t1 is split where x or y crosses a kink; the outer one over t2 is split
    where two kink lines cross, so every panel holds a smooth integrand.
    """
    if q1 == 0.0 or q2 == 0.0:
        return _zero_variance_pair(f, q1, q2, kinks)
    if abs(rho) == 1.0:
        return edge_pair_expectation(f, q1, q2, rho, kinks)
    kx = [k / math.sqrt(q1) for k in kinks]
    if rho < 0:
        ky = [-k / math.sqrt(q2) for k in kinks]
        return _rotated(f, lambda v: f(-v), q1, q2, -rho, kx, ky)
    return _rotated(f, f, q1, q2, rho, kx, [k / math.sqrt(q2) for k in kinks])


def _rotated(
    f: Callable, g: Callable, q1: float, q2: float, rho: float, kx: list[float], ky: list[float]
) -> float:
    """E[f(sqrt(q1) x) g(sqrt(q2) y)], corr(x, y) = rho >= 0, kinks kx of x and ky of y."""
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    a, b = math.sqrt(0.5 * (1.0 + rho)), math.sqrt(0.5 * (1.0 - rho))
    lim = max(Z_LIMIT, *_reach(f, r1), *_reach(g, r2)) + 1.0
    width_inner = DIRECT_WIDTH * min(1.0, 2.0 / (max(r1, r2) * a))
    width_outer = DIRECT_WIDTH * min(1.0, 2.0 / (max(r1, r2) * max(b, 1e-300)))
    crossings = [(p - q) / (2.0 * b) for p in kx for q in ky if b > 0]
    t2, w2 = split_rule(-lim, lim, crossings, width_outer, DIRECT_NODES)
    x_inner, w_inner = gauss_legendre(DIRECT_NODES)
    grid = np.linspace(-lim, lim, math.ceil(2 * lim / width_inner) + 1)
    cuts = [(p - b * t2) / a for p in kx] + [(q + b * t2) / a for q in ky]
    edges = np.sort(
        np.concatenate(
            [np.broadcast_to(grid, (len(t2), len(grid)))]
            + [np.clip(cut, -lim, lim)[:, None] for cut in cuts],
            axis=1,
        ),
        axis=1,
    )
    half = 0.5 * np.diff(edges, axis=1)
    t1 = (0.5 * (edges[:, 1:] + edges[:, :-1]))[..., None] + half[..., None] * x_inner
    weights = half[..., None] * w_inner * np.exp(-0.5 * t1 * t1) / SQRT2PI
    x = a * t1 + b * t2[:, None, None]
    y = a * t1 - b * t2[:, None, None]
    values = np.asarray(f(r1 * x), dtype=np.float64) * np.asarray(g(r2 * y), dtype=np.float64)
    inner = np.sum(values * weights, axis=(1, 2))
    return float(np.sum(w2 * inner * np.exp(-0.5 * t2 * t2) / SQRT2PI))


def _reach(f: Callable, root_q: float) -> tuple[float, float]:
    lo, hi = z_range(f, root_q, -38.0, 38.0)
    return abs(lo), abs(hi)


#: |rho| within this many ulps of 1 is taken as 1: the data cannot resolve it, and kinked
#: duals have infinite slope there (the generated modules use the same convention).
EDGE_ULPS = 64


def snap_to_edge(rho: np.ndarray) -> np.ndarray:
    """rho with values within EDGE_ULPS of +-1 set to +-1 exactly."""
    tol = EDGE_ULPS * np.finfo(np.float64).eps
    return np.where(np.abs(rho) >= 1.0 - tol, np.sign(rho), rho)


def edge_pair_expectation(
    f: Callable, q1: float, q2: float, sign: float, kinks: tuple[float, ...] = ()
) -> float:
    """E[f(sqrt(q1) z) f(sign sqrt(q2) z)], z ~ N(0, 1): the dual at rho = sign = +-1.

    One Gaussian for both inputs (collinear or mirrored points, a point with itself), so a
    1-D rule split at every kink of both factors; no 2-D quadrature near a degenerate edge.
    """
    if q1 == 0.0 or q2 == 0.0:
        return _zero_variance_pair(f, q1, q2, kinks)
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    ratio = math.copysign(r2 / r1, sign)

    def product(x):
        return np.asarray(f(x), dtype=np.float64) * np.asarray(f(ratio * x), dtype=np.float64)

    lo, hi = z_range(product, r1, -38.0, 38.0, power=1.0)
    cuts = sorted({k / r1 for k in kinks} | {k / (ratio * r1) for k in kinks})
    z, w = split_rule(lo, hi, cuts, panel_width(max(r1, r2), 0))
    return float(np.sum(w * product(r1 * z) * np.exp(-0.5 * z * z)) / SQRT2PI)


def _zero_variance_pair(f: Callable, q1: float, q2: float, kinks: tuple[float, ...]) -> float:
    """E[f(0) f(v)] when one input has zero variance."""
    f0 = float(f(np.array(0.0)))
    q = max(q1, q2)
    if q == 0.0:
        return f0 * f0
    root = math.sqrt(q)
    bounds = [-math.inf, *[k / root for k in kinks], math.inf]
    total = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        lo, hi = z_range(f, root, max(lo, -38.0), min(hi, 38.0))
        z, w = rule(lo, hi, panel_width(root, 0))
        total += float(np.sum(w * f(root * z) * np.exp(-0.5 * z * z)) / SQRT2PI)
    return f0 * total

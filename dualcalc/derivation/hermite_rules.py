"""Numeric building blocks of the Hermite engine: Hermite functions and composite rules.

psi_k(z) = h_k(z) sqrt(phi(z)) by the stable three-term recurrence; composite Gauss-Legendre
rules with panels sized to the integrand's scale and psi_degree's oscillation; the z-range
where an integrand's Gaussian mass lies; and the numeric coefficients of one smooth piece.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dualcalc.derivation.legendre import gauss_legendre

#: Gauss-Legendre nodes per panel of the numeric rules.
NODES = 16
#: |z| beyond which Gaussian mass is ignored for bounded integrands: P(|z| > 13) ~ 1e-38.
Z_LIMIT = 13.0
SQRT2PI = math.sqrt(2.0 * math.pi)


def hermite_functions(z: np.ndarray, degree: int) -> np.ndarray:
    """psi_k(z) = h_k(z) sqrt(phi(z)), k = 0..degree, stacked on a new last axis (stable)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty(z.shape + (degree + 1,))
    prev = np.zeros_like(z)
    cur = np.exp(-0.25 * z * z) / math.sqrt(SQRT2PI)
    for k in range(degree + 1):
        out[..., k] = cur
        prev, cur = cur, (z * cur - math.sqrt(k) * prev) / math.sqrt(k + 1)
    return out


def rule(lo: float, hi: float, width: float, n: int = NODES) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule on [lo, hi] with panels no wider than ``width``."""
    count = max(1, math.ceil((hi - lo) / width))
    edges = np.linspace(lo, hi, count + 1)
    x, w = gauss_legendre(n)
    half = 0.5 * np.diff(edges)
    nodes = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * x
    return nodes.ravel(), (half[:, None] * w).ravel()


def panel_width(root_q: float, degree: int) -> float:
    """Panel width resolving s(sqrt(q) z) (scale 1/sqrt(q)) and psi_degree's oscillation."""
    return min(0.5, 1.0 / max(root_q, 1e-300), 2.5 / math.sqrt(2.0 * degree + 1.0))


def z_range(
    f: Callable, root_q: float, lo: float, hi: float, power: float = 2.0
) -> tuple[float, float]:
    """[lo, hi] (in z) cut to where |f(root_q z)|^power phi(z) is not negligible (1e-34 of its
    max); power 2 for squared integrands, 1 for an integrand f itself."""
    z = np.linspace(max(lo, -38.0), min(hi, 38.0), 1521)
    with np.errstate(all="ignore"):
        log_mass = power * np.log(np.abs(f(root_q * z))) - 0.5 * z * z
    # f overflowing far out (exp(10 z) at z = 38) says nothing about where the mass is.
    log_mass = np.where(np.isfinite(log_mass), log_mass, -np.inf)
    keep = log_mass > np.max(log_mass) - 80.0
    if not np.any(keep):
        return max(lo, -1.0), min(hi, 1.0)
    step = z[1] - z[0]
    new_lo = max(lo, z[keep][0] - 2 * step, -38.0)
    new_hi = min(hi, z[keep][-1] + 2 * step, 38.0)
    return float(new_lo), float(new_hi)


def numeric_piece(
    f: Callable, root_q: float, lo: float, hi: float, degree: int
) -> tuple[np.ndarray, float]:
    """(a_0..a_degree, E[f^2 1_piece]) of f(root_q z) on z in (lo, hi), by quadrature."""
    lo, hi = max(lo, -38.0), min(hi, 38.0)
    if hi <= lo:
        return np.zeros(degree + 1), 0.0
    lo, hi = z_range(f, root_q, lo, hi)
    z, w = rule(lo, hi, panel_width(root_q, degree))
    values = np.asarray(f(root_q * z), dtype=np.float64)
    weighted = w * values * np.exp(-0.25 * z * z) / math.sqrt(SQRT2PI)
    coeffs = hermite_functions(z, degree).T @ weighted
    second = float(np.sum(w * values**2 * np.exp(-0.5 * z * z)) / SQRT2PI)
    return coeffs, second


def split_rule(lo: float, hi: float, cuts: list[float], width: float, nodes: int = NODES):
    inside = sorted(c for c in cuts if lo < c < hi)
    bounds = [lo, *inside, hi]
    points, weights = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a > 1e-15:
            z, w = rule(a, b, width, nodes)
            points.append(z)
            weights.append(w)
    return np.concatenate(points), np.concatenate(weights)

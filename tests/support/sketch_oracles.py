"""Shared oracles and statistical checks for the sketch tests (numpy, independent of the code).

Tolerances: a sample of K independent sketch estimates gives a mean whose error is
std / sqrt(K) and an empirical variance whose standard error is sqrt((mu4 - s^4) / K)
(mu4 the empirical fourth central moment; this holds for any distribution with four moments,
not only Gaussian ones, where it reduces to the chi-square spread s^2 sqrt(2 / K)). We assert
within Z = 5 standard errors: a 5-sigma bound, two-sided false-alarm rate 5.7e-7 per check for
a normal statistic (K >= 1000, so the CLT applies to both statistics).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

Z = 5.0


def hartley_matrix(d: int) -> np.ndarray:
    """Dense orthonormal Hartley matrix H[r, j] = cas(2 pi r j / d) / sqrt(d), from cos + sin."""
    r = np.arange(d)
    angle = 2.0 * np.pi * (np.outer(r, r) % d) / d
    return (np.cos(angle) + np.sin(angle)) / math.sqrt(d)


def unit_pair(d: int, cosine: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors of R^d with <x, y> = cosine (Gram-Schmidt on Gaussian draws)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(d)
    x /= np.linalg.norm(x)
    z = rng.standard_normal(d)
    z -= (z @ x) * x
    z /= np.linalg.norm(z)
    return x, cosine * x + math.sqrt(1.0 - cosine**2) * z


def srht_second_moment(x: np.ndarray, y: np.ndarray) -> float:
    """d sum_k E_D[(H D x)_k^2 (H D y)_k^2] over random signs D (exact, by pairing).

    (HDx)_k (HDy)_k = sum_{i,j} H_ki H_kj D_i D_j x_i y_j; the square has
    E[D_i D_j D_r D_s] = 1 when the indices pair up, so per k it is
    U_k V_k + 2 W_k^2 - 2 T_k with U = H^2 x^2, V = H^2 y^2, W = H^2 (x y), T = H^4 (x y)^2.
    """
    h2 = hartley_matrix(x.shape[-1]) ** 2
    u, v, w = h2 @ x**2, h2 @ y**2, h2 @ (x * y)
    t = (h2**2) @ (x * y) ** 2
    return float(x.shape[-1] * np.sum(u * v + 2.0 * w**2 - 2.0 * t))


def srht_variance(x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Var <S x, S y> for SRHT: the m sampled rows are i.i.d. given D with mean <x, y> for every
    D, so Var = (d sum_k E[(HDx)_k^2 (HDy)_k^2] - <x, y>^2) / m."""
    return (srht_second_moment(x, y) - float(x @ y) ** 2) / m


def gaussian_variance(x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Var <G x, G y> / m = (|x|^2 |y|^2 + <x, y>^2) / m (Isserlis, m i.i.d. rows)."""
    return float((x @ x) * (y @ y) + (x @ y) ** 2) / m


def countsketch_variance(x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Var <C x, C y> = (|x|^2 |y|^2 + <x, y>^2 - 2 sum x_j^2 y_j^2) / m: the cross terms
    s_i s_j [h_i = h_j] x_i y_j, i != j, are uncorrelated except for the swapped pair."""
    return float((x @ x) * (y @ y) + (x @ y) ** 2 - 2.0 * np.sum(x**2 * y**2)) / m


def tensor_srht_variance(x, x2, y, y2, m: int) -> float:
    """Var <T(x, y), T(x2, y2)>: i.i.d. terms given D1, D2 with mean <x, x2><y, y2>, and the two
    factors' second moments are independent SRHT ones: (Q(x, x2) Q(y, y2) - exact^2) / m."""
    exact = float(x @ x2) * float(y @ y2)
    return (srht_second_moment(x, x2) * srht_second_moment(y, y2) - exact**2) / m


def assert_unbiased(estimates: np.ndarray, exact: float, label: str = "") -> None:
    """|mean - exact| <= Z std / sqrt(K) over the K estimates (axis 0)."""
    estimates = np.asarray(estimates, dtype=np.float64)
    k = estimates.shape[0]
    mean, std = estimates.mean(), estimates.std(ddof=1)
    assert std > 0, f"{label}: the estimates do not vary across keys"
    assert abs(mean - exact) <= Z * std / math.sqrt(k), (
        f"{label}: mean {mean:.6g} vs exact {exact:.6g}, "
        f"{abs(mean - exact) / (std / math.sqrt(k)):.2f} standard errors (K = {k})"
    )


def variance_and_error(estimates: np.ndarray) -> tuple[float, float]:
    """Empirical variance s^2 and its standard error sqrt((mu4 - s^4) / K)."""
    estimates = np.asarray(estimates, dtype=np.float64)
    centred = estimates - estimates.mean()
    s2 = float(np.mean(centred**2))
    mu4 = float(np.mean(centred**4))
    return s2, math.sqrt(max(mu4 - s2**2, 0.0) / estimates.shape[0])


def assert_variance(estimates: np.ndarray, expected: float, label: str = "") -> None:
    """|s^2 - expected| <= Z standard errors of s^2."""
    s2, err = variance_and_error(estimates)
    assert abs(s2 - expected) <= Z * err, (
        f"{label}: variance {s2:.6g} vs expected {expected:.6g}, "
        f"{abs(s2 - expected) / err:.2f} standard errors"
    )


def assert_variance_times_m_constant(
    estimates_by_m: dict[int, np.ndarray], label: str = ""
) -> None:
    """m s_m^2 agrees across m within Z combined standard errors (Var ~ 1 / m, i.e. the error
    shrinks like 1 / sqrt(m)); a 1 / sqrt(m) variance would move m s^2 by 2x per 4x in m."""
    scaled = {m: tuple(m * v for v in variance_and_error(e)) for m, e in estimates_by_m.items()}
    ms = sorted(scaled)
    for a, b in itertools.pairwise(ms):
        (va, ea), (vb, eb) = scaled[a], scaled[b]
        assert abs(va - vb) <= Z * math.hypot(ea, eb), (
            f"{label}: m Var = {va:.4g} +- {ea:.2g} at m = {a} vs {vb:.4g} +- {eb:.2g} at m = {b}"
        )

"""Network Gram matrices of 500 points are finite and positive semi-definite to rounding.

500 random points in R^8 with norms spread over [0.3, 3], plus 2 x and -x of ten of them
(pairs on the edge rho = +-1 with equal and with different variances), through a depth-2
network (Dense, Activation, Dense, Activation, Dense readout) in float64 and float32. The NNGP
and NTK of a network are covariances, so every eigenvalue is >= 0; computed ones may dip below
by the entries' error times n (Weyl: |lambda_min(K + E)| - lambda_min(K) <= ||E||_2 <= n max|E|).
Entry error bounds: float64, 1e-12 of the kernel's scale (the closed forms are verified to
1e-10 against quadrature but rounding in the recursion is what moves eigenvalues of exact
covariances: a few hundred ulps); float32, the kinked-dual bound sqrt(2 d eps) of
test_edges (rounding of an inner product of length d moves rho by d eps, an angle
sqrt(2 (1 - rho)) enters).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dualcalc import nn

D = 8
N = 500
ACTIVATIONS = ["relu", "gelu", "tanh", "silu", "abs", "sin"]
TOLERANCE = {np.float64: 1e-12, np.float32: float(np.sqrt(2 * D * np.finfo(np.float32).eps))}


@functools.cache
def points() -> np.ndarray:
    rng = np.random.default_rng(500)
    x = rng.standard_normal((N - 20, D))
    x *= rng.uniform(0.3, 3.0, (N - 20, 1)) / np.linalg.norm(x, axis=1, keepdims=True)
    return np.concatenate([x, 2.0 * x[:10], -x[:10]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_network_gram_matrices_are_psd(activation, dtype):
    _, _, kernel_fn = nn.serial(
        nn.Dense(64, W_std=1.5, b_std=0.1),
        nn.Activation(activation),
        nn.Dense(64, W_std=1.5, b_std=0.1),
        nn.Activation(activation),
        nn.Dense(1, W_std=1.5, b_std=0.1),
    )
    x = points().astype(dtype)
    for get in ("nngp", "ntk"):
        k = np.asarray(kernel_fn(x, None, get), np.float64)
        assert k.dtype == np.float64 and k.shape == (N, N)
        assert np.all(np.isfinite(k)), f"{activation} {get}: non-finite entries"
        np.testing.assert_allclose(k, k.T, rtol=0, atol=TOLERANCE[dtype] * np.abs(k).max())
        eigs = np.linalg.eigvalsh(0.5 * (k + k.T))
        floor = -N * TOLERANCE[dtype] * np.abs(k).max()
        assert eigs.min() >= floor, f"{activation} {get} {dtype.__name__}: {eigs.min():.2e}"

"""Fully connected NNGP / NTK of dualcalc.nn against an independent quadrature recursion."""

from __future__ import annotations

import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual, pair_expectation, reference_fc

from dualcalc import nn

RNG = np.random.default_rng(20261123)
POINTS = RNG.normal(size=(4, 5)) * np.array([[0.5], [1.0], [2.0], [1.3]])


def fc_network(dual, depth, w_std, b_std):
    layers = []
    for _ in range(depth):
        layers += [nn.Dense(64, W_std=w_std, b_std=b_std), nn.Activation(dual)]
    return nn.serial(*layers, nn.Dense(1, W_std=w_std, b_std=b_std))


@pytest.mark.parametrize(("q1", "q2", "c"), [(1.0, 1.0, 0.5), (0.3, 2.0, -0.7), (5.0, 0.1, 0.69)])
def test_oracle_matches_gaussian_closed_form(q1, q2, c):
    exact = np.exp((q1 + q2 + 2.0 * c) / 2.0)  # E[exp(u) exp(v)], MATH.md table
    assert pair_expectation(np.exp, np.exp, q1, q2, c) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("dual", [ReluDual, ErfDual], ids=["relu", "erf"])
@pytest.mark.parametrize(("w_std", "b_std"), [(1.0, 0.0), (1.4, 0.3)])
def test_depth2_fully_connected_matches_quadrature(dual, w_std, b_std):
    ref_nngp, ref_ntk = reference_fc(dual, POINTS, 2, w_std, b_std)
    kernel_fn = fc_network(dual, 2, w_std, b_std).kernel_fn
    nngp, ntk = kernel_fn(POINTS, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-11, atol=1e-13)
    cross = kernel_fn(POINTS[:1], POINTS[1:], get="ntk")
    np.testing.assert_allclose(cross, ref_ntk[:1, 1:], rtol=1e-11, atol=1e-13)


def test_get_order_and_single_names():
    kernel_fn = fc_network(ReluDual, 1, 1.0, 0.1).kernel_fn
    nngp, ntk = kernel_fn(POINTS, get=("nngp", "ntk"))
    ntk2, nngp2 = kernel_fn(POINTS, get=("ntk", "nngp"))
    np.testing.assert_array_equal(nngp, nngp2)
    np.testing.assert_array_equal(ntk, ntk2)
    np.testing.assert_array_equal(kernel_fn(POINTS, get="nngp"), nngp)
    np.testing.assert_array_equal(kernel_fn(POINTS), ntk)


def test_dense_only_network_is_the_linear_kernel():
    w, b = 1.7, 0.4
    kernel_fn = nn.serial(nn.Dense(8, W_std=w, b_std=b), nn.Dense(3, W_std=w, b_std=b)).kernel_fn
    nngp, ntk = kernel_fn(POINTS, get=("nngp", "ntk"))
    k1 = w**2 * POINTS @ POINTS.T / POINTS.shape[1] + b**2
    np.testing.assert_allclose(nngp, w**2 * k1 + b**2, rtol=1e-14)
    np.testing.assert_allclose(ntk, (w**2 * k1 + b**2) + w**2 * k1, rtol=1e-14)


def test_zero_norm_rows_give_finite_limit():
    x = np.vstack([np.zeros(5), POINTS[:2]])
    nngp, ntk = fc_network(ReluDual, 2, 1.2, 0.0).kernel_fn(x, get=("nngp", "ntk"))
    assert np.all(np.isfinite(nngp)) and np.all(np.isfinite(ntk))
    # relu(0) = 0 and b = 0: a zero input has zero features at every layer
    np.testing.assert_allclose(nngp[0], 0.0, atol=1e-15)  # q is floored at eps^2
    np.testing.assert_allclose(ntk[0], 0.0, atol=1e-15)
    x_erf = np.vstack([np.zeros(5), POINTS[:2]])
    ref_nngp, ref_ntk = reference_fc(ErfDual, x_erf, 2, 1.0, 0.5)
    nngp, ntk = fc_network(ErfDual, 2, 1.0, 0.5).kernel_fn(x_erf, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("dual", [ReluDual, ErfDual], ids=["relu", "erf"])
def test_activation_before_any_weight_layer(dual):
    """s applied to the inputs, then Dense: the NTK so far is zero, so Theta = K at the end."""
    w, b, x = 1.3, 0.2, POINTS
    kernel_fn = nn.serial(nn.Activation(dual), nn.Dense(4, W_std=w, b_std=b)).kernel_fn
    nngp, ntk = kernel_fn(x, get=("nngp", "ntk"))
    q = np.sum(x * x, axis=1) / x.shape[1]
    c = x @ x.T / x.shape[1]
    pairs = [[(q[i], q[j], c[i, j], dual.KINKS, dual.KINKS) for j in range(4)] for i in range(4)]
    act = np.array([[pair_expectation(dual.numpy, dual.numpy, *a) for a in row] for row in pairs])
    np.testing.assert_allclose(nngp, w**2 * act + b**2, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ntk, nngp, rtol=0, atol=0)

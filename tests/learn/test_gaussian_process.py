"""NeuralKernel against the network kernel, finite differences and maximum likelihood theory.

Oracles: values against dualcalc.nn's kernel_fn of the same network (built independently of
the traced recursion); gradients against central differences in theta with a step-size-aware
tolerance; hyperparameter recovery from GP draws judged by the Fisher information.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import WhiteKernel

from dualcalc import nn
from dualcalc.sklearn import NeuralKernel

RNG = np.random.default_rng(20261203)
X = RNG.normal(size=(12, 3)) * RNG.uniform(0.3, 2.0, size=(12, 1))
EPS = np.finfo(np.float64).eps


def network_kernel(activation, depth, kernel, w_std, b_std, x1, x2=None):
    layers = []
    for _ in range(depth):
        layers += [nn.Dense(16, W_std=w_std, b_std=b_std), nn.Activation(activation)]
    return nn.serial(*layers, nn.Dense(2, W_std=w_std, b_std=b_std)).kernel_fn(x1, x2, get=kernel)


CASES = [("relu", 2, "nngp"), ("gelu", 2, "ntk"), ("tanh", 1, "nngp")]


@pytest.mark.parametrize(("activation", "depth", "kernel"), CASES)
def test_values_and_diagonal_equal_the_network_kernel(activation, depth, kernel):
    k = NeuralKernel(activation, depth, get=kernel, W_std=1.3, b_std=0.4)
    expected = network_kernel(activation, depth, kernel, 1.3, 0.4, X)
    np.testing.assert_allclose(k(X), expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(k.diag(X), np.diag(expected), rtol=1e-13)
    if activation == "relu":  # a rectangular K(X1, X2), once (each shape compiles anew)
        cross = network_kernel(activation, depth, kernel, 1.3, 0.4, X[:5], X[5:])
        np.testing.assert_allclose(k(X[:5], X[5:]), cross, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("activation", "depth", "kernel"), CASES)
def test_gradient_equals_central_differences(activation, depth, kernel):
    """Central differences D(h) have truncation error ~ h^2 K''' / 6: D(h) - D(2h) ~ 3 of
    those, an estimate of the error at h; rounding adds ~ eps |K| / h. Tolerance: twice both."""
    k = NeuralKernel(activation, depth, get=kernel, W_std=1.2, b_std=0.3)
    value, gradient = k(X, eval_gradient=True)
    assert gradient.shape == (12, 12, 2)
    np.testing.assert_allclose(value, k(X), rtol=1e-14, atol=1e-15)

    def central(h):
        columns = []
        for i in range(2):
            step = np.zeros(2)
            step[i] = h
            plus, minus = k.clone_with_theta(k.theta + step), k.clone_with_theta(k.theta - step)
            columns.append((plus(X) - minus(X)) / (2 * h))
        return np.stack(columns, axis=-1)

    h = 1e-4
    fine, coarse = central(h), central(2 * h)
    tolerance = 2 * (np.abs(fine - coarse) + 10 * EPS * np.abs(value).max() / h)
    assert np.all(np.abs(gradient - fine) <= tolerance)
    # the tolerance is informative: far below the gradient itself
    assert tolerance.max() < 1e-5 * np.abs(gradient).max()


def test_sklearn_kernel_protocol():
    k = NeuralKernel("gelu", 2, get="ntk", W_std=1.5, b_std=0.2)
    assert [h.name for h in k.hyperparameters] == ["W_std", "b_std"]
    np.testing.assert_allclose(k.theta, np.log([1.5, 0.2]))
    np.testing.assert_allclose(k.bounds, np.log([[1e-2, 1e2], [1e-3, 1e2]]))
    moved = k.clone_with_theta(np.log([2.0, 0.5]))
    assert (moved.W_std, moved.b_std) == pytest.approx((2.0, 0.5))
    assert clone(k) == k and pickle.loads(pickle.dumps(k)) == k
    assert not k.is_stationary() and k.requires_vector_input
    total = k + WhiteKernel(0.1)
    assert total(X, eval_gradient=True)[1].shape == (12, 12, 3)
    with pytest.raises(ValueError, match="only be evaluated when Y is None"):
        k(X, X, eval_gradient=True)
    # b_std = 0 (no biases) has no logarithm: held fixed, one free hyperparameter left
    no_bias = NeuralKernel("relu", b_std=0.0)
    assert no_bias.n_dims == 1 and no_bias(X, eval_gradient=True)[1].shape == (12, 12, 1)
    fixed = NeuralKernel("relu", W_std_bounds="fixed", b_std_bounds="fixed")
    assert fixed(X, eval_gradient=True)[1].shape == (12, 12, 0)
    with pytest.raises(ValueError, match="get must be 'nngp' or 'ntk'"):
        NeuralKernel(get="rbf")(X)


def test_marginal_likelihood_recovers_the_hyperparameters_of_prior_draws():
    """Draws y ~ N(0, K(W*, b*) + s^2 I) from the NNGP prior; the maximum-likelihood theta must
    lie within 4 standard errors of the truth, the errors from the Fisher information
    I_ij = tr(C^-1 dC_i C^-1 dC_j) / 2 per draw (C = K + s^2 I), averaged over 4 independent
    draws (the sum of their log likelihoods is maximised), so SE = sqrt(diag(I^-1) / 4)."""
    truth = np.log([1.6, 0.8])
    noise = 1e-2
    kernel = NeuralKernel("erf", 2, get="nngp", W_std=1.6, b_std=0.8)
    x = RNG.normal(size=(60, 2)) * RNG.uniform(0.2, 3.0, size=(60, 1))
    cov, grad = kernel(x, eval_gradient=True)
    cov = cov + noise * np.eye(60)
    solved = [np.linalg.solve(cov, grad[..., i]) for i in range(2)]
    fisher = np.array([[0.5 * np.trace(a @ b) for b in solved] for a in solved])
    draws = np.random.default_rng(5).multivariate_normal(np.zeros(60), cov, size=4).T
    se = np.sqrt(np.diag(np.linalg.inv(fisher)) / draws.shape[1])

    gp = GaussianProcessRegressor(
        NeuralKernel("erf", 2, get="nngp", W_std=1.0, b_std=0.1), alpha=noise, optimizer=None
    ).fit(x, draws)

    def negative(theta):
        value, gradient = gp.log_marginal_likelihood(theta, eval_gradient=True)
        return -value, -gradient

    start = gp.kernel.theta
    found = minimize(negative, start, jac=True, method="L-BFGS-B", bounds=gp.kernel.bounds)
    assert found.success
    assert np.all(np.abs(found.x - truth) < 4 * se), (found.x, truth, se)
    assert -found.fun > gp.log_marginal_likelihood(start) + 10.0


def test_regressor_fits_tunes_and_predicts_with_uncertainty():
    y = np.sin(X[:, 0]) + 0.05 * RNG.normal(size=len(X))
    noise = WhiteKernel(0.1, noise_level_bounds=(1e-8, 1.0))
    gp = GaussianProcessRegressor(NeuralKernel("relu", 2, get="nngp") + noise, random_state=0)
    gp.fit(X, y)
    initial = gp.log_marginal_likelihood(gp.kernel.theta)
    assert gp.log_marginal_likelihood_value_ > initial
    assert gp.kernel_.k1.W_std != 1.0 and gp.kernel_.k1.b_std != 0.1
    mean, std = gp.predict(X[:4] + 0.1, return_std=True)
    assert mean.shape == (4,) and np.all(std > 0)
    # the posterior variance is the prior variance minus an explained part (diag oracle)
    assert np.all(std**2 <= gp.kernel_.diag(X[:4] + 0.1) + 1e-12)

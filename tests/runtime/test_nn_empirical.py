"""Finite-width Monte Carlo checks: init_fn / apply_fn and kernel_fn describe the same network.

With one hidden layer the empirical NTK J J^T of a random network and the product f f^T of
its outputs are *unbiased* estimates of the exact NTK and NNGP at any width (the readout is
Gaussian given the hidden layer and the first layer's pre-activations are exactly Gaussian).
So the average over R independent initialisations must lie within a few standard errors of
``kernel_fn``: a wrong constant (W_std^2, fan-in, window size, padding count) fails by far.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual

from dualcalc import nn

SIGMAS = 5.0


def empirical(layer, x, seed, repeats):
    """Per-initialisation empirical NTK (n, n) and output covariance f f^T / out_dim.

    Parameters are drawn N(0, 1), as ``init_fn`` does, in the structure ``init_fn`` returns
    (read with ``eval_shape``; numpy draws keep the test free of per-shape compilation).
    """
    init_fn, apply_fn, _ = layer
    _, shapes = jax.eval_shape(lambda key: init_fn(key, x.shape), jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(lambda s: rng.normal(size=(repeats,) + s.shape), shapes)

    def one(p):
        jac = jax.jacrev(lambda q: apply_fn(q, x)[:, 0])(p)
        flat = [j.reshape(x.shape[0], -1) for j in jax.tree_util.tree_leaves(jac)]
        jac = jnp.concatenate(flat, axis=1)
        out = apply_fn(p, x)
        return jac @ jac.T, out @ out.T / out.shape[1]

    ntk, nngp = jax.jit(jax.vmap(one))(params)
    return np.asarray(nngp), np.asarray(ntk)


def test_init_fn_draws_standard_normal_parameters_of_the_right_shapes():
    init_fn, apply_fn, _ = nn.serial(nn.Conv(64, (3, 2)), nn.Flatten(), nn.Dense(32))
    out_shape, params = jax.jit(init_fn, static_argnums=1)(jax.random.PRNGKey(0), (5, 6, 4, 3))
    assert out_shape == (5, 32)
    (w1, b1), (), (w2, b2) = params
    assert w1.shape == (3, 2, 3, 64) and b1.shape == (64,)
    assert w2.shape == (6 * 4 * 64, 32) and b2.shape == (32,)
    draws = np.concatenate([np.ravel(w1), np.ravel(w2)])
    assert abs(draws.mean()) < 5 / np.sqrt(draws.size)
    assert abs(draws.std() - 1.0) < 5 / np.sqrt(2 * draws.size)
    assert apply_fn(params, jnp.ones((5, 6, 4, 3))).shape == out_shape


def assert_within_standard_errors(samples, exact):
    mean = samples.mean(axis=0)
    error = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    z = np.abs(mean - exact) / error
    assert np.all(z < SIGMAS), f"max z-score {z.max():.2f}\nmean\n{mean}\nexact\n{exact}"
    # the bound is meaningful: the standard error is small against the kernel itself
    assert np.max(error) < 0.05 * np.max(np.abs(exact))


@pytest.mark.parametrize("dual", [ReluDual, ErfDual], ids=["relu", "erf"])
def test_fully_connected_one_hidden_layer(dual):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 6)))
    net = nn.serial(nn.Dense(512, 1.3, 0.4), nn.Activation(dual), nn.Dense(64, 1.3, 0.4))
    nngp_samples, ntk_samples = empirical(net, x, 1, 64)
    exact_nngp, exact_ntk = net.kernel_fn(np.asarray(x), get=("nngp", "ntk"))
    assert_within_standard_errors(ntk_samples, exact_ntk)
    assert_within_standard_errors(nngp_samples, exact_nngp)


def test_conv_pool_flatten_one_hidden_layer():
    x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 5, 4, 2)))
    net = nn.serial(
        nn.Conv(48, (3, 2), strides=(1, 2), padding="SAME", W_std=1.4, b_std=0.3),
        nn.Activation(ReluDual),
        nn.AvgPool((2, 1), strides=(2, 1), padding="SAME"),
        nn.Flatten(),
        nn.Dense(64, W_std=1.2, b_std=0.2),
    )
    nngp_samples, ntk_samples = empirical(net, x, 3, 64)
    exact_nngp, exact_ntk = net.kernel_fn(np.asarray(x), get=("nngp", "ntk"))
    assert_within_standard_errors(ntk_samples, exact_ntk)
    assert_within_standard_errors(nngp_samples, exact_nngp)


def test_conv_global_pool_one_hidden_layer():
    x = jnp.asarray(np.random.default_rng(4).normal(size=(3, 4, 4, 3)))
    net = nn.serial(
        nn.Conv(48, (3, 3), padding="VALID", W_std=1.1, b_std=0.5),
        nn.Activation(ErfDual),
        nn.GlobalAvgPool(),
        nn.Dense(64, W_std=1.5, b_std=0.1),
    )
    nngp_samples, ntk_samples = empirical(net, x, 5, 64)
    exact_nngp, exact_ntk = net.kernel_fn(np.asarray(x), get=("nngp", "ntk"))
    assert_within_standard_errors(ntk_samples, exact_ntk)
    assert_within_standard_errors(nngp_samples, exact_nngp)


def test_two_hidden_layers_close_to_the_limit():
    """Two hidden layers: finite width biases the mean by O(1/width); allow 5 SE + 3% at 512."""
    x = jnp.asarray(np.random.default_rng(6).normal(size=(3, 5)))
    net = nn.serial(
        nn.Dense(512, W_std=1.4, b_std=0.1),
        nn.Activation(ReluDual),
        nn.Dense(512, W_std=1.4, b_std=0.1),
        nn.Activation(ReluDual),
        nn.Dense(1, W_std=1.4, b_std=0.1),
    )
    _, samples = empirical(net, x, 7, 8)
    exact = net.kernel_fn(np.asarray(x), get="ntk")
    error = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - exact) < SIGMAS * error + 0.03 * np.abs(exact))
    assert np.max(error / np.abs(exact)) < 0.1

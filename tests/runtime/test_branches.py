"""Branches (FanOut, parallel, FanInSum, FanInConcat, Identity), LayerNorm and the Wide ResNet.

Oracles:
- Monte Carlo of the finite network built by the same ``apply_fn``: with one hidden
  nonlinearity (a run of activations counts as one) after an exact Gaussian first layer, the
  empirical NTK J J^T and the output covariance f f^T are *unbiased* for the exact NTK and
  NNGP at any width, through a residual sum or a concatenation too (every cross term carries
  one zero-mean weight of its own). So the mean over R independent draws (numpy, fixed seeds)
  must lie within 5 standard errors of ``kernel_fn`` per entry.
- LayerNorm: the closed form by hand, K / sqrt(q q') of the Dense / 1x1-conv kernel.
- Features: random features are unbiased for the exact kernel of a branched network (the
  linear layers, sums, concatenations and LayerNorm act exactly), so the mean Gram matrix over
  48 keys must lie within 5 standard errors of ``kernel_fn``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_oracles import ReluDual

from dualcalc import features, nn
from dualcalc.errors import DualcalcError
from dualcalc.runtime import specs

SIGMAS = 5.0


def empirical(layer, x, seed, repeats):
    """Per-draw empirical NTK J J^T of output 0 and output covariance f f^T / out_dim."""
    init_fn, apply_fn, _ = layer
    _, shapes = jax.eval_shape(lambda key: init_fn(key, x.shape), jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(lambda s: rng.normal(size=(repeats,) + s.shape), shapes)

    def one(p):
        jac = jax.jacrev(lambda q: apply_fn(q, x)[:, 0])(p)
        jac = jnp.concatenate(
            [j.reshape(x.shape[0], -1) for j in jax.tree_util.tree_leaves(jac)], axis=1
        )
        out = apply_fn(p, x)
        return jac @ jac.T, out @ out.T / out.shape[1]

    ntk, nngp = jax.jit(jax.vmap(one))(params)
    return np.asarray(nngp), np.asarray(ntk)


def assert_within_standard_errors(samples, exact, label):
    mean = samples.mean(axis=0)
    error = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    worst = np.max(np.abs(mean - exact) / (SIGMAS * error + 1e-12))
    assert worst <= 1.0, f"{label}: off by {worst:.2f} x (5 standard errors)"


def residual(activations, width=32):
    """Dense, then a residual block whose main branch is the run of activations and a Dense."""
    main = nn.serial(*[nn.Activation(a) for a in activations], nn.Dense(width, 1.1, 0.2))
    return nn.serial(
        nn.Dense(width, 1.2, 0.1), nn.FanOut(2), nn.parallel(main, nn.Identity()),
        nn.FanInSum(), nn.Dense(1, 0.9, 0.1),
    )  # fmt: skip


def concatenated(activation):
    """Dense, then two branches of 24 and 8 channels concatenated, then a readout."""
    left = nn.serial(nn.Activation(activation), nn.Dense(24, 1.3, 0.0))
    right = nn.serial(nn.Activation(activation), nn.Dense(8, 0.7, 0.3))
    return nn.serial(
        nn.Dense(32, 1.1, 0.1), nn.FanOut(2), nn.parallel(left, right), nn.FanInConcat(),
        nn.Dense(1, 1.0, 0.1),
    )  # fmt: skip


NETWORKS = {
    "relu residual": lambda: residual([ReluDual]),
    "tanh residual": lambda: residual(["tanh"]),
    "user expression residual": lambda: residual(["x*exp(-x**2/2) + 0.1*x"]),
    "relu then sin in the block": lambda: residual(["relu", "sin"]),
    "tanh concatenation": lambda: concatenated("tanh"),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_monte_carlo_of_the_finite_network_matches_the_kernel(name):
    x = np.random.default_rng(7).standard_normal((4, 3)) * np.array([[0.5], [1.0], [1.5], [2.0]])
    net = NETWORKS[name]()
    nngp, ntk = net.kernel_fn(x, get=("nngp", "ntk"))
    mc_nngp, mc_ntk = empirical(net, x, seed=11, repeats=600)
    assert_within_standard_errors(mc_nngp, nngp, f"{name} NNGP")
    assert_within_standard_errors(mc_ntk, ntk, f"{name} NTK")


def test_residual_conv_block_monte_carlo():
    """Conv, a residual block (relu, conv | identity), global pool, readout, on 4x4 images."""
    main = nn.serial(nn.Activation(ReluDual), nn.Conv(8, (3, 3), W_std=1.3, b_std=0.1))
    net = nn.serial(
        nn.Conv(8, (3, 3), W_std=1.2, b_std=0.1), nn.FanOut(2),
        nn.parallel(main, nn.Identity()), nn.FanInSum(), nn.GlobalAvgPool(), nn.Dense(1),
    )  # fmt: skip
    x = np.random.default_rng(3).standard_normal((3, 4, 4, 1))
    nngp, ntk = net.kernel_fn(x, get=("nngp", "ntk"))
    mc_nngp, mc_ntk = empirical(net, x, seed=5, repeats=400)
    assert_within_standard_errors(mc_nngp, nngp, "conv block NNGP")
    assert_within_standard_errors(mc_ntk, ntk, "conv block NTK")


def test_layer_norm_over_channels_is_the_normalised_dense_kernel():
    x = np.random.default_rng(2).standard_normal((5, 4)) * np.arange(1, 6)[:, None]
    x[2] = 0.0  # a zero-norm input: the bias alone
    w, b = 1.3, 0.2
    nngp, ntk = nn.serial(nn.Dense(7, w, b), nn.LayerNorm()).kernel_fn(x, get=("nngp", "ntk"))
    dense = w**2 * x @ x.T / x.shape[1] + b**2
    q = np.diag(dense)
    expected = dense / np.sqrt(np.outer(q, q) + 0.0)
    np.testing.assert_allclose(nngp, expected, rtol=1e-9)
    np.testing.assert_allclose(ntk, expected, rtol=1e-9)  # Theta = K after one Dense


def test_layer_norm_over_rows_and_channels_uses_the_mean_pixel_variance():
    """1x1 conv on 3x2 images, then LayerNorm(axis=(1, -1)): each column of pixels is divided
    by the mean variance of its rows (columns normalised separately)."""
    x = np.random.default_rng(4).standard_normal((2, 3, 2, 3))
    w, b = 0.8, 0.3
    net = nn.serial(nn.Conv(5, (1, 1), W_std=w, b_std=b), nn.LayerNorm(axis=(1, -1)))
    nngp = net.kernel_fn(x, get="nngp")
    # K[i, j, h, h', c, c'] = w^2 <x_i[h, c], x_j[h', c']> / channels + b^2
    k = w**2 * np.einsum("ahcz,bgdz->abhgcd", x, x) / x.shape[-1] + b**2
    var = np.einsum("aahhcc->ahc", k)  # (n, h, c): each pixel's variance
    m = var.mean(axis=1)  # (n, c): mean over the rows
    expected = k / np.sqrt(m[:, None, None, None, :, None] * m[None, :, None, None, None, :])
    np.testing.assert_allclose(nngp, expected, rtol=1e-9)
    _, apply_fn, _ = net
    _, params = net.init_fn(jax.random.PRNGKey(0), x.shape)
    y = np.asarray(apply_fn(params, x))
    np.testing.assert_allclose(np.mean(y**2, axis=(1, 3)), 1.0, rtol=1e-9)


def branched_net():
    main = nn.serial(nn.Activation("relu"), nn.Dense(8, 1.1, 0.2))
    return nn.serial(
        nn.Dense(8, 1.2, 0.1), nn.FanOut(2), nn.parallel(main, nn.Identity()), nn.FanInSum(),
        nn.LayerNorm(), nn.FanOut(2), nn.parallel(nn.Dense(3, 1.0, 0.1), nn.Dense(5)),
        nn.FanInConcat(),
    )  # fmt: skip


def test_random_features_of_a_branched_network_are_unbiased():
    x = np.random.default_rng(6).standard_normal((5, 4)) * np.array([[0.4], [1], [1.5], [2], [3]])
    net = branched_net()
    fmap = features.sketch(net, m=64, key=jax.random.PRNGKey(0), method="random")
    exact = dict(zip(("nngp", "ntk"), net.kernel_fn(x, get=("nngp", "ntk")), strict=True))
    apply = jax.jit(lambda p, a: fmap.apply(p, a))
    grams = {"nngp": [], "ntk": []}
    for i in range(48):
        out = apply(fmap.draw(jax.random.PRNGKey(100 + i), x.shape[1:], x.dtype), x)
        for name in grams:
            f = np.asarray(getattr(out, name))
            grams[name].append(f @ f.T)
    for name, samples in grams.items():
        assert_within_standard_errors(np.stack(samples), exact[name], f"features {name}")


def test_wide_resnet_has_neural_tangents_block_structure():
    net = nn.wide_resnet("relu", 10, width_factor=2, out_dim=3)
    stem, *blocks, pool, readout = net.kernel_fn.spec.children
    assert stem.out_chan == 16 and isinstance(pool, specs.GlobalAvgPoolSpec)
    assert readout.out_dim == 3 and len(blocks) == 3
    for block, (channels, stride) in zip(blocks, [(32, 1), (64, 2), (128, 2)], strict=True):
        fan_out, branches, fan_in = block.children
        assert isinstance(fan_out, specs.FanOutSpec) and isinstance(fan_in, specs.FanInSumSpec)
        main, shortcut = branches.children
        convs = [c for c in main.children if isinstance(c, specs.ConvSpec)]
        assert [c.strides for c in convs] == [(stride, stride), (1, 1)]
        assert isinstance(shortcut, specs.ConvSpec) and shortcut.out_chan == channels
    deeper = nn.wide_resnet("relu", 16).kernel_fn.spec.children
    assert isinstance(deeper[2].children[1].children[1], specs.IdentitySpec)
    images = np.random.default_rng(0).standard_normal((2, 8, 8, 3))
    out_shape, params = net.init_fn(jax.random.PRNGKey(0), images.shape)
    assert net.apply_fn(params, images).shape == out_shape == (2, 3)
    ntk = net.kernel_fn(images, get="ntk")
    assert np.all(np.isfinite(ntk)) and np.all(np.linalg.eigvalsh(ntk) > 0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.GlobalSelfAttention(), "GlobalSelfAttention is not available"),
        (lambda: nn.Aggregate(), "Aggregate"),
        (lambda: nn.FanInConcat(axis=1), "channel axis"),
        (lambda: nn.LayerNorm(axis="x"), "LayerNorm axis"),
        (lambda: nn.FanOut(0), "num must be a positive integer"),
        (lambda: nn.wide_resnet("relu", 12), "6 n \\+ 4"),
        (lambda: nn.wide_resnet("relu", 10, width_factor=0), "width_factor"),
        (lambda: nn.parallel(), "at least one layer"),
    ],
)
def test_refused_constructions_are_clear_errors(build, message):
    with pytest.raises(DualcalcError, match=message):
        build()


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (
            lambda: nn.serial(
                nn.FanOut(2), nn.parallel(nn.Identity(), nn.Identity()), nn.FanInSum()
            ),
            "correlated",
        ),  # fmt: skip
        (lambda: nn.serial(nn.Dense(3), nn.FanInSum()), "needs branches"),
        (lambda: nn.serial(nn.FanOut(3), nn.parallel(nn.Dense(2), nn.Dense(2))), "3 branches"),
        (lambda: nn.serial(nn.Dense(3), nn.LayerNorm(axis=0)), "batch axis"),
    ],
)
def test_bad_networks_are_clear_errors_in_kernel_fn(net, message):
    with pytest.raises(DualcalcError, match=message):
        net().kernel_fn(np.ones((2, 3)))

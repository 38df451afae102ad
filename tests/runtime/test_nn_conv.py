"""CNTK of dualcalc.nn (conv, pooling, Myrtle) against a direct, slow, loop-by-pixel recursion
(``support/conv_reference.py``, which shares nothing with the runtime but the published
ReLU / erf dual formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conv_reference import IMAGES, Reference, erf_dual, reference_myrtle5, relu_dual
from nn_oracles import ErfDual, ReluDual

from dualcalc import nn


def test_myrtle5_relu_matches_slow_recursion():
    ref_k, ref_t = reference_myrtle5(IMAGES, relu_dual, math.sqrt(2.0), 0.0)
    kernel_fn = nn.myrtle(5, ReluDual).kernel_fn
    nngp, ntk = kernel_fn(IMAGES, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_k, rtol=1e-12)
    np.testing.assert_allclose(ntk, ref_t, rtol=1e-12)
    cross = kernel_fn(IMAGES[:1], IMAGES[1:], get="ntk")
    np.testing.assert_allclose(cross, ref_t[:1, 1:], rtol=1e-12)
    blocked = kernel_fn(IMAGES, get="ntk", batch_size=2)
    np.testing.assert_allclose(blocked, ref_t, rtol=1e-12)


def test_myrtle5_erf_with_bias_matches_slow_recursion():
    ref_k, ref_t = reference_myrtle5(IMAGES, erf_dual, 1.3, 0.2)
    nngp, ntk = nn.myrtle(5, ErfDual, W_std=1.3, b_std=0.2).kernel_fn(IMAGES, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_k, rtol=1e-12)
    np.testing.assert_allclose(ntk, ref_t, rtol=1e-12)


def test_strides_valid_same_padding_pooling_and_flatten():
    x = np.random.default_rng(3).normal(size=(3, 7, 6, 2))
    net = nn.serial(
        nn.Conv(5, (3, 2), strides=(2, 1), padding="VALID", W_std=1.2, b_std=0.1),
        nn.Activation(ErfDual),
        nn.Conv(4, (2, 2), padding="SAME", W_std=0.9, b_std=0.3),
        nn.AvgPool((2, 2), strides=(1, 1), padding="SAME"),
        nn.Activation(ReluDual),
        nn.Flatten(),
        nn.Dense(1, W_std=1.1, b_std=0.2),
    )
    ref = Reference(x)
    ref.conv(1.2, 0.1, (3, 2), (2, 1), "VALID")
    ref.act(erf_dual)
    ref.conv(0.9, 0.3, (2, 2), (1, 1), "SAME")
    ref.pool((2, 2), (1, 1), "SAME")
    ref.act(relu_dual)
    ref.flatten()
    ref.dense(1.1, 0.2)
    nngp, ntk = net.kernel_fn(x, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref.k, rtol=1e-12)
    np.testing.assert_allclose(ntk, ref.t, rtol=1e-12)


def test_spatial_output_kernel_and_blocked_mirror():
    """Without a final pooling the kernel keeps its pixel pairs; blocks mirror them correctly."""
    x = np.random.default_rng(4).normal(size=(5, 4, 3, 2))
    net = nn.serial(nn.Conv(3, (3, 3), W_std=1.5, b_std=0.2), nn.Activation(ReluDual))
    full = net.kernel_fn(x, get="ntk")
    assert full.shape == (5, 5, 4, 4, 3, 3)
    ref = Reference(x)
    ref.conv(1.5, 0.2)
    ref.act(relu_dual)
    np.testing.assert_allclose(full, ref.t.transpose(0, 1, 2, 4, 3, 5), rtol=1e-12)
    np.testing.assert_allclose(net.kernel_fn(x, get="ntk", batch_size=2), full, rtol=1e-13)


@pytest.mark.parametrize("depth", [7, 10])
def test_deeper_myrtles_build_and_are_finite(depth):
    nngp = nn.myrtle(depth, ReluDual).kernel_fn(IMAGES[:2], get="nngp")
    assert nngp.shape == (2, 2) and np.all(np.isfinite(nngp))
    assert nngp[0, 1] ** 2 < nngp[0, 0] * nngp[1, 1]

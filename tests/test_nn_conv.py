"""CNTK of dualcalc.nn (conv, pooling, Myrtle) against a direct, slow, loop-by-pixel recursion.

The reference keeps the covariance of every (image, pixel) pair as K[a, b, i, j, k, l]
(image a pixel (i, j) with image b pixel (k, l)), loops over output pixel pairs and filter
offsets one by one, and reads the variances off its own diagonal. It shares nothing with the
runtime but the published ReLU / erf dual formulas, written again here in numpy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_nn_support import ErfDual, ReluDual

from dualcalc import nn


def relu_dual(q1, q2, c):
    rho = np.clip(c / np.sqrt(q1 * q2), -1.0, 1.0)
    theta = np.arccos(rho)
    nngp = np.sqrt(q1 * q2) * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return nngp, (np.pi - theta) / (2 * np.pi)


def erf_dual(q1, q2, c):
    d = (1 + 2 * q1) * (1 + 2 * q2)
    return 2 / np.pi * np.arcsin(2 * c / np.sqrt(d)), 4 / np.pi / np.sqrt(d - 4 * c * c)


def same_or_valid(size, window, stride, padding):
    """(output size, pixels padded before) by the lax convention, from its definition."""
    if padding == "VALID":
        return (size - window) // stride + 1, 0
    out = math.ceil(size / stride)
    return out, max((out - 1) * stride + window - size, 0) // 2


class Reference:
    """Slow recursion on K[a, b, i, j, k, l] and Theta of the same shape."""

    def __init__(self, x):
        self.k = np.einsum("aijc,bklc->abijkl", x, x) / x.shape[-1]
        self.t = np.zeros_like(self.k)

    def window_sum(self, arr, window, stride, padding):
        n, _, h, w = arr.shape[:4]
        oh, ph = same_or_valid(h, window[0], stride[0], padding)
        ow, pw = same_or_valid(w, window[1], stride[1], padding)
        out = np.zeros((n, n, oh, ow, oh, ow))
        for i, j, k, m in itertools.product(range(oh), range(ow), range(oh), range(ow)):
            total = np.zeros((n, n))
            for di, dj in itertools.product(range(window[0]), range(window[1])):
                a, b = i * stride[0] - ph + di, j * stride[1] - pw + dj
                c, d = k * stride[0] - ph + di, m * stride[1] - pw + dj
                if 0 <= a < h and 0 <= b < w and 0 <= c < h and 0 <= d < w:
                    total += arr[:, :, a, b, c, d]
            out[:, :, i, j, k, m] = total / (window[0] * window[1])
        return out

    def pool_sum(self, arr, window, stride, padding):
        n, _, h, w = arr.shape[:4]
        oh, ph = same_or_valid(h, window[0], stride[0], padding)
        ow, pw = same_or_valid(w, window[1], stride[1], padding)
        size = window[0] * window[1]
        out = np.zeros((n, n, oh, ow, oh, ow))
        for i, j, k, m in itertools.product(range(oh), range(ow), range(oh), range(ow)):
            total = np.zeros((n, n))
            for di, dj, dk, dl in itertools.product(*(range(s) for s in window + window)):
                a, b = i * stride[0] - ph + di, j * stride[1] - pw + dj
                c, d = k * stride[0] - ph + dk, m * stride[1] - pw + dl
                if 0 <= a < h and 0 <= b < w and 0 <= c < h and 0 <= d < w:
                    total += arr[:, :, a, b, c, d]
            out[:, :, i, j, k, m] = total / size**2
        return out

    def conv(self, w_std, b_std, window=(3, 3), stride=(1, 1), padding="SAME"):
        self.k = w_std**2 * self.window_sum(self.k, window, stride, padding) + b_std**2
        self.t = self.k + w_std**2 * self.window_sum(self.t, window, stride, padding)

    def act(self, dual):
        n, _, h, w = self.k.shape[:4]
        q = np.empty((n, h, w))
        for a, i, j in itertools.product(range(n), range(h), range(w)):
            q[a, i, j] = self.k[a, a, i, j, i, j]
        q1 = q[:, None, :, :, None, None]
        q2 = q[None, :, None, None, :, :]
        self.k, dot = dual(q1, q2, self.k)
        self.t = dot * self.t

    def pool(self, window, stride, padding="VALID"):
        self.k = self.pool_sum(self.k, window, stride, padding)
        self.t = self.pool_sum(self.t, window, stride, padding)

    def global_pool(self):
        self.k, self.t = self.k.mean(axis=(2, 3, 4, 5)), self.t.mean(axis=(2, 3, 4, 5))

    def flatten(self):
        diag_k = np.einsum("abijij->abij", self.k)
        diag_t = np.einsum("abijij->abij", self.t)
        self.k, self.t = diag_k.mean(axis=(2, 3)), diag_t.mean(axis=(2, 3))

    def dense(self, w_std, b_std):
        self.k = w_std**2 * self.k + b_std**2
        self.t = self.k + w_std**2 * self.t


def reference_myrtle5(x, dual, w_std, b_std):
    ref = Reference(x)
    for convs, pool in ((2, True), (1, True), (1, False)):
        for _ in range(convs):
            ref.conv(w_std, b_std)
            ref.act(dual)
        if pool:
            ref.pool((2, 2), (2, 2))
    ref.global_pool()
    ref.dense(w_std, b_std)
    return ref.k, ref.t


IMAGES = np.random.default_rng(7).normal(size=(3, 8, 8, 2))


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

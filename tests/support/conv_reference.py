"""A direct, slow, loop-by-pixel CNTK recursion: the oracle of the convolution tests.

The reference keeps the covariance of every (image, pixel) pair as K[a, b, i, j, k, l]
(image a pixel (i, j) with image b pixel (k, l)), loops over output pixel pairs and filter
offsets one by one, and reads the variances off its own diagonal. It shares nothing with the
runtime but the published ReLU / erf dual formulas, written again here in numpy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


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



"""CountSketch and TensorSketch: hashing sketches, the second a sketch of x (x) y.

CountSketch (Charikar, Chen & Farach-Colton 2002) C: R^d -> R^m hashes coordinate j to
bucket h(j), uniform on [0, m), with a random sign s(j):

    (C x)_k = sum_{j: h(j) = k} s(j) x_j,      E <C x, C y> = <x, y>,
    Var <C x, C y> = (|x|^2 |y|^2 + <x, y>^2 - 2 sum_j x_j^2 y_j^2) / m.

TensorSketch (Pham & Pagh 2013, "Fast and scalable polynomial kernels via explicit feature
maps") sketches x (x) y, x in R^d1, y in R^d2, without forming it: the CountSketch of x (x) y
with hash h1(a) + h2(b) mod m and sign s1(a) s2(b) is the circular convolution of C1 x and
C2 y, computed in the FFT domain (real result via rfft / irfft):

    T(x, y) = irfft(rfft(C1 x) * rfft(C2 y)),   E <T(x, y), T(x', y')> = <x, x'> <y, y'>.

Only the signs enter the mean (they are independent across coordinates and factors), so the
identity is exact for any hashes; the hash collisions set the variance, O(1 / m).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from dualcalc.sketch.validation import check_dtype, check_factors, check_input, check_size


class CountSketchParams(NamedTuple):
    """One CountSketch draw; d = signs.shape[-1], m = width.shape[-1]."""

    buckets: jax.Array  # (d,) int32 h(j), uniform on [0, m)
    signs: jax.Array  # (d,) random +-1 s(j), in the params dtype
    width: jax.Array  # (0, m) empty array: carries m in its shape (static under jit and vmap)


class TensorSketchParams(NamedTuple):
    """Two independent CountSketches R^d1 -> R^m and R^d2 -> R^m."""

    left: CountSketchParams
    right: CountSketchParams


def countsketch_init(
    key: jax.Array, d: int, m: int, dtype: DTypeLike | None = None
) -> CountSketchParams:
    """Draw the hash h: [d] -> [m] and the signs s: [d] -> {-1, 1} from ``key``."""
    d, m = check_size(d, "d"), check_size(m, "m")
    dtype = check_dtype(dtype)
    key_hash, key_signs = jax.random.split(key)
    buckets = jax.random.randint(key_hash, (d,), 0, m, dtype=jnp.int32)
    signs = jax.random.rademacher(key_signs, (d,), dtype=dtype)
    return CountSketchParams(buckets, signs, jnp.zeros((0, m), dtype))


def countsketch_apply(params: CountSketchParams, x: jax.Array) -> jax.Array:
    """(C x)_k = sum_{h(j) = k} s(j) x_j on the last axis of x; shape (..., d) -> (..., m)."""
    x = check_input(x, params.signs.shape[-1])
    m = params.width.shape[-1]
    signed = x * params.signs.astype(x.dtype)
    return jnp.zeros(x.shape[:-1] + (m,), x.dtype).at[..., params.buckets].add(signed)


def tensorsketch_init(
    key: jax.Array, d1: int, d2: int, m: int, dtype: DTypeLike | None = None
) -> TensorSketchParams:
    """Two independent CountSketches, R^d1 -> R^m and R^d2 -> R^m, from ``key``."""
    d1, d2, m = check_size(d1, "d1"), check_size(d2, "d2"), check_size(m, "m")
    key_left, key_right = jax.random.split(key)
    return TensorSketchParams(
        countsketch_init(key_left, d1, m, dtype), countsketch_init(key_right, d2, m, dtype)
    )


def tensorsketch_apply(params: TensorSketchParams, x: jax.Array, y: jax.Array) -> jax.Array:
    """T(x, y) = irfft(rfft(C1 x) rfft(C2 y)), a sketch of x (x) y; leading axes broadcast."""
    return tensorsketch_combine(
        countsketch_apply(params.left, x), countsketch_apply(params.right, y)
    )


def tensorsketch_combine(cx: jax.Array, cy: jax.Array) -> jax.Array:
    """The circular convolution of two CountSketch outputs (C1 x, C2 y), both (..., m).

    For inputs already hashed (e.g. one C1 x reused against many y): no hashing, one rfft per
    input and one irfft.
    """
    cx, cy = check_factors(cx, cy)
    m = cx.shape[-1]
    product = jnp.fft.rfft(cx, axis=-1) * jnp.fft.rfft(cy, axis=-1)
    return jnp.fft.irfft(product, n=m, axis=-1)

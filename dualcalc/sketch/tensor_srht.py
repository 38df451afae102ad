"""TensorSRHT (Ahle et al. 2020, "Oblivious sketching of high-degree polynomial kernels"):
a sketch of x (x) y, x in R^d1, y in R^d2, to R^m without forming the tensor,

    T(x, y) = sqrt(1 / m) (sqrt(d1) [H D1 x]_P1) * (sqrt(d2) [H D2 y]_P2)     (elementwise)
            = sqrt(m) S1 x * S2 y,                 E <T(x, y), T(x', y')> = <x, x'> <y, y'>,

with S1, S2 two independent SRHTs (:mod:`dualcalc.sketch.srht`; H the orthonormal Hartley
transform, D1, D2 random signs, P1, P2 m rows each, uniform with replacement). Why unbiased:
coordinate k of T(x, y) T(x', y') is m (S1 x)_k (S1 x')_k (S2 y)_k (S2 y')_k, the two factors
are independent and each has mean <x, x'> / m (resp. <y, y'> / m); sum over the m coordinates.
The same holds for *any* two independent sketches with that per-coordinate mean (SRHT,
Gaussian, CountSketch rows all have it), which is what :func:`tensor_srht_combine` uses:
inputs already transformed (S1 x computed once and reused, or a feature vector that is itself
an SRHT output) are combined with one multiply, no FFT.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from dualcalc.sketch.srht import SRHTParams, srht_apply, srht_init
from dualcalc.sketch.validation import check_factors, check_size


class TensorSRHTParams(NamedTuple):
    """Two independent SRHTs, R^d1 -> R^m (left factor) and R^d2 -> R^m (right factor)."""

    left: SRHTParams
    right: SRHTParams


def tensor_srht_init(
    key: jax.Array, d1: int, d2: int, m: int, dtype: DTypeLike | None = None
) -> TensorSRHTParams:
    """Draw D1, P1 (left) and D2, P2 (right) independently from ``key``."""
    d1, d2, m = check_size(d1, "d1"), check_size(d2, "d2"), check_size(m, "m")
    key_left, key_right = jax.random.split(key)
    return TensorSRHTParams(srht_init(key_left, d1, m, dtype), srht_init(key_right, d2, m, dtype))


def tensor_srht_apply(params: TensorSRHTParams, x: jax.Array, y: jax.Array) -> jax.Array:
    """T(x, y) = sqrt(m) S1 x * S2 y, a sketch of x (x) y; x (..., d1), y (..., d2) -> (..., m)
    with the leading axes of x and y broadcast."""
    return tensor_srht_combine(srht_apply(params.left, x), srht_apply(params.right, y))


def tensor_srht_combine(sx: jax.Array, sy: jax.Array) -> jax.Array:
    """sqrt(m) sx * sy for already-transformed factors sx = S1 x, sy = S2 y, both (..., m).

    Unbiased for <x, x'> <y, y'> whenever S1 and S2 are independent sketches with
    E[(S x)_k (S x')_k] = <x, x'> / m for every coordinate k (SRHT, Gaussian, CountSketch).
    """
    sx, sy = check_factors(sx, sy)
    return sx * sy * jnp.asarray(math.sqrt(sx.shape[-1]), sx.dtype)

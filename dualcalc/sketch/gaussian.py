"""Gaussian sketch G: R^d -> R^m with i.i.d. N(0, 1) entries, scaled by 1 / sqrt(m).

    S x = G x / sqrt(m),    E <S x, S y> = <x, y>,    Var <S x, S y> = (|x|^2 |y|^2 + <x, y>^2) / m

(Johnson & Lindenstrauss 1984; the variance is Isserlis' theorem for the m i.i.d. rows).
Dense, O(d m) per input; the reference the structured sketches are measured against.
Each output coordinate is unbiased on its own: E[(S x)_k (S y)_k] = <x, y> / m.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from dualcalc.sketch.validation import check_dtype, check_input, check_size


class GaussianParams(NamedTuple):
    """One Gaussian sketch draw, stored transposed and pre-scaled: weights = G^T / sqrt(m)."""

    weights: jax.Array  # (d, m)


def gaussian_init(key: jax.Array, d: int, m: int, dtype: DTypeLike | None = None) -> GaussianParams:
    """Draw G (m x d, i.i.d. N(0, 1)) from ``key``; store G^T / sqrt(m)."""
    d, m = check_size(d, "d"), check_size(m, "m")
    dtype = check_dtype(dtype)
    gauss = jax.random.normal(key, (d, m), dtype=dtype)
    return GaussianParams(gauss * jnp.asarray(1.0 / math.sqrt(m), dtype))


def gaussian_apply(params: GaussianParams, x: jax.Array) -> jax.Array:
    """S x = G x / sqrt(m) on the last axis of x; shape (..., d) -> (..., m)."""
    x = check_input(x, params.weights.shape[-2])
    weights = params.weights.astype(x.dtype)
    return jnp.matmul(x, weights, precision=jax.lax.Precision.HIGHEST)

"""SRHT, the subsampled randomized Hartley transform S: R^d -> R^m.

    S x = sqrt(d / m) [H D x]_P,      E <S x, S y> = <x, y>,

with D = diag of d independent random signs, H the orthonormal Hartley transform
(:mod:`dualcalc.sketch.hartley`) and P a list of m rows drawn uniformly *with replacement*
(Tropp 2011, "Improved analysis of the subsampled randomized Hadamard transform"; Ailon &
Chazelle 2009). Sampling with replacement makes the identity exact: the m sampled rows are
independent and each gives E_p[d (H D x)_p (H D y)_p] = <H D x, H D y> = <x, y> for every D,
so E[S^T S] = I exactly and m is not limited by d (rows come from ``jax.random.randint``,
which spends 64 random bits per row: frequencies uniform to within d^2 / 2^64). The signs do
not enter the mean; they flatten H D x so that the variance,
(d sum_k E[(HDx)_k^2 (HDy)_k^2] - <x, y>^2) / m, is small.
Each output coordinate is unbiased on its own: E[(S x)_k (S y)_k] = <x, y> / m.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from dualcalc.sketch.hartley import hartley_rows
from dualcalc.sketch.validation import check_dtype, check_input, check_size


class SRHTParams(NamedTuple):
    """One SRHT draw; d = signs.shape[-1], m = rows.shape[-1]."""

    signs: jax.Array  # (d,) random +-1, the diagonal of D, in the params dtype
    rows: jax.Array  # (m,) int32 rows of H D x kept, uniform on [0, d) with replacement


def srht_init(key: jax.Array, d: int, m: int, dtype: DTypeLike | None = None) -> SRHTParams:
    """Draw D (d signs) and P (m rows, with replacement) from ``key``."""
    d, m = check_size(d, "d"), check_size(m, "m")
    return draw_srht(key, (), d, m, check_dtype(dtype))


def draw_srht(key: jax.Array, stack: tuple[int, ...], d: int, m: int, dtype) -> SRHTParams:
    """Independent SRHTs R^d -> R^m stacked on leading axes ``stack`` (signs stack + (d,),
    rows stack + (m,)), drawn with two random calls whatever the stack (sizes unchecked)."""
    key_signs, key_rows = jax.random.split(key)
    signs = jax.random.rademacher(key_signs, (*stack, d), dtype=dtype)
    rows = jax.random.randint(key_rows, (*stack, m), 0, d, dtype=jnp.int32)
    return SRHTParams(signs, rows)


def srht_apply(params: SRHTParams, x: jax.Array) -> jax.Array:
    """S x = sqrt(d / m) [H D x]_P on the last axis of x; shape (..., d) -> (..., m)."""
    x = check_input(x, params.signs.shape[-1])
    return srht_transform(params.signs, params.rows, x)


def srht_transform(signs: jax.Array, rows: jax.Array, x: jax.Array) -> jax.Array:
    """sqrt(d / m) [H diag(signs) x]_rows, unchecked. A stack of J independent SRHTs: signs
    (J, d), rows (J, m) and x (..., J, d), slot j of x through SRHT j (see ``hartley_rows``)."""
    d, m = signs.shape[-1], rows.shape[-1]
    flipped = x * signs.astype(x.dtype)
    return hartley_rows(flipped, rows) * jnp.asarray(math.sqrt(d / m), x.dtype)

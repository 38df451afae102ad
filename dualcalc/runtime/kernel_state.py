"""The kernel state a network layer transforms: NNGP, NTK and the self-covariances of each input.

Layout. For inputs with ``k`` spatial dimensions (0 for fully connected, 2 for NHWC images)
every covariance keeps all pixel pairs, interleaved per spatial axis::

    nngp, ntk : (n1, n2, s1, s1', s2, s2', ...)   cross covariance of x1[i] and x2[j]
    cov1      : (n1, s1, s1', s2, s2', ...)       covariance of x1[i] with itself
    cov2      : (n2, s1, s1', s2, s2', ...)       covariance of x2[j] with itself

The activation of the next layer needs the pixel variances q1 = cov1[i, p, p] and
q2 = cov2[j, p', p'], which is why the self-covariances travel with the cross terms. They are
carried even when x2 is x1: reading them off the diagonal of nngp instead would tie every
layer's n x n array to the next layer's variances and keep XLA from fusing the whole
elementwise chain into one pass. ``same_points`` is a traced flag (so one compiled function
serves the diagonal and the off-diagonal blocks of a blocked kernel): when set, x2 is x1 and
the activation marks the entries that pair a pixel of a point with itself as rho = 1 (kinked
duals have infinite slope there and get their value from 1-D quadrature).
The NTK starts identically zero and stays so until the first weight layer; ``ntk_is_zero``
says so statically, so layers before it skip their NTK work (XLA does not fold a convolution
of zeros) and activations skip their derivative dual.
Branches (``FanOut``) are lists of states; ``channels`` and ``fresh_weights`` let the fan-in
layers weight and check them.
Activation layers are not applied at once: they wait in ``pending`` so that two activations
in a row compose into one (the infinite-width limit of s2(s1(x))).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax.numpy as jnp

Array = Any


@dataclass(frozen=True)
class KernelState:
    """Covariances of a network's pre-activations on two batches of inputs (see module doc)."""

    nngp: Array
    ntk: Array | None
    cov1: Array
    cov2: Array
    same_points: Array = False
    pending: tuple[Any, ...] = ()
    ntk_is_zero: bool = False
    #: Channels of the finite network here (FanInConcat weights its branches by them).
    channels: int = 1
    #: The last step that was not a fixed linear map drew fresh zero-mean weights (Dense,
    #: Conv): the output is uncorrelated with every other branch (FanIn layers need it).
    fresh_weights: bool = False

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial dimensions k (each contributes a pair of axes)."""
        return (self.nngp.ndim - 2) // 2

    def map_linear(self, op: Callable[[Array], Array]) -> KernelState:
        """Apply one linear map on the trailing pair axes to every covariance (and the NTK)."""
        nngp = op(self.nngp)
        ntk = jnp.zeros_like(nngp) if self.ntk_is_zero else _maybe(op, self.ntk)
        return replace(self, nngp=nngp, ntk=ntk, cov1=op(self.cov1), cov2=op(self.cov2))


def input_state(x1: Array, x2: Array, with_ntk: bool, same_points: Array = False) -> KernelState:
    """Input covariances <x, y> / channels per pixel pair (NTK starts at zero).

    ``same_points``: x2 is x1 (a traced boolean is fine).
    """
    k = x1.ndim - 2
    channels = x1.shape[-1]
    nngp = jnp.einsum(_cross_spec(k), x1, x2) / channels
    ntk = jnp.zeros_like(nngp) if with_ntk else None
    cov1 = jnp.einsum(_self_spec(k), x1, x1) / channels
    cov2 = jnp.einsum(_self_spec(k), x2, x2) / channels
    return KernelState(
        nngp=nngp,
        ntk=ntk,
        cov1=cov1,
        cov2=cov2,
        same_points=same_points,
        ntk_is_zero=with_ntk,
        channels=int(channels),
    )


def pixel_variances(cov: Array, k: int) -> Array:
    """Diagonal of a self-covariance (n, s1, s1', ...): the variance per pixel, (n, s1, ...)."""
    letters = string.ascii_lowercase[1 : k + 1]
    spec = "z" + "".join(a + a for a in letters) + "->z" + letters
    return jnp.einsum(spec, cov)


def as_left(variances: Array, batch_axes: int) -> Array:
    """Reshape (n, s1, ..., sk) so it broadcasts as the first point of each pixel pair."""
    shape = [variances.shape[0]] + [1] * (batch_axes - 1)
    for size in variances.shape[1:]:
        shape += [size, 1]
    return variances.reshape(shape)


def as_right(variances: Array, batch_axes: int) -> Array:
    """Reshape (n, s1, ..., sk) so it broadcasts as the second point of each pixel pair."""
    shape = [1] * (batch_axes - 1) + [variances.shape[0]]
    for size in variances.shape[1:]:
        shape += [1, size]
    return variances.reshape(shape)


def _maybe(op: Callable[[Array], Array], arr: Array | None) -> Array | None:
    return None if arr is None else op(arr)


def _cross_spec(k: int) -> str:
    left = string.ascii_lowercase[:k]
    right = string.ascii_uppercase[:k]
    pairs = "".join(a + b for a, b in zip(left, right, strict=True))
    return f"m{left}z,n{right}z->mn{pairs}"


def _self_spec(k: int) -> str:
    left = string.ascii_lowercase[:k]
    right = string.ascii_uppercase[:k]
    pairs = "".join(a + b for a, b in zip(left, right, strict=True))
    return f"m{left}z,m{right}z->m{pairs}"

"""The state a feature layer transforms: feature maps of the NNGP and the NTK, exact variances.

For inputs with k spatial axes (0 for fully connected, 2 for NHWC images)::

    nngp : (n, *spatial, m1)   features phi with <phi(x)_p, phi(y)_p'> ~ K(x_p, y_p')
    ntk  : (n, *spatial, m2)   features theta with <theta(x)_p, theta(y)_p'> ~ Theta(x_p, y_p')
    cov  : (n,) when k = 0, else (n, s1, s1', s2, s2', ...): each input's exact covariance
           with itself (the kernel recursion restricted to the pairs of one input, O(n P^2))

It mirrors ``dualcalc.runtime.kernel_state.KernelState`` for one batch of inputs. The features
are random (sketches); ``cov`` is not: activations weight each point's (pixel's) degree-k
block by the Hermite coefficients a_k(q) of its own exact variance q = cov[p, p], never by
a rescaled unit-variance expansion (which diverges). The NTK is identically zero until the
first weight layer (``ntk_is_zero``); ``ntk`` is None when it is not wanted.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

Array = Any


@dataclass(frozen=True)
class FeatureState:
    """Features of a network's pre- or post-activations on one batch (see module doc)."""

    nngp: Array
    ntk: Array | None
    cov: Array
    ntk_is_zero: bool = False

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes k."""
        return self.nngp.ndim - 2

    def variances(self) -> Array:
        """Exact variance per point (k = 0) or per pixel: the diagonal of ``cov``."""
        k = self.spatial_ndim
        if k == 0:
            return self.cov
        letters = string.ascii_lowercase[1 : k + 1]
        return jnp.einsum("z" + "".join(a + a for a in letters) + "->z" + letters, self.cov)


def input_state(x: Array, with_ntk: bool) -> FeatureState:
    """Features of the input covariance <x_p, y_p'> / channels (exact: x itself, scaled)."""
    k = x.ndim - 2
    channels = x.shape[-1]
    left = string.ascii_lowercase[:k]
    right = string.ascii_uppercase[:k]
    pairs = "".join(a + b for a, b in zip(left, right, strict=True))
    cov = jnp.einsum(f"n{left}c,n{right}c->n{pairs}", x, x) / channels
    nngp = x / jnp.sqrt(jnp.asarray(channels, x.dtype))
    ntk = jnp.zeros(x.shape[:-1] + (1,), x.dtype) if with_ntk else None
    return FeatureState(nngp=nngp, ntk=ntk, cov=cov, ntk_is_zero=with_ntk)

"""Weight and pooling layers on features: exact linear maps, no randomness.

A kernel layer K <- W^2 A(K) + b^2 with A linear in the pixel pairs has an exact feature
counterpart: features phi with <phi, phi'> = K map to [W B(phi), b] with
<B(phi), B(phi')> = A(K). The random weights of the finite network are integrated out, so
no matrix multiplies the features:

- Dense: B = identity (per pixel): phi <- [W phi, b];
- Conv: B(phi)(p) = concat over filter offsets d of phi(p + d) / sqrt(|window|) (zeros
  outside the image): <B(phi)(p), B(phi')(p')> = mean_d <phi(p + d), phi'(p' + d)>, the
  kernel's window mean; the width grows by |window| until the next activation sketches it;
- AvgPool: B(phi)(o) = mean of phi over window(o): <B phi, B phi'> = mean over window pairs;
- GlobalAvgPool: the mean over all pixels; Flatten: the pixels' features side by side,
  scaled by 1 / sqrt(pixels).

The NTK follows Theta <- K_new + W^2 A(Theta): theta <- [phi_new, W B(theta)]. Each input's
exact self-covariance goes through the runtime's own maps (``dualcalc.runtime.spatial``).
Padding is explicit (``spatial.zero_padded``), as everywhere in dualcalc.

Branches: a sum of kernels sum_i w_i K_i has the features [sqrt(w_i) phi_i]_i side by side
(FanInSum: w_i = 1; FanInConcat: w_i = the branch's share of the channels). LayerNorm scales
each point's (pixel's) features by 1 / sqrt(q + eps) of its exact variance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import jax.numpy as jnp

from dualcalc.features.state import Array, FeatureState
from dualcalc.runtime import spatial
from dualcalc.runtime.kernel_state import as_left, as_right


def dense(state: FeatureState, w_std: float, b_std: float) -> FeatureState:
    """Dense layer: phi <- [W phi, b], cov <- W^2 cov + b^2, theta <- [phi_new, W theta]."""
    return _affine(state, lambda a: a, lambda c: c, w_std, b_std)


def conv(
    state: FeatureState, windows: Sequence[spatial.AxisWindow], w_std: float, b_std: float
) -> FeatureState:
    """Convolution: phi <- [W concat_d phi(p + d) / sqrt(|window|), b] (exact window mean)."""
    count = math.prod(w.window for w in windows)

    def features(a: Array) -> Array:
        return jnp.concatenate(window_slices(a, windows), axis=-1) / math.sqrt(count)

    return _affine(state, features, lambda c: spatial.conv_mean(c, windows), w_std, b_std)


def avg_pool(state: FeatureState, windows: Sequence[spatial.AxisWindow]) -> FeatureState:
    """Average pooling: features averaged over each window (padding counts as zeros)."""

    def features(a: Array) -> Array:
        slices = window_slices(a, windows)
        return sum(slices[1:], slices[0]) / len(slices)

    return _linear(state, features, lambda c: spatial.avg_pool(c, windows))


def global_avg_pool(state: FeatureState) -> FeatureState:
    """Mean of the features over all pixels: the covariance of the averaged network outputs."""
    k = state.spatial_ndim
    axes = tuple(range(1, 1 + k))
    return _linear(state, lambda a: jnp.mean(a, axis=axes), lambda c: spatial.global_mean(c, k))


def flatten(state: FeatureState) -> FeatureState:
    """Pixels side by side, scaled by 1 / sqrt(pixels): <., .> = mean over pixels of K[p, p]."""
    k = state.spatial_ndim
    pixels = math.prod(state.nngp.shape[1 : 1 + k])

    def features(a: Array) -> Array:
        return a.reshape(a.shape[0], -1) / math.sqrt(pixels)

    return _linear(state, features, lambda c: spatial.diagonal_mean(c, k))


def window_slices(x: Array, windows: Sequence[spatial.AxisWindow]) -> list[Array]:
    """x (n, *spatial, m) at every filter offset: one (n, *out, m) array per offset tuple."""
    pads = [(0, 0)] + [(w.pad_before, w.pad_after) for w in windows] + [(0, 0)]
    padded = spatial.zero_padded(x, pads)
    out = []
    for offsets in itertools.product(*(range(w.window) for w in windows)):
        index = [slice(None)]
        for w, d in zip(windows, offsets, strict=True):
            index.append(slice(d, d + (w.out - 1) * w.stride + 1, w.stride))
        out.append(padded[tuple(index)])
    return out


def _affine(
    state: FeatureState,
    features: Callable[[Array], Array],
    covariance: Callable[[Array], Array],
    w_std: float,
    b_std: float,
) -> FeatureState:
    """K <- W^2 A(K) + b^2 on features, covariance and NTK (see module doc)."""
    nngp = _with_bias(w_std * features(state.nngp), b_std)
    cov = w_std**2 * covariance(state.cov) + b_std**2
    if state.ntk is None:
        ntk = None
    elif state.ntk_is_zero:
        ntk = nngp
    else:
        ntk = jnp.concatenate([nngp, w_std * features(state.ntk)], axis=-1)
    return replace(state, nngp=nngp, ntk=ntk, cov=cov, ntk_is_zero=False)


def _linear(
    state: FeatureState, features: Callable[[Array], Array], covariance: Callable[[Array], Array]
) -> FeatureState:
    """A linear map of the covariances (no weights): the same map on every feature array."""
    ntk = None if state.ntk is None else features(state.ntk)
    return replace(state, nngp=features(state.nngp), ntk=ntk, cov=covariance(state.cov))


def _with_bias(phi: Array, b_std: float) -> Array:
    """[phi, b] (the constant feature b adds b^2 to every inner product); phi when b = 0."""
    if b_std == 0.0:
        return phi
    return jnp.concatenate([phi, jnp.full(phi.shape[:-1] + (1,), b_std, phi.dtype)], axis=-1)


def layer_norm(state: FeatureState, axes: Sequence[int], eps: float) -> FeatureState:
    """Each point's (pixel's) features over sqrt(q + eps), q its exact variance averaged over
    the normalised spatial ``axes``: <., .> = K[p, p'] / sqrt((q_p + eps)(q_p' + eps))."""
    k = state.spatial_ndim
    q = state.variances()
    if axes:
        q = jnp.mean(q, axis=tuple(1 + a for a in axes), keepdims=True)
    q = q + eps
    scale = (1.0 / jnp.sqrt(q))[..., None]
    if k == 0:
        cov = state.cov / q
    else:
        cov = state.cov / jnp.sqrt(as_left(q, 1) * as_right(q, 1))
    ntk = None if state.ntk is None else state.ntk * scale
    return replace(state, nngp=state.nngp * scale, ntk=ntk, cov=cov)


def weighted_sum(states: Sequence[FeatureState], weights: Sequence[Array]) -> FeatureState:
    """Features of sum_i w_i K_i: [sqrt(w_i) phi_i]_i side by side (and the same for theta)."""
    roots = [jnp.sqrt(jnp.asarray(w, states[0].nngp.dtype)) for w in weights]
    nngp = jnp.concatenate([r * s.nngp for r, s in zip(roots, states, strict=True)], axis=-1)
    ntk = None
    if states[0].ntk is not None:
        parts = [r * s.ntk for r, s in zip(roots, states, strict=True)]
        ntk = jnp.concatenate(parts, axis=-1)
    cov = sum(w * s.cov for w, s in zip(weights, states, strict=True))
    zero = all(s.ntk_is_zero for s in states)
    return replace(states[0], nngp=nngp, ntk=ntk, cov=cov, ntk_is_zero=zero)

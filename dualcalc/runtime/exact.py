"""The exact kernel interpreter: one rule per spec type, ``kernel_rule(spec, KernelState)``.

Dense: K <- W_std^2 K + b_std^2, Theta <- K_new + W_std^2 Theta. Conv: the same with K[p, p']
averaged over the filter window. Activation: K <- E[s(u) s(v)], Theta <- E[s'(u) s'(v)] Theta
per pixel pair; it waits in ``KernelState.pending`` so that two activations in a row compose
into one (the infinite-width limit of s2(s1(x)), ``elementwise.flush``). Pooling and
flattening are linear maps of the covariances. Serial: the children in order.
Branches (Neural Tangents' stax semantics): FanOut(n) makes n copies of the state (pending
activations included, so s2(s1(x)) still composes inside a branch); parallel maps its
children over the branches; FanInSum adds the branches' covariances and NTKs; FanInConcat
averages them weighted by the branches' channel counts (concatenated channels: the mean over
all channels of the products). Both are exact only for uncorrelated branches and refuse
others (``_fan_in``). LayerNorm divides each pixel pair's covariances (and NTK) by
sqrt(q_p q_p') of each point's variances averaged over the normalised axes.
The rules use plain arithmetic in W_std and b_std, so they may be traced JAX values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jax.numpy as jnp

from dualcalc.errors import DualcalcError
from dualcalc.runtime import spatial
from dualcalc.runtime.elementwise import flush
from dualcalc.runtime.kernel_state import KernelState, as_left, as_right, pixel_variances
from dualcalc.runtime.specs import (
    ActivationSpec,
    AvgPoolSpec,
    ConvSpec,
    DenseSpec,
    FanInConcatSpec,
    FanInSumSpec,
    FanOutSpec,
    FlattenSpec,
    GlobalAvgPoolSpec,
    IdentitySpec,
    LayerNormSpec,
    ParallelSpec,
    SerialSpec,
)


@functools.singledispatch
def kernel_rule(spec: Any, state: KernelState) -> KernelState:
    """The exact kernel after the layer ``spec``."""
    raise DualcalcError(f"no exact kernel rule for the layer {type(spec).__name__}")


@kernel_rule.register
def _(spec: DenseSpec, state: KernelState) -> KernelState:
    state = affine(flush(state), lambda a: a, spec.W_std**2, spec.b_std**2)
    return replace(state, channels=spec.out_dim, fresh_weights=True)


@kernel_rule.register
def _(spec: ActivationSpec, state: KernelState) -> KernelState:
    return replace(state, pending=state.pending + (spec.module,), fresh_weights=False)


@kernel_rule.register
def _(spec: ConvSpec, state: KernelState) -> KernelState:
    state = flush(state)
    check_spatial(state.spatial_ndim, len(spec.filter_shape))
    sizes = state.nngp.shape[2::2]
    windows = spatial.axis_windows(sizes, spec.filter_shape, spec.strides, spec.padding)
    op = functools.partial(spatial.conv_mean, windows=windows)
    state = affine(state, op, spec.W_std**2, spec.b_std**2)
    return replace(state, channels=spec.out_chan, fresh_weights=True)


@kernel_rule.register
def _(spec: AvgPoolSpec, state: KernelState) -> KernelState:
    state = flush(state)
    check_spatial(state.spatial_ndim, len(spec.window_shape))
    sizes = state.nngp.shape[2::2]
    windows = spatial.axis_windows(sizes, spec.window_shape, spec.strides, spec.padding)
    return state.map_linear(lambda a: spatial.avg_pool(a, windows))


@kernel_rule.register
def _(spec: GlobalAvgPoolSpec, state: KernelState) -> KernelState:
    state = flush(state)
    k = state.spatial_ndim
    return state.map_linear(lambda a: spatial.global_mean(a, k))


@kernel_rule.register
def _(spec: FlattenSpec, state: KernelState) -> KernelState:
    state = flush(state)
    k = state.spatial_ndim
    pixels = math.prod(state.nngp.shape[2::2])
    state = replace(state, channels=state.channels * pixels)
    return state.map_linear(lambda a: spatial.diagonal_mean(a, k))


@kernel_rule.register
def _(spec: IdentitySpec, state: KernelState) -> KernelState:
    return state


@kernel_rule.register
def _(spec: LayerNormSpec, state: KernelState) -> KernelState:
    state = flush(state)
    k = state.spatial_ndim
    axes = layer_norm_axes(spec.axis, k)
    m1 = _normaliser(pixel_variances(state.cov1, k), axes, spec.eps)
    m2 = _normaliser(pixel_variances(state.cov2, k), axes, spec.eps)
    cross = jnp.sqrt(as_left(m1, 2) * as_right(m2, 2))

    def normalised(cov: Any, m: Any) -> Any:
        return cov / jnp.sqrt(as_left(m, 1) * as_right(m, 1))

    ntk = state.ntk if state.ntk is None or state.ntk_is_zero else state.ntk / cross
    return replace(
        state,
        nngp=state.nngp / cross,
        ntk=ntk,
        cov1=normalised(state.cov1, m1),
        cov2=normalised(state.cov2, m2),
    )


@kernel_rule.register
def _(spec: FanOutSpec, state: KernelState) -> list[KernelState]:
    return [state] * spec.num


@kernel_rule.register
def _(spec: ParallelSpec, states: Any) -> list[KernelState]:
    states = _branches(states, "parallel", len(spec.children))
    return [kernel_rule(c, s) for c, s in zip(spec.children, states, strict=True)]


@kernel_rule.register
def _(spec: FanInSumSpec, states: Any) -> KernelState:
    states = _fan_in(states, "FanInSum")
    return _weighted_sum(states, [1.0] * len(states), states[0].channels)


@kernel_rule.register
def _(spec: FanInConcatSpec, states: Any) -> KernelState:
    states = _fan_in(states, "FanInConcat")
    channels = sum(s.channels for s in states)
    return _weighted_sum(states, [s.channels / channels for s in states], channels)


@kernel_rule.register
def _(spec: SerialSpec, state: KernelState) -> KernelState:
    for child in spec.children:
        state = kernel_rule(child, state)
    return state


def layer_norm_axes(axis: tuple[int, ...], k: int) -> tuple[int, ...]:
    """The spatial axes (0-based among k) a LayerNorm averages over; the channel axis is a must.

    ``axis`` indexes the NHWC input: -1 (or k + 1) is the channel axis, 1..k (or -k-1..-2)
    the spatial axes; the batch axis 0 is refused.
    """
    resolved = set()
    for a in axis:
        b = a + k + 2 if a < 0 else a
        if not 1 <= b <= k + 1:
            raise DualcalcError(
                f"LayerNorm axis {a} is not a spatial or channel axis of inputs with {k} "
                f"spatial axes (allowed: 1..{k + 1} or -{k + 1}..-1; the batch axis 0 is not)"
            )
        resolved.add(b)
    if k + 1 not in resolved:
        raise DualcalcError(f"LayerNorm must normalise the channel axis (-1), got axis={axis}")
    return tuple(sorted(b - 1 for b in resolved if b != k + 1))


def _normaliser(variances: Any, axes: tuple[int, ...], eps: float) -> Any:
    """Per-pixel q averaged over the normalised spatial axes (kept), plus eps."""
    if axes:
        variances = jnp.mean(variances, axis=tuple(1 + a for a in axes), keepdims=True)
    return variances + eps


def _branches(states: Any, where: str, count: int) -> list[KernelState]:
    if not isinstance(states, list):
        raise DualcalcError(f"{where} needs branches (a FanOut before it), got a single input")
    if len(states) != count:
        raise DualcalcError(f"{where} has {count} layers for {len(states)} branches")
    return states


def _fan_in(states: Any, where: str) -> list[KernelState]:
    """Each branch with its pending activations applied; refuses correlated branches.

    The kernel of a sum (or concatenation) adds only the branches' own kernels: exact when
    the branches' outputs are uncorrelated, which holds when every branch but at most one
    ends in fresh zero-mean weights (Dense or Conv after its last nonlinearity).
    """
    if not isinstance(states, list) or not states:
        raise DualcalcError(f"{where} needs branches (a FanOut and parallel before it)")
    states = [flush(s) for s in states]
    if sum(not s.fresh_weights for s in states) > 1:
        raise DualcalcError(
            f"{where}: two or more branches do not end in a Dense or Conv layer, so their "
            "outputs are correlated and the kernel of their sum is not the sum of their "
            "kernels; end every branch but one (e.g. the Identity shortcut) in a weight layer"
        )
    shapes = {s.nngp.shape for s in states}
    if len(shapes) != 1:
        raise DualcalcError(f"{where}: branches have different kernel shapes {sorted(shapes)}")
    return states


def _weighted_sum(states: list[KernelState], weights: list[float], channels: int) -> KernelState:
    """sum_i w_i K_i for every covariance and the NTK (zero NTKs stay zero)."""

    def total(arrays: list[Any]) -> Any:
        return sum(w * a for w, a in zip(weights, arrays, strict=True))

    first = states[0]
    all_zero = all(s.ntk_is_zero for s in states)
    if first.ntk is None or all_zero:
        ntk = first.ntk
    else:
        ntk = total([jnp.zeros_like(s.nngp) if s.ntk_is_zero else s.ntk for s in states])
    return replace(
        first,
        nngp=total([s.nngp for s in states]),
        ntk=ntk,
        cov1=total([s.cov1 for s in states]),
        cov2=total([s.cov2 for s in states]),
        ntk_is_zero=all_zero,
        channels=channels,
        fresh_weights=all(s.fresh_weights for s in states),
    )


def affine(state: KernelState, op: Callable, w2: Any, b2: Any) -> KernelState:
    """K <- W^2 op(K) + b^2 on every covariance; Theta <- K_new + W^2 op(Theta).

    Plain arithmetic in w2 and b2, so they may be traced JAX values as well as numbers.
    """
    nngp = w2 * op(state.nngp) + b2
    if state.ntk is None:
        ntk = None
    elif state.ntk_is_zero:
        ntk = nngp
    else:
        ntk = nngp + w2 * op(state.ntk)
    cov1, cov2 = w2 * op(state.cov1) + b2, w2 * op(state.cov2) + b2
    return replace(state, nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, ntk_is_zero=False)


def check_spatial(found: int, expected: int) -> None:
    """A clear error when a layer meets inputs with the wrong number of spatial axes."""
    if found != expected:
        raise DualcalcError(
            f"layer expects inputs with {expected} spatial axes (e.g. NHWC images for 2), "
            f"got {found}; flat inputs have 0"
        )

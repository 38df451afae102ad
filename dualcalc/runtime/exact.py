"""The exact kernel interpreter: one rule per spec type, ``kernel_rule(spec, KernelState)``.

Dense: K <- W_std^2 K + b_std^2, Theta <- K_new + W_std^2 Theta. Conv: the same with K[p, p']
averaged over the filter window. Activation: K <- E[s(u) s(v)], Theta <- E[s'(u) s'(v)] Theta
per pixel pair; it waits in ``KernelState.pending`` so that two activations in a row compose
into one (the infinite-width limit of s2(s1(x)), ``elementwise.flush``). Pooling and
flattening are linear maps of the covariances. Serial: the children in order.
The rules use plain arithmetic in W_std and b_std, so they may be traced JAX values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dualcalc.errors import DualcalcError
from dualcalc.runtime import spatial
from dualcalc.runtime.elementwise import flush
from dualcalc.runtime.kernel_state import KernelState
from dualcalc.runtime.specs import (
    ActivationSpec,
    AvgPoolSpec,
    ConvSpec,
    DenseSpec,
    FlattenSpec,
    GlobalAvgPoolSpec,
    SerialSpec,
)


@functools.singledispatch
def kernel_rule(spec: Any, state: KernelState) -> KernelState:
    """The exact kernel after the layer ``spec``."""
    raise DualcalcError(f"no exact kernel rule for the layer {type(spec).__name__}")


@kernel_rule.register
def _(spec: DenseSpec, state: KernelState) -> KernelState:
    return affine(flush(state), lambda a: a, spec.W_std**2, spec.b_std**2)


@kernel_rule.register
def _(spec: ActivationSpec, state: KernelState) -> KernelState:
    return replace(state, pending=state.pending + (spec.module,))


@kernel_rule.register
def _(spec: ConvSpec, state: KernelState) -> KernelState:
    state = flush(state)
    check_spatial(state.spatial_ndim, len(spec.filter_shape))
    sizes = state.nngp.shape[2::2]
    windows = spatial.axis_windows(sizes, spec.filter_shape, spec.strides, spec.padding)
    op = functools.partial(spatial.conv_mean, windows=windows)
    return affine(state, op, spec.W_std**2, spec.b_std**2)


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
    return state.map_linear(lambda a: spatial.diagonal_mean(a, k))


@kernel_rule.register
def _(spec: SerialSpec, state: KernelState) -> KernelState:
    for child in spec.children:
        state = kernel_rule(child, state)
    return state


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

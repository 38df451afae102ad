"""The finite-network interpreter: ``init_rule(spec, key, shape)``, ``apply_rule(spec, params, x)``.

NTK parameterisation, weights and biases drawn N(0, 1), images NHWC, filters HWIO.
Dense: y = W_std / sqrt(fan_in) x W + b_std b. Conv: the same with fan_in = channels x window.
Activation: s(x) elementwise. AvgPool / GlobalAvgPool / Flatten: the linear maps themselves.
Identity: x. LayerNorm: x / sqrt(mean of x^2 over the axes + eps) (no centering: the kernel's
normalisation, exact in the limit wherever it sits). FanOut: a list of copies; parallel: each
branch through its layer; FanInSum: the sum; FanInConcat: channels concatenated.
Serial: the children in order, one key each. ``init_rule`` returns ``(output_shape, params)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from dualcalc.errors import DualcalcError
from dualcalc.runtime import spatial
from dualcalc.runtime.exact import check_spatial, layer_norm_axes
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

Shape = tuple[int, ...]
SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


@functools.singledispatch
def init_rule(spec: Any, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    """(output shape, random parameters) of the layer ``spec`` for inputs of ``input_shape``."""
    raise TypeError(f"no init rule for the layer {type(spec).__name__}")


@functools.singledispatch
def apply_rule(spec: Any, params: Any, x: Any) -> Any:
    """The finite layer ``spec`` with parameters ``params`` applied to x."""
    raise TypeError(f"no apply rule for the layer {type(spec).__name__}")


@init_rule.register
def _(spec: DenseSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    k1, k2 = jax.random.split(key)
    fan_in = input_shape[-1]
    params = (
        jax.random.normal(k1, (fan_in, spec.out_dim)),
        jax.random.normal(k2, (spec.out_dim,)),
    )
    return tuple(input_shape[:-1]) + (spec.out_dim,), params


@apply_rule.register
def _(spec: DenseSpec, params: Any, x: Any) -> Any:
    w, b = params
    return spec.W_std / math.sqrt(x.shape[-1]) * (x @ w) + spec.b_std * b


@init_rule.register
def _(spec: ActivationSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    return tuple(input_shape), ()


@apply_rule.register
def _(spec: ActivationSpec, params: Any, x: Any) -> Any:
    return spec.module.activation(x)


@init_rule.register
def _(spec: ConvSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    check_spatial(len(input_shape) - 2, len(spec.filter_shape))
    k1, k2 = jax.random.split(key)
    windows = spatial.axis_windows(input_shape[1:-1], spec.filter_shape, spec.strides, spec.padding)
    w = jax.random.normal(k1, tuple(spec.filter_shape) + (input_shape[-1], spec.out_chan))
    out_shape = (input_shape[0],) + tuple(w_.out for w_ in windows) + (spec.out_chan,)
    return out_shape, (w, jax.random.normal(k2, (spec.out_chan,)))


@apply_rule.register
def _(spec: ConvSpec, params: Any, x: Any) -> Any:
    w, b = params
    k = len(spec.filter_shape)
    letters = SPATIAL_LETTERS[k]
    numbers = ("N" + letters + "C", letters + "IO", "N" + letters + "C")
    scale = spec.W_std / math.sqrt(x.shape[-1] * math.prod(spec.filter_shape))
    windows = spatial.axis_windows(x.shape[1:-1], spec.filter_shape, spec.strides, spec.padding)
    y = spatial.conv_general_valid(
        x, w, spec.strides, pads(windows), dimension_numbers=numbers, spatial_axes=range(1, k + 1)
    )
    return scale * y + spec.b_std * b


@init_rule.register
def _(spec: AvgPoolSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    check_spatial(len(input_shape) - 2, len(spec.window_shape))
    windows = spatial.axis_windows(input_shape[1:-1], spec.window_shape, spec.strides, spec.padding)
    return (input_shape[0],) + tuple(w.out for w in windows) + (input_shape[-1],), ()


@apply_rule.register
def _(spec: AvgPoolSpec, params: Any, x: Any) -> Any:
    window = (1,) + spec.window_shape + (1,)
    stride = (1,) + spec.strides + (1,)
    windows = spatial.axis_windows(x.shape[1:-1], spec.window_shape, spec.strides, spec.padding)
    padding = [(0, 0), *pads(windows), (0, 0)]
    return spatial.window_sum(x, window, stride, padding) / math.prod(spec.window_shape)


@init_rule.register
def _(spec: GlobalAvgPoolSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    return (input_shape[0], input_shape[-1]), ()


@apply_rule.register
def _(spec: GlobalAvgPoolSpec, params: Any, x: Any) -> Any:
    return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))


@init_rule.register
def _(spec: FlattenSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    return (input_shape[0], math.prod(input_shape[1:])), ()


@apply_rule.register
def _(spec: FlattenSpec, params: Any, x: Any) -> Any:
    return x.reshape(x.shape[0], -1)


@init_rule.register
def _(spec: SerialSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    params = []
    keys = jax.random.split(key, len(spec.children))
    for child, child_key in zip(spec.children, keys, strict=True):
        input_shape, p = init_rule(child, child_key, input_shape)
        params.append(p)
    return input_shape, tuple(params)


@apply_rule.register
def _(spec: SerialSpec, params: Any, x: Any) -> Any:
    for child, p in zip(spec.children, params, strict=True):
        x = apply_rule(child, p, x)
    return x


@init_rule.register
def _(spec: IdentitySpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    return tuple(input_shape), ()


@apply_rule.register
def _(spec: IdentitySpec, params: Any, x: Any) -> Any:
    return x


@init_rule.register
def _(spec: LayerNormSpec, key: Any, input_shape: Shape) -> tuple[Shape, Any]:
    layer_norm_axes(spec.axis, len(input_shape) - 2)
    return tuple(input_shape), ()


@apply_rule.register
def _(spec: LayerNormSpec, params: Any, x: Any) -> Any:
    spatial_axes = layer_norm_axes(spec.axis, x.ndim - 2)
    axes = tuple(1 + a for a in spatial_axes) + (x.ndim - 1,)
    return x / jnp.sqrt(jnp.mean(x * x, axis=axes, keepdims=True) + spec.eps)


@init_rule.register
def _(spec: FanOutSpec, key: Any, input_shape: Shape) -> tuple[Any, Any]:
    return [tuple(input_shape)] * spec.num, ()


@apply_rule.register
def _(spec: FanOutSpec, params: Any, x: Any) -> Any:
    return [x] * spec.num


@init_rule.register
def _(spec: ParallelSpec, key: Any, input_shape: Any) -> tuple[Any, Any]:
    shapes = _branch_list(input_shape, len(spec.children))
    keys = jax.random.split(key, len(spec.children))
    found = [init_rule(c, k, s) for c, k, s in zip(spec.children, keys, shapes, strict=True)]
    return [shape for shape, _ in found], tuple(params for _, params in found)


@apply_rule.register
def _(spec: ParallelSpec, params: Any, x: Any) -> Any:
    xs = _branch_list(x, len(spec.children))
    return [apply_rule(c, p, b) for c, p, b in zip(spec.children, params, xs, strict=True)]


@init_rule.register
def _(spec: FanInSumSpec, key: Any, input_shape: Any) -> tuple[Shape, Any]:
    shapes = {tuple(s) for s in _branch_list(input_shape, None)}
    if len(shapes) != 1:
        raise DualcalcError(f"FanInSum: branches have different shapes {sorted(shapes)}")
    return shapes.pop(), ()


@apply_rule.register
def _(spec: FanInSumSpec, params: Any, x: Any) -> Any:
    return sum(x[1:], x[0])


@init_rule.register
def _(spec: FanInConcatSpec, key: Any, input_shape: Any) -> tuple[Shape, Any]:
    shapes = _branch_list(input_shape, None)
    if len({tuple(s[:-1]) for s in shapes}) != 1:
        raise DualcalcError(f"FanInConcat: branches differ outside the channel axis: {shapes}")
    return tuple(shapes[0][:-1]) + (sum(s[-1] for s in shapes),), ()


@apply_rule.register
def _(spec: FanInConcatSpec, params: Any, x: Any) -> Any:
    return jnp.concatenate(x, axis=-1)


def _branch_list(branches: Any, count: int | None) -> list[Any]:
    if not isinstance(branches, list):
        raise DualcalcError("a fan-in or parallel layer needs branches (a FanOut before it)")
    if count is not None and len(branches) != count:
        raise DualcalcError(f"parallel has {count} layers for {len(branches)} branches")
    return branches


def pads(windows: Sequence[spatial.AxisWindow]) -> list[tuple[int, int]]:
    """Explicit (before, after) zero padding per spatial axis."""
    return [(w.pad_before, w.pad_after) for w in windows]

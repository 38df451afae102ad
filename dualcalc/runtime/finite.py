"""The finite-network interpreter: ``init_rule(spec, key, shape)``, ``apply_rule(spec, params, x)``.

NTK parameterisation, weights and biases drawn N(0, 1), images NHWC, filters HWIO.
Dense: y = W_std / sqrt(fan_in) x W + b_std b. Conv: the same with fan_in = channels x window.
Activation: s(x) elementwise. AvgPool / GlobalAvgPool / Flatten: the linear maps themselves.
Serial: the children in order, one key each. ``init_rule`` returns ``(output_shape, params)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from dualcalc.runtime import spatial
from dualcalc.runtime.exact import check_spatial
from dualcalc.runtime.specs import (
    ActivationSpec,
    AvgPoolSpec,
    ConvSpec,
    DenseSpec,
    FlattenSpec,
    GlobalAvgPoolSpec,
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


def pads(windows: Sequence[spatial.AxisWindow]) -> list[tuple[int, int]]:
    """Explicit (before, after) zero padding per spatial axis."""
    return [(w.pad_before, w.pad_after) for w in windows]

"""Network layers in Neural Tangents' stax style: each is ``(init_fn, apply_fn, kernel_fn)``.

NTK parameterisation, weights and biases drawn N(0, 1), images NHWC, filters HWIO:
``Dense``: y = W_std / sqrt(fan_in) x W + b_std b, so K <- W_std^2 K + b_std^2 and
Theta <- K_new + W_std^2 Theta. ``Conv``: the same with K[p, p'] averaged over the filter
window (fan_in = channels x window). ``Activation``: K <- E[s(u) s(v)],
Theta <- E[s'(u) s'(v)] Theta, per pixel pair, with the pixel variances of each input.
Pooling and flattening are linear maps of the covariances. ``init_fn(key, input_shape)``
returns ``(output_shape, params)``; ``apply_fn(params, x)`` evaluates the finite network.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dualcalc.errors import DualcalcError
from dualcalc.runtime import spatial, specs
from dualcalc.runtime.elementwise import flush, resolve
from dualcalc.runtime.kernel_fn import KernelFn
from dualcalc.runtime.kernel_state import KernelState

Shape = tuple[int, ...]
SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


class Layer(NamedTuple):
    """A layer or network: unpacks as ``init_fn, apply_fn, kernel_fn``."""

    init_fn: Callable[[Any, Shape], tuple[Shape, Any]]
    apply_fn: Callable[..., Any]
    kernel_fn: KernelFn


def Dense(out_dim: int, W_std: float = 1.0, b_std: float = 0.0) -> Layer:
    """Fully connected layer on the last axis: K <- W_std^2 K + b_std^2."""
    _check_positive_int(out_dim, "out_dim")
    w2, b2 = _variances(W_std, b_std)

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        k1, k2 = jax.random.split(key)
        fan_in = input_shape[-1]
        params = (jax.random.normal(k1, (fan_in, out_dim)), jax.random.normal(k2, (out_dim,)))
        return tuple(input_shape[:-1]) + (out_dim,), params

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        w, b = params
        return W_std / math.sqrt(x.shape[-1]) * (x @ w) + b_std * b

    def transform(state: KernelState) -> KernelState:
        return affine(flush(state), lambda a: a, w2, b2)

    spec = specs.DenseSpec(out_dim, float(W_std), float(b_std))
    return Layer(init_fn, apply_fn, KernelFn(transform, (spec,)))


def Activation(expr_or_module: Any) -> Layer:
    """Elementwise activation given as text (``"gelu"``, ``"cos(relu(x))"``) or a dual module."""
    module = resolve(expr_or_module)

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return tuple(input_shape), ()

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        return module.activation(x)

    def transform(state: KernelState) -> KernelState:
        return replace(state, pending=state.pending + (module,))

    return Layer(init_fn, apply_fn, KernelFn(transform, (specs.ActivationSpec(module),)))


def Conv(
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "SAME",
    W_std: float = 1.0,
    b_std: float = 0.0,
) -> Layer:
    """Convolution (NHWC / HWIO): K[p, p'] <- W_std^2 mean_d K[p + d, p' + d] + b_std^2."""
    _check_positive_int(out_chan, "out_chan")
    filter_shape = _int_tuple(filter_shape, "filter_shape")
    k = len(filter_shape)
    if k not in SPATIAL_LETTERS:
        raise DualcalcError(f"filter_shape must have 1 to 3 axes, got {filter_shape}")
    strides = (1,) * k if strides is None else _int_tuple(strides, "strides")
    if len(strides) != k:
        raise DualcalcError(f"strides {strides} do not match filter_shape {filter_shape}")
    padding = spatial.check_padding(padding)
    w2, b2 = _variances(W_std, b_std)
    letters = SPATIAL_LETTERS[k]
    numbers = ("N" + letters + "C", letters + "IO", "N" + letters + "C")

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        _check_spatial(len(input_shape) - 2, k)
        k1, k2 = jax.random.split(key)
        windows = spatial.axis_windows(input_shape[1:-1], filter_shape, strides, padding)
        w = jax.random.normal(k1, tuple(filter_shape) + (input_shape[-1], out_chan))
        out_shape = (input_shape[0],) + tuple(w_.out for w_ in windows) + (out_chan,)
        return out_shape, (w, jax.random.normal(k2, (out_chan,)))

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        w, b = params
        scale = W_std / math.sqrt(x.shape[-1] * math.prod(filter_shape))
        pads = _pads(spatial.axis_windows(x.shape[1:-1], filter_shape, strides, padding))
        y = spatial.conv_general_valid(
            x, w, strides, pads, dimension_numbers=numbers, spatial_axes=range(1, k + 1)
        )
        return scale * y + b_std * b

    def transform(state: KernelState) -> KernelState:
        state = flush(state)
        _check_spatial(state.spatial_ndim, k)
        sizes = state.nngp.shape[2::2]
        windows = spatial.axis_windows(sizes, filter_shape, strides, padding)
        return affine(state, lambda a: spatial.conv_mean(a, windows), w2, b2)

    spec = specs.ConvSpec(
        out_chan, filter_shape, tuple(strides), padding, float(W_std), float(b_std)
    )
    return Layer(init_fn, apply_fn, KernelFn(transform, (spec,)))


def AvgPool(
    window_shape: Sequence[int], strides: Sequence[int] | None = None, padding: str = "VALID"
) -> Layer:
    """Average pooling (padding counts as zeros): K <- A K A^T on each spatial axis."""
    window_shape = _int_tuple(window_shape, "window_shape")
    k = len(window_shape)
    strides = window_shape if strides is None else _int_tuple(strides, "strides")
    if len(strides) != k:
        raise DualcalcError(f"strides {strides} do not match window_shape {window_shape}")
    padding = spatial.check_padding(padding)

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        _check_spatial(len(input_shape) - 2, k)
        windows = spatial.axis_windows(input_shape[1:-1], window_shape, strides, padding)
        return (input_shape[0],) + tuple(w.out for w in windows) + (input_shape[-1],), ()

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        window = (1,) + window_shape + (1,)
        stride = (1,) + strides + (1,)
        pads = [
            (0, 0),
            *_pads(spatial.axis_windows(x.shape[1:-1], window_shape, strides, padding)),
            (0, 0),
        ]
        return spatial.window_sum(x, window, stride, pads) / math.prod(window_shape)

    def transform(state: KernelState) -> KernelState:
        state = flush(state)
        _check_spatial(state.spatial_ndim, k)
        windows = spatial.axis_windows(state.nngp.shape[2::2], window_shape, strides, padding)
        return state.map_linear(lambda a: spatial.avg_pool(a, windows))

    spec = specs.AvgPoolSpec(window_shape, tuple(strides), padding)
    return Layer(init_fn, apply_fn, KernelFn(transform, (spec,)))


def GlobalAvgPool() -> Layer:
    """Average over all spatial positions: K <- mean over pixel pairs of K[p, p']."""

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return (input_shape[0], input_shape[-1]), ()

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))

    def transform(state: KernelState) -> KernelState:
        state = flush(state)
        k = state.spatial_ndim
        return state.map_linear(lambda a: spatial.global_mean(a, k))

    return Layer(init_fn, apply_fn, KernelFn(transform, (specs.GlobalAvgPoolSpec(),)))


def Flatten() -> Layer:
    """Flatten (n, *spatial, C) to (n, features): K <- mean over pixels of K[p, p]."""

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        return (input_shape[0], math.prod(input_shape[1:])), ()

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        return x.reshape(x.shape[0], -1)

    def transform(state: KernelState) -> KernelState:
        state = flush(state)
        k = state.spatial_ndim
        return state.map_linear(lambda a: spatial.diagonal_mean(a, k))

    return Layer(init_fn, apply_fn, KernelFn(transform, (specs.FlattenSpec(),)))


def serial(*layers: Layer) -> Layer:
    """Layers applied one after another; two activations in a row compose into one."""
    if not layers:
        raise DualcalcError("serial needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, tuple) or len(layer) != 3 or not isinstance(layer[2], KernelFn):
            raise DualcalcError(f"serial: argument {i} is not a dualcalc layer")
    layers = tuple(Layer(*layer) for layer in layers)

    def init_fn(key: Any, input_shape: Shape) -> tuple[Shape, Any]:
        params = []
        for layer, layer_key in zip(layers, jax.random.split(key, len(layers)), strict=True):
            input_shape, p = layer.init_fn(layer_key, input_shape)
            params.append(p)
        return input_shape, tuple(params)

    def apply_fn(params: Any, x: Any, **kwargs: Any) -> Any:
        for layer, p in zip(layers, params, strict=True):
            x = layer.apply_fn(p, x, **kwargs)
        return x

    def transform(state: KernelState) -> KernelState:
        for layer in layers:
            state = layer.kernel_fn.transform(state)
        return state

    described = tuple(spec for layer in layers for spec in layer.kernel_fn.specs)
    return Layer(init_fn, apply_fn, KernelFn(transform, described))


def affine(state: KernelState, op: Callable, w2: Any, b2: Any) -> KernelState:
    """K <- W^2 op(K) + b^2 on every covariance; Theta <- K_new + W^2 op(Theta).

    Plain arithmetic in w2 and b2, so they may be traced JAX values (hyperparameters that
    are differentiated or tuned, ``dualcalc.learn.hyper_kernel``) as well as numbers.
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


def _pads(windows: Sequence[spatial.AxisWindow]) -> list[tuple[int, int]]:
    return [(w.pad_before, w.pad_after) for w in windows]


def _check_spatial(found: int, expected: int) -> None:
    if found != expected:
        raise DualcalcError(
            f"layer expects inputs with {expected} spatial axes (e.g. NHWC images for 2), "
            f"got {found}; flat inputs have 0"
        )


def _variances(w_std: float, b_std: float) -> tuple[float, float]:
    for value, name in ((w_std, "W_std"), (b_std, "b_std")):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise DualcalcError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(w_std) ** 2, float(b_std) ** 2


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DualcalcError(f"{name} must be a positive integer, got {value!r}")


def _int_tuple(values: Sequence[int], name: str) -> Shape:
    try:
        out = tuple(int(v) for v in values)
    except TypeError:
        raise DualcalcError(f"{name} must be a sequence of positive integers") from None
    if not out or any(v < 1 for v in out):
        raise DualcalcError(f"{name} must be a non-empty sequence of positive integers: {values}")
    return out

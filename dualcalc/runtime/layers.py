"""Network layers in Neural Tangents' stax style: each is ``(init_fn, apply_fn, kernel_fn)``.

A builder here only checks its arguments and returns the layer's spec (``runtime.specs``)
wrapped by ``layer_of``: ``init_fn`` / ``apply_fn`` interpret it as a finite network
(``runtime.finite``), ``kernel_fn`` as its exact kernel (``runtime.exact``). Each layer's
mathematics is written once, as one rule per interpreter.

NTK parameterisation, weights and biases drawn N(0, 1), images NHWC, filters HWIO:
``Dense``: y = W_std / sqrt(fan_in) x W + b_std b, so K <- W_std^2 K + b_std^2 and
Theta <- K_new + W_std^2 Theta. ``Conv``: the same with K[p, p'] averaged over the filter
window (fan_in = channels x window). ``Activation``: K <- E[s(u) s(v)],
Theta <- E[s'(u) s'(v)] Theta, per pixel pair, with the pixel variances of each input.
Pooling and flattening are linear maps of the covariances. ``init_fn(key, input_shape)``
returns ``(output_shape, params)``; ``apply_fn(params, x)`` evaluates the finite network.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from dualcalc.errors import DualcalcError
from dualcalc.runtime import spatial, specs
from dualcalc.runtime.elementwise import resolve
from dualcalc.runtime.finite import SPATIAL_LETTERS, apply_rule, init_rule
from dualcalc.runtime.kernel_fn import KernelFn

Shape = tuple[int, ...]


class Layer(NamedTuple):
    """A layer or network: unpacks as ``init_fn, apply_fn, kernel_fn``."""

    init_fn: Callable[[Any, Shape], tuple[Shape, Any]]
    apply_fn: Callable[..., Any]
    kernel_fn: KernelFn


def layer_of(spec: Any) -> Layer:
    """The (init_fn, apply_fn, kernel_fn) triple interpreting one spec tree."""

    def apply_fn(params: Any, x: Any, **_: Any) -> Any:
        return apply_rule(spec, params, x)

    return Layer(functools.partial(init_rule, spec), apply_fn, KernelFn(spec))


def Dense(out_dim: int, W_std: float = 1.0, b_std: float = 0.0) -> Layer:
    """Fully connected layer on the last axis: K <- W_std^2 K + b_std^2."""
    _check_positive_int(out_dim, "out_dim")
    _check_stds(W_std, b_std)
    return layer_of(specs.DenseSpec(out_dim, float(W_std), float(b_std)))


def Activation(expr_or_module: Any) -> Layer:
    """Elementwise activation given as text (``"gelu"``, ``"cos(relu(x))"``) or a dual module."""
    return layer_of(specs.ActivationSpec(resolve(expr_or_module)))


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
    _check_stds(W_std, b_std)
    spec = specs.ConvSpec(out_chan, filter_shape, strides, padding, float(W_std), float(b_std))
    return layer_of(spec)


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
    return layer_of(specs.AvgPoolSpec(window_shape, strides, padding))


def GlobalAvgPool() -> Layer:
    """Average over all spatial positions: K <- mean over pixel pairs of K[p, p']."""
    return layer_of(specs.GlobalAvgPoolSpec())


def Flatten() -> Layer:
    """Flatten (n, *spatial, C) to (n, features): K <- mean over pixels of K[p, p]."""
    return layer_of(specs.FlattenSpec())


def serial(*layers: Layer) -> Layer:
    """Layers applied one after another; two activations in a row compose into one."""
    if not layers:
        raise DualcalcError("serial needs at least one layer")
    return layer_of(
        specs.SerialSpec(tuple(spec_of(layer, "serial", i) for i, layer in enumerate(layers)))
    )


def parallel(*layers: Layer) -> Layer:
    """Branch i of a list of branches (from ``FanOut``) through ``layers[i]``."""
    if not layers:
        raise DualcalcError("parallel needs at least one layer")
    children = tuple(spec_of(layer, "parallel", i) for i, layer in enumerate(layers))
    return layer_of(specs.ParallelSpec(children))


def Identity() -> Layer:
    """x -> x (a residual shortcut): the kernel unchanged."""
    return layer_of(specs.IdentitySpec())


def FanOut(num: int) -> Layer:
    """One input -> ``num`` identical branches (a list), for ``parallel`` and a fan-in."""
    _check_positive_int(num, "num")
    return layer_of(specs.FanOutSpec(num))


def FanInSum() -> Layer:
    """Branches -> their sum: NNGPs and NTKs add (each branch but one must end in Dense/Conv)."""
    return layer_of(specs.FanInSumSpec())


def FanInConcat(axis: int = -1) -> Layer:
    """Branches -> channels concatenated: kernels averaged, weighted by channel counts."""
    if axis != -1:
        raise DualcalcError(
            f"FanInConcat concatenates the channel axis (axis=-1) only, got axis={axis!r}"
        )
    return layer_of(specs.FanInConcatSpec())


def LayerNorm(axis: int | Sequence[int] = -1, eps: float = 1e-12) -> Layer:
    """x / sqrt(mean of x^2 over ``axis`` + eps): K[p, p'] <- K[p, p'] / sqrt(q_p q_p').

    ``axis``: the channel axis -1, optionally with spatial axes of the NHWC input (q_p is
    then the pixel variances averaged over them). No centering: Neural Tangents' kernel also
    omits the mean, which vanishes after a weight layer; here apply_fn matches the kernel
    wherever the layer sits.
    """
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
        raise DualcalcError(f"LayerNorm axis must be an integer or a tuple of them, got {axis!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise DualcalcError(f"LayerNorm eps must be a number >= 0, got {eps!r}")
    return layer_of(specs.LayerNormSpec(tuple(int(a) for a in axes), float(eps)))


def GlobalSelfAttention(*args: Any, **kwargs: Any) -> Layer:
    """Refused: no exact kernel for general activations in reasonable time."""
    raise DualcalcError(
        "GlobalSelfAttention is not available: its infinite-width kernel needs the "
        "softmax of random attention scores, which has no exact dual for general "
        "activations (Neural Tangents approximates it); dualcalc builds exact kernels only"
    )


def Aggregate(*args: Any, **kwargs: Any) -> Layer:
    """Refused: no exact kernel for general activations in reasonable time."""
    raise DualcalcError(
        "Aggregate (graph message passing) is not available: its exact kernel needs a "
        "pattern-dependent covariance per node pair that dualcalc does not build; dualcalc "
        "builds exact kernels only"
    )


def spec_of(layer: Any, where: str, index: int) -> Any:
    """The spec tree of a dualcalc layer (a clear error for anything else)."""
    if not isinstance(layer, tuple) or len(layer) != 3 or not isinstance(layer[2], KernelFn):
        raise DualcalcError(f"{where}: argument {index} is not a dualcalc layer")
    return layer[2].spec


def _check_stds(w_std: Any, b_std: Any) -> None:
    for value, name in ((w_std, "W_std"), (b_std, "b_std")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise DualcalcError(f"{name} must be a finite number >= 0, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise DualcalcError(f"{name} must be a finite number >= 0, got {value!r}")


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

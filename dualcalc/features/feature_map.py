"""A network's sketched feature map: the layer description -> plan -> random draws -> features.

``sketch(net, m, key=..., ...)`` reads the network's spec tree (``kernel_fn.spec``, the
same description ``kernel_fn`` interprets) and returns a ``FeatureMap``: ``feature_map(x,
get="ntk")``, arrays (n, m) whose Gram matrices approximate ``kernel_fn(x, None, get)``.
The feature interpreter has two rules per spec type, side by side below: ``draw_rule`` (the
feature widths after the layer and its random draws) and ``feature_rule(spec, FeatureState,
draws) -> FeatureState``; ``plan`` first composes runs of activations and gives each its
sketch (its Hermite degree from the variances it sees, ``dualcalc.runtime.variance``).
The random draws are made once per input shape and dtype from ``key`` (so train and test
points see the same features); featurizing is linear in n, batched over rows (a tqdm bar on
long runs), jit-compiled, and runs unchanged on a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from dualcalc.errors import DualcalcError
from dualcalc.features import activation, degree, linear
from dualcalc.features.state import FeatureState, input_state
from dualcalc.runtime import spatial
from dualcalc.runtime.activation_runs import fuse_activations
from dualcalc.runtime.exact import layer_norm_axes
from dualcalc.runtime.kernel_state import input_state as kernel_input_state
from dualcalc.runtime.specs import (
    SPEC_TYPES,
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
from dualcalc.runtime.validation import check_get, check_inputs
from dualcalc.runtime.variance import variance_rule
from dualcalc.sketch import srht_apply, srht_init

METHODS = ("polysketch", "random", "arccos", "leverage")
#: ``apply`` maps the rows of a batch in chunks whose widest intermediate array holds about
#: this many elements, per backend. CPU: 4 MiB in float32; featurizing is bound by memory
#: traffic, and chunks keep each layer's intermediates (PolySketch blocks, FFT spectra) in
#: cache instead of writing n-row arrays of (degree + 1) m columns to memory and reading them
#: back. Accelerators: 1 GiB in float32; small chunks leave a GPU idle between steps, large
#: ones only bound the memory.
CHUNK_ELEMENTS = {"cpu": 1 << 20, "accelerator": 1 << 28}


def chunk_elements() -> int:
    """CHUNK_ELEMENTS for the backend ``jax.jit`` compiles for by default."""
    return CHUNK_ELEMENTS["cpu" if jax.default_backend() == "cpu" else "accelerator"]


class Features(NamedTuple):
    """Feature matrices: <nngp[i], nngp[j]> ~ NNGP(x_i, x_j), <ntk[i], ntk[j]> ~ NTK(x_i, x_j)."""

    nngp: Any
    ntk: Any


@dataclass(frozen=True)
class Shape:
    """Widths of the feature arrays between layers (``ntk`` None when not carried)."""

    spatial: tuple[int, ...]
    nngp: int
    ntk: int
    ntk_is_zero: bool
    channels: int = 1  # of the finite network (FanInConcat weights branches by them)


def sketch(
    net: Any,
    m: int,
    *,
    key: Any,
    method: str = "polysketch",
    degree: int | None = None,
) -> FeatureMap:
    """Sketched feature map of a ``dualcalc.nn`` network (or its ``kernel_fn``).

    ``m``: output width; ``method``: "polysketch" (Hermite coefficients of each point's own
    variance, PolySketch, TensorSRHT: Han et al. 2022), "random" (a finite random network:
    any activation), "arccos" / "leverage" (ReLU only: arc-cosine random features, plain or
    leverage-score sampled, Zandieh et al. 2021, Han et al. 2021); ``degree``: Hermite degree
    of every activation (polysketch; None: per layer, from the tail bound, ``features.degree``).
    """
    spec = _spec_of(net)
    m = _positive_int(m, "m")
    if method not in METHODS:
        raise DualcalcError(f"method must be one of {METHODS}, got {method!r}")
    if degree is not None:
        degree = _positive_int(degree, "degree")
    key = _key(key)
    planned = plan(spec, m, method, degree)
    kernel_fn = net[2] if isinstance(net, tuple) else net
    return FeatureMap(planned, m=m, key=key, method=method, kernel_fn=kernel_fn)


class FeatureMap:
    """``feature_map(x, batch_size=None, progress=None, get="ntk")``: numpy features.

    ``apply(x)`` is the pure, jit-able map on one batch of JAX arrays (what a streaming
    learner calls); ``degrees`` lists the Hermite degree of each sketched activation.
    """

    def __init__(self, planned: Any, m: int, key: Any, method: str, kernel_fn: Any = None):
        #: The network's spec tree as the feature rules read it (``plan``).
        self.planned = planned
        self.m = m
        self.key = key
        self.method = method
        #: The exact kernel of the same network (what the features approximate).
        self.kernel_fn = kernel_fn
        self._params: dict[tuple, Any] = {}
        self._compiled: dict[tuple, Callable] = {}
        self._chunks: dict[tuple, int] = {}
        self._checked: set[tuple] = set()

    @property
    def degrees(self) -> tuple[int, ...]:
        """Hermite degree of each sketched activation layer, in order."""
        return degrees_of(self.planned)

    def params(self, example_shape: Sequence[int], dtype: Any) -> Any:
        """The random draws from this map's key for inputs (n, *example_shape): made once."""
        cache = (tuple(example_shape), np.dtype(dtype).name)
        if cache not in self._params:
            self._params[cache] = self.draw(self.key, example_shape, dtype)
        return self._params[cache]

    def draw(self, key: Any, example_shape: Sequence[int], dtype: Any) -> Any:
        """Random draws of every layer from ``key`` (a pytree: ``apply`` takes it as data, so
        one compiled ``apply`` serves every key of the same shapes)."""
        spatial_shape, channels = tuple(example_shape[:-1]), int(example_shape[-1])
        shape = Shape(spatial_shape, channels, 1, True, channels)
        layers_key, final_key = jax.random.split(_key(key))
        with _precision(dtype):
            checked = (tuple(example_shape), np.dtype(dtype).name)
            if checked not in self._checked:
                _check_exact_kernel_exists(self.kernel_fn, example_shape, dtype)
                self._checked.add(checked)
            shape, drawn = draw_rule(self.planned, layers_key, shape, dtype)
            final = _final_resize(final_key, shape, self.m, dtype)
        return drawn, final

    def apply(self, params: Any, x: Any, with_ntk: bool = True) -> Features:
        """Features of one batch x (n, *spatial, channels) as JAX arrays (pure, jit-able).

        Rows are independent: they are mapped in chunks of ``chunk_rows`` (``lax.map``), which
        changes the memory traffic, not the values.
        """
        rows = self.chunk_rows(params, x, with_ntk)
        n = x.shape[0]
        if n <= rows:
            return self._apply_rows(params, x, with_ntk)
        count = -(-n // rows)
        padding = jnp.zeros((count * rows - n,) + x.shape[1:], x.dtype)  # zero rows are safe
        chunks = jnp.concatenate([x, padding]).reshape((count, rows) + x.shape[1:])
        out = jax.lax.map(lambda chunk: self._apply_rows(params, chunk, with_ntk), chunks)
        return Features(*(None if f is None else f.reshape((-1,) + f.shape[2:])[:n] for f in out))

    def chunk_rows(self, params: Any, x: Any, with_ntk: bool = True) -> int:
        """Rows per chunk of ``apply``: CHUNK_ELEMENTS over the widest array one row creates
        (read off the traced computation of one row; cached per shape)."""
        cache = (tuple(x.shape[1:]), np.dtype(x.dtype).name, with_ntk, chunk_elements())
        if cache not in self._chunks:
            spec = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
            row = jax.ShapeDtypeStruct((1,) + tuple(x.shape[1:]), x.dtype)
            one_row = functools.partial(self._apply_rows, with_ntk=with_ntk)
            jaxpr = jax.make_jaxpr(one_row)(spec, row)
            self._chunks[cache] = max(1, chunk_elements() // _widest(jaxpr.jaxpr))
        return self._chunks[cache]

    def _apply_rows(self, params: Any, x: Any, with_ntk: bool) -> Features:
        """``apply`` on one chunk of rows, all at once."""
        drawn, final = params
        state = feature_rule(self.planned, input_state(x, with_ntk), drawn)
        nngp = _resize(final[0], state.nngp, self.m)
        ntk = None if state.ntk is None else _resize(final[1], state.ntk, self.m)
        return Features(nngp, ntk)

    def __call__(
        self,
        x: Any,
        get: str | tuple[str, ...] = "ntk",
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Features of all rows of x in batches of ``batch_size`` rows, in the dtype of x.

        ``get``: "nngp" or "ntk" returns one (n, m) array; a tuple returns a tuple of arrays
        in the order asked (as ``kernel_fn``).
        """
        a, _ = check_inputs(x, None)
        names = check_get(get)
        with_ntk = "ntk" in names
        size = len(a) if batch_size is None else _positive_int(batch_size, "batch_size")
        size = min(size, len(a))
        params = self.params(a.shape[1:], a.dtype)
        fn = self._compiled_for(a.shape[1:], a.dtype, with_ntk)
        parts: list[Features] = []
        starts = range(0, len(a), size)
        with _precision(a.dtype):
            bar = {True: False, False: True, None: None}[progress]  # None: only on a terminal
            for start in tqdm(starts, disable=bar, leave=False, desc="features"):
                block = a[start : start + size]
                rows = len(block)
                padding = np.zeros((size - rows,) + a.shape[1:], a.dtype)  # one compiled shape
                out = fn(params, np.concatenate([block, padding]))
                parts.append(Features(*(None if f is None else np.asarray(f)[:rows] for f in out)))
        found = {"nngp": np.concatenate([p.nngp for p in parts])}
        if with_ntk:
            found["ntk"] = np.concatenate([p.ntk for p in parts])
        return found[names[0]] if isinstance(get, str) else tuple(found[n] for n in names)

    def _compiled_for(self, example_shape: tuple, dtype: Any, with_ntk: bool) -> Callable:
        cache = (tuple(example_shape), np.dtype(dtype).name, with_ntk)
        if cache not in self._compiled:
            self._compiled[cache] = jax.jit(functools.partial(self.apply, with_ntk=with_ntk))
        return self._compiled[cache]


# -- the plan: each activation gets its sketch (degree from the variances) -------------------


@dataclass(frozen=True)
class SketchedActivation:
    """An activation as the feature maps draw it: its module, Hermite degree, width, method."""

    module: Any
    degree: int | None
    m: int
    method: str


def plan(spec: Any, m: int, method: str, fixed_degree: int | None) -> Any:
    """The spec tree with runs of activations composed and each one a SketchedActivation
    (degree chosen from the variances the layer sees, ``runtime.variance``)."""
    q = np.asarray(degree.REFERENCE_VARIANCES, np.float64)
    planned, _ = _planned(fuse_activations(spec), q, m, method, fixed_degree)
    return planned


@functools.singledispatch
def _planned(spec: Any, q: np.ndarray, m: int, method: str, fixed: int | None) -> tuple[Any, Any]:
    """(spec as the feature rules read it, variances after it)."""
    if not isinstance(spec, SPEC_TYPES):
        raise DualcalcError(f"the feature maps cannot sketch the layer {type(spec).__name__}")
    return spec, variance_rule(spec, q)


@_planned.register
def _(spec: ActivationSpec, q: np.ndarray, m: int, method: str, fixed: int | None):
    module = spec.module
    if method in ("arccos", "leverage") and module.EXPRESSION != activation.RELU:
        raise DualcalcError(
            f"method {method!r} builds arc-cosine features of ReLU only, not of "
            f"{module.EXPRESSION}; use method='polysketch' or 'random' for other activations"
        )
    chosen = fixed
    if method == "polysketch" and chosen is None:
        chosen = degree.choose_degree(module, [float(v) for v in q], m)
    return SketchedActivation(module, chosen, m, method), variance_rule(spec, q)


@_planned.register
def _(spec: ParallelSpec, q: Any, m: int, method: str, fixed: int | None):
    found = [_planned(c, b, m, method, fixed) for c, b in zip(spec.children, q, strict=True)]
    return ParallelSpec(tuple(c for c, _ in found)), [b for _, b in found]


@_planned.register
def _(spec: SerialSpec, q: np.ndarray, m: int, method: str, fixed: int | None):
    children = []
    for child in spec.children:
        child, q = _planned(child, q, m, method, fixed)
        children.append(child)
    return SerialSpec(tuple(children)), q


def degrees_of(planned: Any) -> tuple[int, ...]:
    """Hermite degrees of the PolySketch activations of a planned tree, in order."""
    if isinstance(planned, SketchedActivation):
        return (planned.degree,) if planned.method == "polysketch" else ()
    children = getattr(planned, "children", ())
    return tuple(p for child in children for p in degrees_of(child))


# -- the feature interpreter: draw_rule (shapes, randomness) and feature_rule, per spec -------


@functools.singledispatch
def draw_rule(spec: Any, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    """(feature widths after the layer, its random draws) for features of ``shape``."""
    raise DualcalcError(f"the feature maps cannot sketch the layer {type(spec).__name__}")


@functools.singledispatch
def feature_rule(spec: Any, state: FeatureState, draws: Any) -> FeatureState:
    """The features after the layer ``spec``, given its draws."""
    raise DualcalcError(f"the feature maps cannot sketch the layer {type(spec).__name__}")


@draw_rule.register
def _(spec: SketchedActivation, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    ntk_width = None if shape.ntk_is_zero else shape.ntk
    m = spec.m
    if spec.method == "polysketch":
        draws = activation.polysketch_layer(key, shape.nngp, ntk_width, m, spec.degree, dtype)
    else:
        leverage = spec.method == "leverage"
        draws = activation.random_layer(key, shape.nngp, ntk_width, m, dtype, leverage)
    return replace(shape, nngp=m, ntk=m), draws


@feature_rule.register
def _(spec: SketchedActivation, state: FeatureState, draws: Any) -> FeatureState:
    if spec.method == "polysketch":
        return activation.polysketch_apply_layer(spec.module, spec.degree, draws, state)
    return activation.random_apply_layer(spec.module, draws, state)


@draw_rule.register
def _(spec: DenseSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    width = shape.nngp + (spec.b_std != 0.0)
    ntk = width if shape.ntk_is_zero else width + shape.ntk
    return Shape(shape.spatial, width, ntk, False, spec.out_dim), None


@feature_rule.register
def _(spec: DenseSpec, state: FeatureState, draws: Any) -> FeatureState:
    return linear.dense(state, spec.W_std, spec.b_std)


def _conv_windows(spec: ConvSpec, sizes: Sequence[int]) -> list[spatial.AxisWindow]:
    if len(sizes) != len(spec.filter_shape):
        raise DualcalcError(
            f"Conv with a {len(spec.filter_shape)}-D filter needs inputs with as many "
            f"spatial axes, got {len(sizes)}"
        )
    return spatial.axis_windows(sizes, spec.filter_shape, spec.strides, spec.padding)


@draw_rule.register
def _(spec: ConvSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    found = _conv_windows(spec, shape.spatial)
    count = math.prod(spec.filter_shape)
    width = count * shape.nngp + (spec.b_std != 0.0)
    ntk = width if shape.ntk_is_zero else width + count * shape.ntk
    return Shape(tuple(w.out for w in found), width, ntk, False, spec.out_chan), None


@feature_rule.register
def _(spec: ConvSpec, state: FeatureState, draws: Any) -> FeatureState:
    found = _conv_windows(spec, state.nngp.shape[1:-1])
    return linear.conv(state, found, spec.W_std, spec.b_std)


def _pool_windows(spec: AvgPoolSpec, sizes: Sequence[int]) -> list[spatial.AxisWindow]:
    if len(sizes) != len(spec.window_shape):
        raise DualcalcError(
            f"AvgPool over {len(spec.window_shape)} axes needs inputs with as many spatial "
            f"axes, got {len(sizes)}"
        )
    return spatial.axis_windows(sizes, spec.window_shape, spec.strides, spec.padding)


@draw_rule.register
def _(spec: AvgPoolSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    return replace(shape, spatial=tuple(w.out for w in _pool_windows(spec, shape.spatial))), None


@feature_rule.register
def _(spec: AvgPoolSpec, state: FeatureState, draws: Any) -> FeatureState:
    return linear.avg_pool(state, _pool_windows(spec, state.nngp.shape[1:-1]))


@draw_rule.register
def _(spec: GlobalAvgPoolSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    return replace(shape, spatial=()), None


@feature_rule.register
def _(spec: GlobalAvgPoolSpec, state: FeatureState, draws: Any) -> FeatureState:
    return linear.global_avg_pool(state)


@draw_rule.register
def _(spec: FlattenSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    pixels = math.prod(shape.spatial)
    nngp, ntk = pixels * shape.nngp, pixels * shape.ntk
    return Shape((), nngp, ntk, shape.ntk_is_zero, pixels * shape.channels), None


@feature_rule.register
def _(spec: FlattenSpec, state: FeatureState, draws: Any) -> FeatureState:
    return linear.flatten(state)


@draw_rule.register
def _(spec: IdentitySpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    return shape, None


@feature_rule.register
def _(spec: IdentitySpec, state: FeatureState, draws: Any) -> FeatureState:
    return state


@draw_rule.register
def _(spec: LayerNormSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    layer_norm_axes(spec.axis, len(shape.spatial))
    return shape, None


@feature_rule.register
def _(spec: LayerNormSpec, state: FeatureState, draws: Any) -> FeatureState:
    return linear.layer_norm(state, layer_norm_axes(spec.axis, state.spatial_ndim), spec.eps)


@draw_rule.register
def _(spec: FanOutSpec, key: Any, shape: Shape, dtype: Any) -> tuple[list[Shape], Any]:
    return [shape] * spec.num, None


@feature_rule.register
def _(spec: FanOutSpec, state: FeatureState, draws: Any) -> list[FeatureState]:
    return [state] * spec.num


@draw_rule.register
def _(spec: ParallelSpec, key: Any, shape: Any, dtype: Any) -> tuple[list[Shape], Any]:
    keys = jax.random.split(key, len(spec.children))
    found = [
        draw_rule(c, k, s, dtype)
        for c, k, s in zip(spec.children, keys, _branches(shape, spec), strict=True)
    ]
    return [s for s, _ in found], tuple(d for _, d in found)


@feature_rule.register
def _(spec: ParallelSpec, states: Any, draws: Any) -> list[FeatureState]:
    pairs = zip(spec.children, _branches(states, spec), draws, strict=True)
    return [feature_rule(c, s, d) for c, s, d in pairs]


@draw_rule.register
def _(spec: FanInSumSpec, key: Any, shapes: Any, dtype: Any) -> tuple[Shape, Any]:
    return _fan_in_shape(_branches(shapes, spec), shapes[0].channels), None


@feature_rule.register
def _(spec: FanInSumSpec, states: Any, draws: Any) -> FeatureState:
    states = _branches(states, spec)
    return linear.weighted_sum(states, [1.0] * len(states))


@draw_rule.register
def _(spec: FanInConcatSpec, key: Any, shapes: Any, dtype: Any) -> tuple[Shape, Any]:
    shapes = _branches(shapes, spec)
    channels = sum(s.channels for s in shapes)
    weights = tuple(np.asarray(s.channels / channels, dtype) for s in shapes)
    return _fan_in_shape(shapes, channels), weights


@feature_rule.register
def _(spec: FanInConcatSpec, states: Any, draws: Any) -> FeatureState:
    return linear.weighted_sum(_branches(states, spec), draws)


def _branches(found: Any, spec: Any) -> list[Any]:
    if not isinstance(found, list):
        raise DualcalcError(f"{type(spec).__name__} needs branches (a FanOut before it)")
    return found


def _fan_in_shape(shapes: list[Shape], channels: int) -> Shape:
    if len({s.spatial for s in shapes}) != 1:
        raise DualcalcError(f"fan-in branches have different spatial shapes: {shapes}")
    return Shape(
        shapes[0].spatial,
        sum(s.nngp for s in shapes),
        sum(s.ntk for s in shapes),
        all(s.ntk_is_zero for s in shapes),
        channels,
    )


@draw_rule.register
def _(spec: SerialSpec, key: Any, shape: Shape, dtype: Any) -> tuple[Shape, Any]:
    drawn = []
    for child, child_key in zip(
        spec.children, jax.random.split(key, len(spec.children)), strict=True
    ):
        shape, child_draws = draw_rule(child, child_key, shape, dtype)
        drawn.append(child_draws)
    return shape, tuple(drawn)


@feature_rule.register
def _(spec: SerialSpec, state: FeatureState, draws: Any) -> FeatureState:
    for child, child_draws in zip(spec.children, draws, strict=True):
        state = feature_rule(child, state, child_draws)
    return state


# -- final width, inputs -------------------------------------------------------------------------


def _final_resize(key: Any, shape: Shape, m: int, dtype: Any) -> tuple[Any, Any]:
    """SRHTs taking the final nngp / ntk features to width m where they are wider."""
    k1, k2 = jax.random.split(key)
    nngp = srht_init(k1, shape.nngp, m, dtype=dtype) if shape.nngp > m else None
    ntk = srht_init(k2, shape.ntk, m, dtype=dtype) if shape.ntk > m else None
    return nngp, ntk


def _resize(params: Any, features: Any, m: int) -> Any:
    """Features of width exactly m: sketched down (unbiased) or zero-padded (exact)."""
    width = features.shape[-1]
    if params is not None:
        return srht_apply(params, features)
    if width < m:
        pad = [(0, 0)] * (features.ndim - 1) + [(0, m - width)]
        return jnp.pad(features, pad)
    return features


def _widest(jaxpr: Any) -> int:
    """Elements of the largest array a jaxpr (and the jaxprs inside it) creates."""
    widest = 1
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            widest = max(widest, int(np.prod(getattr(var.aval, "shape", ()))))
        for value in eqn.params.values():
            for inner in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(inner, "jaxpr", inner)
                if hasattr(inner, "eqns"):
                    widest = max(widest, _widest(inner))
    return widest


def _check_exact_kernel_exists(kernel_fn: Any, example_shape: Sequence[int], dtype: Any) -> None:
    """Trace (no compute) the exact kernel of a network with branches on one example, so a
    network whose kernel_fn refuses it (correlated fan-in branches) is refused here too."""
    spec = getattr(kernel_fn, "spec", None)
    if spec is None or not any(isinstance(s, (FanInSumSpec, FanInConcatSpec)) for s in _all(spec)):
        return
    example = jax.ShapeDtypeStruct((1, *example_shape), dtype)
    jax.eval_shape(lambda a: kernel_fn.transform(kernel_input_state(a, a, True)).nngp, example)


def _all(spec: Any) -> list[Any]:
    """Every node of a spec tree."""
    return [spec] + [s for child in getattr(spec, "children", ()) for s in _all(child)]


def _spec_of(net: Any) -> Any:
    kernel_fn = net[2] if isinstance(net, tuple) and len(net) == 3 else net
    spec = getattr(kernel_fn, "spec", None)
    if spec is None:
        raise DualcalcError(
            "sketch expects a dualcalc.nn network (init_fn, apply_fn, kernel_fn) or its "
            f"kernel_fn, got {type(net).__name__}"
        )
    return spec


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DualcalcError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _key(key: Any) -> Any:
    """A jax.random key (an integer seed is turned into one, with a DeprecationWarning)."""
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        warnings.warn(
            "an integer key is deprecated: pass a jax.random key (jax.random.PRNGKey(seed))",
            DeprecationWarning,
            stacklevel=3,
        )
        return jax.random.PRNGKey(int(key))
    try:
        jax.random.split(key)
    except (TypeError, ValueError) as exc:
        raise DualcalcError(
            f"key must be a jax.random key or an integer seed, got {type(key).__name__}"
        ) from exc
    return key


def _precision(dtype: Any):
    """float64 work needs x64 enabled, whatever the caller's global configuration."""
    if np.dtype(dtype) == np.float64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()

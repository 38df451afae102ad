"""The variance interpreter: ``variance_rule(spec, q) -> q`` on per-point scalar variances.

q holds per-channel variances of a layer's pre-activations, one per point (or per reference
input scale); a planner reads them to size each activation's sketch. Dense / Conv:
q <- W_std^2 q + b_std^2 (a window mean of equal variances is that variance). Activation:
q <- E[s(sqrt(q) z)^2] (the module's exact edge value, 1-D quadrature). Pooling and
flattening: q unchanged, an upper bound (averaging pixels with correlation below 1 lowers the
variance, and a window over padding too). Identity: q. LayerNorm: q / (q + eps) (1 up to
eps; exact for the channel axis, the spatially uniform case for spatial axes). FanOut: a list
of copies; parallel: each branch through its layer; FanInSum: the sum (uncorrelated
branches); FanInConcat: the largest branch variance (an upper bound: the exact weighted mean
needs the channel counts, which a per-point variance does not carry). Serial: in order.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from dualcalc.runtime.activation_runs import fuse_activations
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
def variance_rule(spec: Any, q: np.ndarray) -> np.ndarray:
    """Per-point variances after the layer ``spec`` (float64 numpy)."""
    raise TypeError(f"no variance rule for the layer {type(spec).__name__}")


@variance_rule.register(DenseSpec)
@variance_rule.register(ConvSpec)
def _(spec: DenseSpec | ConvSpec, q: np.ndarray) -> np.ndarray:
    return float(spec.W_std) ** 2 * np.asarray(q, np.float64) + float(spec.b_std) ** 2


@variance_rule.register
def _(spec: ActivationSpec, q: np.ndarray) -> np.ndarray:
    return activation_variances(spec.module, q)


@variance_rule.register(AvgPoolSpec)
@variance_rule.register(GlobalAvgPoolSpec)
@variance_rule.register(FlattenSpec)
@variance_rule.register(IdentitySpec)
def _(spec: Any, q: np.ndarray) -> np.ndarray:
    return np.asarray(q, np.float64)


@variance_rule.register
def _(spec: LayerNormSpec, q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64)
    return q / (q + spec.eps)


@variance_rule.register
def _(spec: FanOutSpec, q: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(q, np.float64)] * spec.num


@variance_rule.register
def _(spec: ParallelSpec, q: list[np.ndarray]) -> list[np.ndarray]:
    return [variance_rule(c, b) for c, b in zip(spec.children, q, strict=True)]


@variance_rule.register
def _(spec: FanInSumSpec, q: list[np.ndarray]) -> np.ndarray:
    return np.sum(q, axis=0)


@variance_rule.register
def _(spec: FanInConcatSpec, q: list[np.ndarray]) -> np.ndarray:
    return np.max(q, axis=0)


@variance_rule.register
def _(spec: SerialSpec, q: np.ndarray) -> np.ndarray:
    for child in spec.children:
        q = variance_rule(child, q)
    return q


def activation_variances(module: Any, q: np.ndarray) -> np.ndarray:
    """E[s(sqrt(q) z)^2] for each variance q (the module's exact edge value, 1-D quadrature;
    K(q, q, q) for a module without edge values)."""
    q = np.asarray(q, np.float64)
    with jax.enable_x64(True):
        if module.nngp_edges is not None:
            square = module.nngp_edges(q)[0]
        else:
            square = module.nngp(q, q, q)
    return np.asarray(square, np.float64)


def variances(spec: Any, q: Any) -> np.ndarray:
    """Per-point variances after the network ``spec`` (runs of activations composed first)."""
    return variance_rule(fuse_activations(spec), np.asarray(q, np.float64))

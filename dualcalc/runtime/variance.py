"""The variance interpreter: ``variance_rule(spec, q) -> q`` on per-point scalar variances.

q holds per-channel variances of a layer's pre-activations, one per point (or per reference
input scale); a planner reads them to size each activation's sketch. Dense / Conv:
q <- W_std^2 q + b_std^2 (a window mean of equal variances is that variance). Activation:
q <- E[s(sqrt(q) z)^2] (the module's exact edge value, 1-D quadrature). Pooling and
flattening: q unchanged, an upper bound (averaging pixels with correlation below 1 lowers the
variance, and a window over padding too). Serial: the children in order.
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
    FlattenSpec,
    GlobalAvgPoolSpec,
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
def _(spec: Any, q: np.ndarray) -> np.ndarray:
    return np.asarray(q, np.float64)


@variance_rule.register
def _(spec: SerialSpec, q: np.ndarray) -> np.ndarray:
    for child in spec.children:
        q = variance_rule(child, q)
    return q


def activation_variances(module: Any, q: np.ndarray) -> np.ndarray:
    """E[s(sqrt(q) z)^2] for each variance q (exact, 1-D quadrature)."""
    with jax.enable_x64(True):
        square = module.nngp_edges(np.asarray(q, np.float64))[0]
    return np.asarray(square, np.float64)


def variances(spec: Any, q: Any) -> np.ndarray:
    """Per-point variances after the network ``spec`` (runs of activations composed first)."""
    return variance_rule(fuse_activations(spec), np.asarray(q, np.float64))

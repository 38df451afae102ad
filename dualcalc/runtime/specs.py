"""What a network is, as data: a tree of frozen layer specs that every interpreter reads.

A network built by ``dualcalc.nn`` is one spec: a leaf (``DenseSpec``, ``ActivationSpec``,
``ConvSpec``, ``AvgPoolSpec``, ``GlobalAvgPoolSpec``, ``FlattenSpec``, ``IdentitySpec``,
``LayerNormSpec``, and the branch points ``FanOutSpec``, ``FanInSumSpec``,
``FanInConcatSpec``), a ``SerialSpec`` of children applied in order, or a ``ParallelSpec``
mapping its children over a list of branches (Neural Tangents' stax semantics). Each
consumer is an interpreter with one rule per spec type:

- exact kernel (``dualcalc.runtime.exact``): ``rule(spec, KernelState) -> KernelState``;
- finite network (``dualcalc.runtime.finite``): ``init`` / ``apply`` rules;
- per-point variances (``dualcalc.runtime.variance``): ``rule(spec, q) -> q``;
- sketched features (``dualcalc.features.feature_map``): draw and apply rules.

Nothing here computes. ``W_std`` and ``b_std`` are plain fields, so a spec tree may carry
traced JAX values (``dualcalc.learn.hyper_kernel`` differentiates the kernel in them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dualcalc.runtime.dual import as_dual


@dataclass(frozen=True)
class DenseSpec:
    """y = W_std / sqrt(fan_in) x W + b_std b: K <- W_std^2 K + b_std^2."""

    out_dim: int
    W_std: Any
    b_std: Any


@dataclass(frozen=True)
class ActivationSpec:
    """Elementwise s(x), given by its dual (``runtime.dual.Dual``; a module is read into one)."""

    module: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "module", as_dual(self.module))


@dataclass(frozen=True)
class ConvSpec:
    """Convolution over the spatial axes: K[p, p'] <- W_std^2 mean_d K[p + d, p' + d] + b_std^2."""

    out_chan: int
    filter_shape: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    W_std: Any
    b_std: Any


@dataclass(frozen=True)
class AvgPoolSpec:
    """Average pooling (padding counts as zeros)."""

    window_shape: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str


@dataclass(frozen=True)
class GlobalAvgPoolSpec:
    """Mean over all spatial positions."""


@dataclass(frozen=True)
class FlattenSpec:
    """(n, *spatial, C) -> (n, features): K <- mean over pixels of K[p, p]."""


@dataclass(frozen=True)
class IdentitySpec:
    """x -> x: the kernel unchanged (a residual shortcut)."""


@dataclass(frozen=True)
class LayerNormSpec:
    """x / sqrt(mean of x^2 over ``axis`` + eps) (no centering): K[p, p'] / sqrt(q_p q_p').

    ``axis``: the channel axis -1, and optionally spatial axes of the NHWC input; q_p is
    the pixel's variance averaged over the normalised spatial axes.
    """

    axis: tuple[int, ...]
    eps: float


@dataclass(frozen=True)
class FanOutSpec:
    """One input -> ``num`` identical branches (a list)."""

    num: int


@dataclass(frozen=True)
class FanInSumSpec:
    """Branches -> their sum: kernels add (branches must be uncorrelated, see exact rule)."""


@dataclass(frozen=True)
class FanInConcatSpec:
    """Branches -> concatenated channels: kernels average, weighted by channel counts."""


@dataclass(frozen=True)
class ParallelSpec:
    """A list of branches -> each through its own child (``children[i]`` on branch i)."""

    children: tuple[Any, ...]


@dataclass(frozen=True)
class SerialSpec:
    """Children applied one after another (two activations in a row compose into one)."""

    children: tuple[Any, ...]


LEAF_SPECS = (
    DenseSpec,
    ActivationSpec,
    ConvSpec,
    AvgPoolSpec,
    GlobalAvgPoolSpec,
    FlattenSpec,
    IdentitySpec,
    LayerNormSpec,
    FanOutSpec,
    FanInSumSpec,
    FanInConcatSpec,
)
NODE_SPECS = (SerialSpec, ParallelSpec)
#: Every spec type; each interpreter has one rule per entry (tests/runtime/test_interpreters.py).
SPEC_TYPES = LEAF_SPECS + NODE_SPECS

LayerSpec = Any  # one of SPEC_TYPES


def leaves(spec: Any) -> Iterator[Any]:
    """The leaf specs of a tree, in the order a serial network applies them."""
    if isinstance(spec, SerialSpec):
        for child in spec.children:
            yield from leaves(child)
    else:
        yield spec

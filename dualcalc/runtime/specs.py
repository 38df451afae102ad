"""What each network layer is, as data: the description that kernels and feature maps share.

A layer built by ``dualcalc.nn`` carries its closures (init, apply, kernel transform) and
also this plain description, ``kernel_fn.specs``: a tuple of frozen dataclasses, one per
layer, in order (``serial`` concatenates them). The feature maps of ``dualcalc.features``
read it to build the sketched counterpart of the same network; nothing here computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DenseSpec:
    """y = W_std / sqrt(fan_in) x W + b_std b: K <- W_std^2 K + b_std^2."""

    out_dim: int
    W_std: float
    b_std: float


@dataclass(frozen=True)
class ActivationSpec:
    """Elementwise s(x), given by its dual module (generated-module protocol)."""

    module: Any


@dataclass(frozen=True)
class ConvSpec:
    """Convolution over the spatial axes: K[p, p'] <- W_std^2 mean_d K[p + d, p' + d] + b_std^2."""

    out_chan: int
    filter_shape: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    W_std: float
    b_std: float


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


LayerSpec = DenseSpec | ActivationSpec | ConvSpec | AvgPoolSpec | GlobalAvgPoolSpec | FlattenSpec

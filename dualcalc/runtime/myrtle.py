"""Myrtle networks (Shankar et al. 2020), the CNTK benchmark architecture, ready-made."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from dualcalc.errors import DualcalcError
from dualcalc.runtime.layers import (
    Activation,
    AvgPool,
    Conv,
    Dense,
    GlobalAvgPool,
    Layer,
    serial,
)

#: Convolutions per stage (three stages separated by 2x2 average pooling).
STAGES = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}


def myrtle(
    activation: Any = "relu",
    depth: int = 5,
    *,
    channels: int = 64,
    out_dim: int = 10,
    W_std: float = math.sqrt(2.0),
    b_std: float = 0.0,
) -> Layer:
    """Myrtle-depth: [conv3x3 + act] x n per stage, 2x2 avg-pool between stages, global pool, dense.

    Depth counts weight layers (convolutions plus the dense readout). After the third stage the
    features are averaged over all positions (Neural Tangents' notebook pools 2x2 three times on
    32x32 images, which is the same global average there and also works on 8x8 images).
    ``myrtle(depth, activation)`` (the previous order) still works, with a DeprecationWarning.
    """
    activation, depth = activation_and_depth(activation, depth)
    if depth not in STAGES:
        raise DualcalcError(f"myrtle depth must be one of {sorted(STAGES)}, got {depth!r}")
    act = Activation(activation)
    layers: list[Layer] = []
    for stage, convs in enumerate(STAGES[depth]):
        for _ in range(convs):
            layers += [Conv(channels, (3, 3), padding="SAME", W_std=W_std, b_std=b_std), act]
        if stage < 2:
            layers.append(AvgPool((2, 2), strides=(2, 2)))
    layers += [GlobalAvgPool(), Dense(out_dim, W_std=W_std, b_std=b_std)]
    return serial(*layers)


def activation_and_depth(first: Any, second: Any) -> tuple[Any, Any]:
    """(activation, depth), accepting the previous order (depth, activation) with a warning."""
    if isinstance(first, numbers.Integral) and not isinstance(first, bool):
        warnings.warn(
            "myrtle(depth, activation) is deprecated: call myrtle(activation, depth)",
            DeprecationWarning,
            stacklevel=3,
        )
        return second, first
    return first, second

"""Wide residual networks (Zagoruyko & Komodakis 2016) in Neural Tangents' WideResnet layout."""

from __future__ import annotations

import numbers
from typing import Any

from dualcalc.errors import DualcalcError
from dualcalc.runtime.layers import (
    Activation,
    Conv,
    Dense,
    FanInSum,
    FanOut,
    GlobalAvgPool,
    Identity,
    Layer,
    parallel,
    serial,
)

#: Base channels of the stem and of the three groups (times width_factor for the groups).
STEM, GROUPS = 16, (16, 32, 64)


def wide_resnet(
    activation: Any = "relu",
    depth: int = 16,
    *,
    width_factor: int = 1,
    out_dim: int = 10,
    W_std: float = 1.0,
    b_std: float = 0.0,
) -> Layer:
    """WRN-depth-width_factor: conv3x3(16), three groups of (depth - 4) / 6 residual blocks,
    global average pool, dense readout.

    A block is FanOut(2), parallel(main, shortcut), FanInSum with main = act, conv3x3 (the
    group's stride), act, conv3x3 and shortcut = Identity, or conv3x3 with the group's stride
    in each group's first block (channels change there). Groups: 16 k, 32 k (stride 2),
    64 k (stride 2) channels. Neural Tangents pools 8x8 after the groups (32x32 inputs);
    the global average is the same there and works for any image size.
    """
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 10:
        raise DualcalcError(f"wide_resnet depth must be 6 n + 4 with n >= 1, got {depth!r}")
    if (depth - 4) % 6:
        raise DualcalcError(f"wide_resnet depth must be 6 n + 4 (10, 16, 22, 28, ...), got {depth}")
    blocks = (depth - 4) // 6
    if isinstance(width_factor, bool) or not isinstance(width_factor, numbers.Integral):
        raise DualcalcError(f"width_factor must be a positive integer, got {width_factor!r}")
    if width_factor < 1:
        raise DualcalcError(f"width_factor must be a positive integer, got {width_factor!r}")
    act = Activation(activation)

    def conv(channels: int, strides: tuple[int, int] = (1, 1)) -> Layer:
        return Conv(channels, (3, 3), strides, padding="SAME", W_std=W_std, b_std=b_std)

    def block(channels: int, strides: tuple[int, int], first: bool) -> Layer:
        main = serial(act, conv(channels, strides), act, conv(channels))
        shortcut = conv(channels, strides) if first else Identity()
        return serial(FanOut(2), parallel(main, shortcut), FanInSum())

    layers = [conv(STEM)]
    for group, base in enumerate(GROUPS):
        strides = (1, 1) if group == 0 else (2, 2)
        channels = base * int(width_factor)
        layers += [block(channels, strides if i == 0 else (1, 1), i == 0) for i in range(blocks)]
    layers += [GlobalAvgPool(), Dense(out_dim, W_std=W_std, b_std=b_std)]
    return serial(*layers)

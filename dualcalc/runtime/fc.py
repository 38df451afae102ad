"""The fully connected network: depth hidden (Dense, activation) pairs, then a Dense readout."""

from __future__ import annotations

import numbers
from typing import Any

from dualcalc.errors import DualcalcError
from dualcalc.runtime.layers import Activation, Dense, Layer, serial

#: Width of the hidden Dense layers of the finite network (the kernels do not depend on it).
HIDDEN_WIDTH = 512


def fc(
    activation: Any,
    depth: int,
    *,
    readout: bool = True,
    W_std: float = 1.0,
    b_std: float = 0.0,
    width: int = HIDDEN_WIDTH,
    out_dim: int = 1,
) -> Layer:
    """serial(*[Dense(width, W_std, b_std), Activation(activation)] * depth, Dense(out_dim)).

    ``depth`` counts hidden layers; ``readout`` adds the final Dense (same W_std, b_std).
    """
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
        raise DualcalcError(f"depth must be an integer >= 0 (hidden layers), got {depth!r}")
    if depth == 0 and not readout:
        raise DualcalcError(
            "depth=0 with readout=False leaves no layer: depth must be >= 1 without a readout"
        )
    act = Activation(activation)
    layers = [Dense(width, W_std, b_std), act] * int(depth)
    if readout:
        layers.append(Dense(out_dim, W_std, b_std))
    return serial(*layers)

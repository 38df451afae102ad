"""Public facade of the network runtime: exact NNGP / NTK / CNTK kernels, stax-style layers.

>>> from dualcalc import nn
>>> init_fn, apply_fn, kernel_fn = nn.serial(nn.Dense(512), nn.Activation("gelu"), nn.Dense(1))
>>> ntk = kernel_fn(x1, x2, get="ntk", batch_size=256)  # doctest: +SKIP
"""

from dualcalc.runtime.fc import fc
from dualcalc.runtime.kernel_fn import KernelFn
from dualcalc.runtime.kernel_state import KernelState
from dualcalc.runtime.layers import (
    Activation,
    AvgPool,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Layer,
    serial,
)
from dualcalc.runtime.myrtle import myrtle

__all__ = [
    "Activation",
    "AvgPool",
    "Conv",
    "Dense",
    "Flatten",
    "fc",
    "GlobalAvgPool",
    "KernelFn",
    "KernelState",
    "Layer",
    "myrtle",
    "serial",
]

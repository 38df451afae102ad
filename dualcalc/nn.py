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
    Aggregate,
    AvgPool,
    Conv,
    Dense,
    FanInConcat,
    FanInSum,
    FanOut,
    Flatten,
    GlobalAvgPool,
    GlobalSelfAttention,
    Identity,
    Layer,
    LayerNorm,
    parallel,
    serial,
)
from dualcalc.runtime.myrtle import myrtle
from dualcalc.runtime.wide_resnet import wide_resnet

__all__ = [
    "Activation",
    "Aggregate",
    "AvgPool",
    "Conv",
    "Dense",
    "FanInConcat",
    "FanInSum",
    "FanOut",
    "Flatten",
    "GlobalAvgPool",
    "GlobalSelfAttention",
    "Identity",
    "KernelFn",
    "KernelState",
    "Layer",
    "LayerNorm",
    "fc",
    "myrtle",
    "parallel",
    "serial",
    "wide_resnet",
]

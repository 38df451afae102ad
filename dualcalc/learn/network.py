"""The fully connected network behind the estimators, and its exact kernel matrices in blocks.

``nn.fc(activation, depth, W_std=W_std, b_std=b_std)`` = depth x (Dense(512), Activation), then
a Dense(1) readout (the same builder as ``features.fc``):
the NNGP / NTK do not depend on the widths, so none is exposed. Networks are cached per
hyperparameters (estimators are cloned and refitted often, and each network keeps its compiled
kernel functions). Kernel matrices are computed in blocks of ``batch_size`` points with the rows
zero-padded: up to a power of two (at least 64) below ``batch_size`` points, to a multiple of
``batch_size`` above, so a few compiled functions serve every data set with the same number of
features (zero rows are harmless and sliced away).
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

from dualcalc import nn

KERNELS = ("nngp", "ntk")
MIN_BLOCK = 64


@functools.lru_cache(maxsize=64)
def fc_network(
    activation: str, depth: int, W_std: float, b_std: float, readout: bool = True
) -> nn.Layer:
    """depth x (Dense, Activation), then a Dense(1) readout if asked, NTK parameterisation."""
    return nn.fc(activation, depth, readout=readout, W_std=W_std, b_std=b_std)


def kernel_matrix(
    network: nn.Layer, x1: np.ndarray, x2: np.ndarray | None, get: str, batch_size: int
) -> np.ndarray:
    """K(x1, x2) (x2=None: K(x1, x1)) as a float64 array, in padded blocks of batch_size points."""
    a = _padded(np.asarray(x1, dtype=np.float64), batch_size)
    b = None if x2 is None else _padded(np.asarray(x2, dtype=np.float64), batch_size)
    k = network.kernel_fn(a, b, get=get, batch_size=batch_size)
    return np.asarray(k[: len(x1), : len(x1) if x2 is None else len(x2)], dtype=np.float64)


def check_network_params(
    activation: Any, depth: Any, get: Any, W_std: Any, b_std: Any
) -> tuple[str, int, str, float, float]:
    """The network hyperparameters, checked (ValueError naming the parameter otherwise)."""
    if not isinstance(activation, str) or not activation.strip():
        raise ValueError(
            f"activation must be an activation text such as 'relu', 'gelu' or 'x*erf(x)', "
            f"got {activation!r}"
        )
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
        raise ValueError(f"depth must be an integer >= 0 (hidden layers), got {depth!r}")
    if get not in KERNELS:
        raise ValueError(f"get must be 'nngp' or 'ntk', got {get!r}")
    return activation, int(depth), get, check_std(W_std, "W_std"), check_std(b_std, "b_std")


def check_std(value: Any, name: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_readout(readout: Any) -> bool:
    """True or False (a numpy bool too): whether the network ends on a Dense readout."""
    if not isinstance(readout, (bool, np.bool_)):
        raise ValueError(f"readout must be True or False, got {readout!r}")
    return bool(readout)


def check_batch_size(batch_size: Any) -> int:
    """A positive integer (points per kernel block)."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _padded(x: np.ndarray, batch_size: int) -> np.ndarray:
    """x with zero rows appended: to a power of two >= 64 if below batch_size, else a multiple."""
    block = min(batch_size, max(MIN_BLOCK, 1 << (len(x) - 1).bit_length()))
    rows = -(-len(x) // block) * block
    if rows == len(x):
        return x
    return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)])

"""Checks on what users hand to ``kernel_fn``: arrays, dtypes, finiteness, ``get``, batch sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from dualcalc.errors import DualcalcError

KERNEL_NAMES = ("nngp", "ntk")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_inputs(x1: Any, x2: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Both inputs as finite float32/float64 arrays of shape (n, ..., channels), one dtype."""
    a = _as_array(x1, "x1")
    b = None if x2 is None else _as_array(x2, "x2")
    if b is not None:
        if a.shape[1:] != b.shape[1:]:
            raise DualcalcError(
                f"x1 and x2 must agree beyond the batch axis: {a.shape} vs {b.shape}"
            )
        dtype = np.result_type(a.dtype, b.dtype)
        a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    return a, b


def check_get(get: Any) -> tuple[str, ...]:
    """``get`` as a tuple of kernel names from ``("nngp", "ntk")``."""
    names = (get,) if isinstance(get, str) else get
    try:
        names = tuple(names)
    except TypeError:
        raise DualcalcError(f"get must be 'nngp', 'ntk' or a tuple of them, got {get!r}") from None
    if not names or any(not isinstance(n, str) or n not in KERNEL_NAMES for n in names):
        raise DualcalcError(f"get must be 'nngp', 'ntk' or a tuple of them, got {get!r}")
    return names


def check_batch_size(batch_size: Any) -> int | None:
    """A positive integer or None (one block)."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise DualcalcError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if batch_size < 1:
        raise DualcalcError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


def _as_array(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise DualcalcError(f"{name} cannot be read as an array: {exc}") from None
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise DualcalcError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    elif arr.dtype not in FLOAT_DTYPES:
        raise DualcalcError(f"{name} must be float32 or float64, got {arr.dtype}")
    if arr.ndim < 2:
        raise DualcalcError(
            f"{name} must have shape (batch, features) or (batch, *spatial, channels), "
            f"got {arr.shape}"
        )
    if arr.ndim > 5:
        raise DualcalcError(f"{name} has {arr.ndim - 2} spatial axes; at most 3 are supported")
    if 0 in arr.shape:
        raise DualcalcError(f"{name} is empty: shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DualcalcError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf), first at {where}"
        )
    return arr

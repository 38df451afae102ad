"""Argument checks shared by the sketch primitives: sizes, degrees, dtypes, input arrays.

Every check raises :class:`dualcalc.errors.DualcalcError` naming the argument, what it was
and what is allowed. The checks read only static facts (Python ints, shapes, dtypes), so
they also run on traced arrays under ``jax.jit`` and ``jax.vmap``.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dualcalc.errors import DualcalcError

#: Floating dtypes the primitives compute in (XLA's FFT supports exactly these two).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_size(value: Any, name: str) -> int:
    """A positive Python or numpy integer (bools and floats are refused)."""
    size = _as_int(value, name, "a positive integer")
    if size < 1:
        raise DualcalcError(f"{name} must be a positive integer, got {size}")
    return size


def check_degree(value: Any) -> int:
    """A non-negative integer degree (bools and floats, even 2.0, are refused)."""
    degree = _as_int(value, "degree", "a non-negative integer")
    if degree < 0:
        raise DualcalcError(f"degree must be a non-negative integer, got {degree}")
    return degree


def check_dtype(dtype: Any) -> np.dtype:
    """float32 or float64; ``None`` means JAX's default float (float64 when x64 is enabled)."""
    if dtype is None:
        return np.dtype(jnp.result_type(float))
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DualcalcError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise DualcalcError(f"dtype must be float32 or float64, got {dt}")
    return np.dtype(jax.dtypes.canonicalize_dtype(dt))


def check_input(x: Any, d: int | None, name: str = "x") -> jax.Array:
    """A float32/float64 array whose last axis has length ``d`` (any if None), any batch axes."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        x = jnp.asarray(x)
    dt = np.dtype(x.dtype)
    if dt not in FLOAT_DTYPES:
        kind = "floating" if dt.kind == "f" else "non-floating"
        raise DualcalcError(
            f"{name} must be a float32 or float64 array, got {kind} dtype {dt}"
            + ("; convert it with x.astype(float)" if dt.kind in "iub" else "")
        )
    if x.ndim < 1:
        raise DualcalcError(f"{name} must have at least one axis (the feature axis), got a scalar")
    if d is not None and x.shape[-1] != d:
        raise DualcalcError(
            f"{name} has {x.shape[-1]} features on its last axis (shape {tuple(x.shape)}) "
            f"but the sketch was drawn for d = {d}"
        )
    return jnp.asarray(x)


def check_factors(sx: Any, sy: Any) -> tuple[jax.Array, jax.Array]:
    """Two sketched factors of one width m, cast to their common float dtype."""
    sx, sy = check_input(sx, None, "sx"), check_input(sy, None, "sy")
    if sx.shape[-1] != sy.shape[-1]:
        raise DualcalcError(
            f"sx and sy must be sketches of one width m (last axis), got {sx.shape[-1]} "
            f"and {sy.shape[-1]}"
        )
    dtype = jnp.result_type(sx, sy)
    return sx.astype(dtype), sy.astype(dtype)


def _as_int(value: Any, name: str, allowed: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise DualcalcError(f"{name} must be {allowed}, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise DualcalcError(
            f"{name} must be {allowed}, got {value!r} of type {type(value).__name__}"
        ) from None

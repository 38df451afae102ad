"""Linear maps of pixel-pair covariances: convolution window sums, average pooling, flattening.

Every function acts on the trailing ``2k`` axes of an array laid out as
``(..., s1, s1', s2, s2', ...)`` (see ``kernel_state``) and leaves the leading batch axes alone.
Padding follows ``lax``: ``VALID`` keeps only full windows; ``SAME`` pads ``total // 2`` zeros
before and the rest after, with ``total = max((out - 1) * stride + window - size, 0)``.

No convolution or windowed reduction here relies on XLA's implicit padding: XLA's CPU code for a
float64 convolution with zero padding reads one element before its input buffer on AVX-512
machines (an unmasked vector load), which crashes when that address is unmapped. Every padded
window op pads explicitly (``zero_padded``), behind an optimization barrier so that XLA cannot
fold the pad back into the convolution, and then runs with ``VALID`` windows.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from dualcalc.errors import DualcalcError
from dualcalc.runtime.kernel_state import Array

PADDINGS = ("SAME", "VALID")


@dataclass(frozen=True)
class AxisWindow:
    """Geometry of a window sliding along one spatial axis."""

    size: int
    window: int
    stride: int
    out: int
    pad_before: int
    pad_after: int


def axis_window(size: int, window: int, stride: int, padding: str) -> AxisWindow:
    """Output size and zero padding of a window of ``window`` pixels moving by ``stride``."""
    if padding == "VALID":
        if size < window:
            raise DualcalcError(
                f"window of {window} pixels does not fit an axis of {size} pixels with "
                "padding='VALID'"
            )
        return AxisWindow(size, window, stride, (size - window) // stride + 1, 0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return AxisWindow(size, window, stride, out, total // 2, total - total // 2)


def axis_windows(
    sizes: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: str
) -> list[AxisWindow]:
    """``axis_window`` of each spatial axis (sizes, window sizes and strides per axis)."""
    geometry = zip(sizes, window, strides, strict=True)
    return [axis_window(n, w, s, padding) for n, w, s in geometry]


def zero_padded(arr: Array, pads: Sequence[tuple[int, int]]) -> Array:
    """arr with explicit zeros (before, after) on each axis, never folded into a consumer.

    ``lax.optimization_barrier`` keeps XLA from merging the pad into the window op that reads
    it (it would otherwise recreate the implicitly padded convolution this module avoids).
    """
    pads = [tuple(int(v) for v in p) for p in pads]
    if not any(any(p) for p in pads):
        return arr
    return lax.optimization_barrier(jnp.pad(arr, pads))


def conv_general_valid(
    x: Array, w: Array, strides: Sequence[int], pads: Sequence[tuple[int, int]], **kwargs: Any
) -> Array:
    """``lax.conv_general_dilated`` with explicit zero padding of the spatial axes (see above).

    ``pads`` holds (before, after) per spatial axis; ``kwargs`` go to lax (dimension_numbers
    must put the spatial axes of ``x`` where ``spatial_axes`` says, default NCHW-like: 2, 3, ...).
    """
    spatial_axes = kwargs.pop("spatial_axes", tuple(range(2, x.ndim)))
    full = [(0, 0)] * x.ndim
    for axis, pad in zip(spatial_axes, pads, strict=True):
        full[axis] = pad
    padded = zero_padded(x, full)
    return lax.conv_general_dilated(padded, w, tuple(strides), "VALID", **kwargs)


def conv_mean(arr: Array, windows: Sequence[AxisWindow]) -> Array:
    """K'[p, p'] = mean over filter offsets d of K[p + d, p' + d] (zero outside the image).

    The mean over d = (d1, ..., dk) factors over the spatial axes, so each axis is done on its
    own: the pair (s, s') is a 2-D image and the shift of both pixels by the same offset is a
    convolution with the diagonal filter I / window (stride on both, padding on both).
    A convolution is its own XLA kernel: the consumers (the next activation's several
    elementwise passes) read its output instead of each re-summing shifted windows of a padded
    copy, as a sum of slices would make them do.
    """
    lead = arr.ndim - 2 * len(windows)
    for i, w in enumerate(windows):
        axes = (lead + 2 * i, lead + 2 * i + 1)
        moved = jnp.moveaxis(arr, axes, (-2, -1))
        images = moved.reshape((-1, 1) + moved.shape[-2:])
        diagonal = jnp.eye(w.window, dtype=arr.dtype)[None, None] / w.window
        out = conv_general_valid(
            images,
            diagonal,
            (w.stride, w.stride),
            [(w.pad_before, w.pad_after)] * 2,
            precision=lax.Precision.HIGHEST,
        )
        arr = jnp.moveaxis(out.reshape(moved.shape[:-2] + out.shape[-2:]), (-2, -1), axes)
    return arr


def avg_pool(arr: Array, windows: Sequence[AxisWindow]) -> Array:
    """K'[o, o'] = mean of K over window(o) x window(o') on each spatial axis (padding is zero)."""
    k = len(windows)
    lead = arr.ndim - 2 * k
    dims, strides, pads = [1] * lead, [1] * lead, [(0, 0)] * lead
    for w in windows:
        dims += [w.window] * 2
        strides += [w.stride] * 2
        pads += [(w.pad_before, w.pad_after)] * 2
    return window_sum(arr, dims, strides, pads) / math.prod(w.window for w in windows) ** 2


def window_sum(
    arr: Array, dims: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]]
) -> Array:
    """Sum over sliding windows (``lax.reduce_window``) with explicit zero padding (see above)."""
    padded = zero_padded(arr, pads)
    return lax.reduce_window(
        padded, np.zeros((), padded.dtype), lax.add, tuple(dims), tuple(strides), "VALID"
    )


def global_mean(arr: Array, k: int) -> Array:
    """Mean over all pixel pairs: the covariance of the spatially averaged features."""
    return jnp.mean(arr, axis=tuple(range(arr.ndim - 2 * k, arr.ndim))) if k else arr


def diagonal_mean(arr: Array, k: int) -> Array:
    """Mean over same-pixel pairs K[p, p]: the covariance of the flattened features / pixels."""
    if not k:
        return arr
    lead = string.ascii_lowercase[: arr.ndim - 2 * k]
    pix = string.ascii_uppercase[:k]
    diag = jnp.einsum(lead + "".join(a + a for a in pix) + "->" + lead + pix, arr)
    return jnp.mean(diag, axis=tuple(range(len(lead), diag.ndim)))


def check_padding(padding: str) -> str:
    """Validate a padding name."""
    if padding not in PADDINGS:
        raise DualcalcError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding

"""The public ``kernel_fn`` of a layer or network: validation, jit, float64, blocking by batch_size.

A network is described by one state transform (``KernelState -> KernelState``); ``KernelFn``
turns it into ``kernel_fn(x1, x2=None, get="ntk", batch_size=None)``. With a ``batch_size`` the
n1 x n2 kernel is computed in blocks of at most ``batch_size`` x ``batch_size`` points (rows are
zero-padded to a fixed block shape so that one compiled function serves every block), so device
memory is bounded by the block, not by n1 x n2. With ``x2=None`` only the upper blocks are
computed and mirrored, and blocks on the diagonal are evaluated as symmetric (x2 = x1) so
the self-covariances are exactly the diagonal of the kernel.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dualcalc.runtime.elementwise import flush
from dualcalc.runtime.kernel_state import KernelState, input_state
from dualcalc.runtime.validation import check_batch_size, check_get, check_inputs

Transform = Callable[[KernelState], KernelState]


class KernelFn:
    """``kernel_fn(x1, x2=None, get="ntk", batch_size=None)``: exact NNGP / NTK of a network.

    Returns a numpy array (or a tuple of them, in the order of ``get``) of shape
    ``(n1, n2)`` for networks ending in a flat layer, ``(n1, n2, s1, s1', ...)`` otherwise,
    in the dtype of the inputs (float32 or float64).
    """

    def __init__(self, transform: Transform):
        self.transform = transform
        self._compiled: dict[bool, Callable] = {}

    def __call__(
        self,
        x1: Any,
        x2: Any = None,
        get: str | tuple[str, ...] = "ntk",
        batch_size: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        names = check_get(get)
        a, b = check_inputs(x1, x2)
        size = check_batch_size(batch_size)
        with_ntk = "ntk" in names
        precision = jax.enable_x64(True) if a.dtype == np.float64 else contextlib.nullcontext()
        with precision:
            nngp, ntk = _blocked(self._compiled_for(with_ntk), a, b, size)
        found = {"nngp": nngp, "ntk": ntk}
        return found[names[0]] if isinstance(get, str) else tuple(found[n] for n in names)

    def _compiled_for(self, with_ntk: bool) -> Callable:
        if with_ntk not in self._compiled:
            traced = functools.partial(evaluate, self.transform, with_ntk)
            self._compiled[with_ntk] = jax.jit(traced)
        return self._compiled[with_ntk]


def evaluate(transform: Transform, with_ntk: bool, x1: Any, x2: Any) -> tuple[Any, Any]:
    """NNGP and NTK (or None) of the network on two batches (x2=None: x1 with itself)."""
    state = flush(transform(input_state(x1, x2, with_ntk)))
    return state.nngp, state.ntk


def _blocked(
    fn: Callable, a: np.ndarray, b: np.ndarray | None, size: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    symmetric = b is None
    if size is None:
        results = [None if r is None else np.asarray(r) for r in fn(a, b)]
        if symmetric:
            results = [None if r is None else _symmetrised(r) for r in results]
        return results[0], results[1]
    b = a if symmetric else b
    rows, cols = min(size, len(a)), min(size, len(b))
    outputs: list[np.ndarray] | None = None
    for i in range(0, len(a), rows):
        block_a = _padded(a[i : i + rows], rows)
        for j in range(i if symmetric else 0, len(b), cols):
            block_b = None if symmetric and i == j else _padded(b[j : j + cols], cols)
            results = [r for r in fn(block_a, block_b) if r is not None]
            if outputs is None:
                outputs = [np.empty((len(a), len(b)) + r.shape[2:], r.dtype) for r in results]
            ra, rb = min(rows, len(a) - i), min(cols, len(b) - j)
            for out, result in zip(outputs, results, strict=True):
                block = np.asarray(result)
                block = (_symmetrised(block) if symmetric and i == j else block)[:ra, :rb]
                out[i : i + ra, j : j + rb] = block
                if symmetric and j != i:
                    out[j : j + rb, i : i + ra] = _swap_points(block)
    assert outputs is not None
    return outputs[0], outputs[1] if len(outputs) > 1 else None


def _padded(block: np.ndarray, rows: int) -> np.ndarray:
    """Zero rows appended up to the block size (zero-norm inputs are harmless)."""
    if len(block) == rows:
        return block
    pad = np.zeros((rows - len(block),) + block.shape[1:], block.dtype)
    return np.concatenate([block, pad])


def _symmetrised(block: np.ndarray) -> np.ndarray:
    """(K + K^T) / 2: exactly symmetric (the two triangles differ by rounding otherwise)."""
    return 0.5 * (block + _swap_points(block))


def _swap_points(block: np.ndarray) -> np.ndarray:
    """K(x2, x1) from K(x1, x2): swap the point axes and the two pixels of every pair."""
    order = [1, 0]
    for axis in range(2, block.ndim, 2):
        order += [axis + 1, axis]
    return block.transpose(order)

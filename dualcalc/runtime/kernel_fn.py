"""The public ``kernel_fn`` of a layer or network: validation, jit, float64, blocking by batch_size.

A network is one spec tree (``dualcalc.runtime.specs``); its state transform
(``KernelState -> KernelState``) is the exact interpreter (``dualcalc.runtime.exact``) run on
that tree, and ``KernelFn`` turns it into ``kernel_fn(x1, x2=None, get="ntk",
batch_size=None)``. With a ``batch_size`` the n1 x n2 kernel is computed in blocks of at most
``batch_size`` x ``batch_size`` points (rows are zero-padded to a fixed block shape so that one
compiled function serves every block), so device memory is bounded by the block, not by
n1 x n2. With ``x2=None`` only the upper blocks are computed and mirrored; blocks on the
diagonal are flagged (a traced argument, so the same compiled function runs them) so that each
point's pairs with itself are known to be rho = 1.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dualcalc.runtime.elementwise import flush
from dualcalc.runtime.exact import kernel_rule
from dualcalc.runtime.kernel_state import KernelState, input_state
from dualcalc.runtime.specs import SerialSpec, leaves
from dualcalc.runtime.validation import (
    KERNEL_NAMES,
    check_batch_size,
    check_get,
    check_inputs,
)

Transform = Callable[[KernelState], KernelState]


class KernelFn:
    """``kernel_fn(x1, x2=None, get="ntk", batch_size=None)``: exact NNGP / NTK of a network.

    Returns a numpy array (or a tuple of them, in the order of ``get``) of shape
    ``(n1, n2)`` for networks ending in a flat layer, ``(n1, n2, s1, s1', ...)`` otherwise,
    in the dtype of the inputs (float32 or float64).
    """

    def __init__(self, spec: Any):
        #: The network as data: one spec tree (``dualcalc.runtime.specs``).
        self.spec = spec
        self._compiled: dict[tuple[str, ...], Callable] = {}

    @property
    def specs(self) -> tuple[Any, ...]:
        """The layers in order: the leaves of a serial network, else the tree's top children."""
        if isinstance(self.spec, SerialSpec):
            return tuple(leaves(self.spec))
        return (self.spec,)

    def transform(self, state: KernelState) -> KernelState:
        """The exact interpreter on this network's spec tree."""
        return kernel_rule(self.spec, state)

    def __call__(
        self,
        x1: Any,
        x2: Any = None,
        get: str | tuple[str, ...] = "ntk",
        *,
        batch_size: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        names = check_get(get)
        a, b = check_inputs(x1, x2)
        size = check_batch_size(batch_size)
        wanted = tuple(n for n in KERNEL_NAMES if n in names)
        precision = jax.enable_x64(True) if a.dtype == np.float64 else contextlib.nullcontext()
        with precision:
            found = dict(zip(wanted, _blocked(self._compiled_for(wanted), a, b, size), strict=True))
        return found[names[0]] if isinstance(get, str) else tuple(found[n] for n in names)

    def _compiled_for(self, wanted: tuple[str, ...]) -> Callable:
        """One jit per set of requested kernels (an unrequested NNGP is never materialised)."""
        if wanted not in self._compiled:
            traced = functools.partial(evaluate, self.transform, wanted)
            self._compiled[wanted] = jax.jit(traced)
        return self._compiled[wanted]


def evaluate(
    transform: Transform, wanted: tuple[str, ...], x1: Any, x2: Any, same: Any
) -> tuple[Any, ...]:
    """The requested kernels (names from KERNEL_NAMES) on two batches; ``same``: x2 is x1."""
    state = flush(transform(input_state(x1, x2, "ntk" in wanted, same)))
    found = {"nngp": state.nngp, "ntk": state.ntk}
    return tuple(found[name] for name in wanted)


def _blocked(
    fn: Callable, a: np.ndarray, b: np.ndarray | None, size: int | None
) -> list[np.ndarray]:
    """fn's outputs on all of a x b (b=None: a x a), in blocks of at most size x size points."""
    symmetric = b is None
    yes, no = np.bool_(True), np.bool_(False)
    if size is None:
        results = [np.asarray(r) for r in fn(a, a if symmetric else b, yes if symmetric else no)]
        return [_symmetrised(r) for r in results] if symmetric else results
    b = a if symmetric else b
    rows, cols = min(size, len(a)), min(size, len(b))
    outputs: list[np.ndarray] | None = None
    for i in range(0, len(a), rows):
        block_a = _padded(a[i : i + rows], rows)
        for j in range(i if symmetric else 0, len(b), cols):
            diagonal = symmetric and i == j
            block_b = block_a if diagonal else _padded(b[j : j + cols], cols)
            results = fn(block_a, block_b, yes if diagonal else no)
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
    return outputs


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

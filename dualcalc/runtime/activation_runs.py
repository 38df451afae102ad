"""Runs of activations in a spec tree, fused: s1 then s2 with no layer between is one s2(s1(x)).

In the infinite-width limit an activation's input is Gaussian only right after a weight
layer, so two activations in a row are one activation of the composed expression. The exact
interpreter does this lazily (``KernelState.pending``, carried into the branches of a
FanOut); interpreters that plan ahead (the variances, the sketched features) read the tree
with each run fused into one ActivationSpec. A run right before ``FanOut(n), parallel(...)``
is moved into the start of every branch (applying s to each copy is copying s(x)), where it
fuses with the branch's own leading activations.
"""

from __future__ import annotations

from typing import Any

from dualcalc.runtime.elementwise import compose
from dualcalc.runtime.specs import ActivationSpec, FanOutSpec, ParallelSpec, SerialSpec


def fuse_activations(spec: Any) -> Any:
    """The same network with nested serials spliced and each run of activations composed."""
    if isinstance(spec, ParallelSpec):
        return ParallelSpec(tuple(fuse_activations(c) for c in spec.children))
    if not isinstance(spec, SerialSpec):
        return spec
    flat = _pushed_into_branches(_spliced(spec.children))
    fused: list[Any] = []
    run: list[Any] = []
    for child in flat + [None]:
        if isinstance(child, ActivationSpec):
            run.append(child.module)
            continue
        if run:
            fused.append(ActivationSpec(compose(run)))
            run = []
        if child is not None:
            fused.append(fuse_activations(child))
    return SerialSpec(tuple(fused))


def _spliced(children: tuple[Any, ...]) -> list[Any]:
    flat: list[Any] = []
    for child in children:
        if isinstance(child, SerialSpec):
            flat.extend(_spliced(child.children))
        else:
            flat.append(child)
    return flat


def _pushed_into_branches(flat: list[Any]) -> list[Any]:
    """[..., s, FanOut(n), parallel(b1..bn), ...] -> [..., FanOut(n), parallel(s b1, ...), ...]."""
    out: list[Any] = []
    for child in flat:
        out.append(child)
        if isinstance(child, ParallelSpec) and len(out) >= 2 and isinstance(out[-2], FanOutSpec):
            start = len(out) - 2
            while start > 0 and isinstance(out[start - 1], ActivationSpec):
                start -= 1
            run = out[start : len(out) - 2]
            if run:
                branches = tuple(SerialSpec((*run, b)) for b in child.children)
                out[start:] = [out[-2], ParallelSpec(branches)]
    return out

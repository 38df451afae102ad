"""Runs of activations in a spec tree, fused: s1 then s2 with no layer between is one s2(s1(x)).

In the infinite-width limit an activation's input is Gaussian only right after a weight
layer, so two activations in a row are one activation of the composed expression. The exact
interpreter does this lazily (``KernelState.pending``); interpreters that plan ahead (the
variances, the sketched features) read the tree with each run fused into one ActivationSpec.
"""

from __future__ import annotations

from typing import Any

from dualcalc.runtime.elementwise import compose
from dualcalc.runtime.specs import ActivationSpec, SerialSpec


def fuse_activations(spec: Any) -> Any:
    """The same network with nested serials spliced and each run of activations composed."""
    if not isinstance(spec, SerialSpec):
        return spec
    flat: list[Any] = []
    for child in spec.children:
        child = fuse_activations(child)
        flat.extend(child.children if isinstance(child, SerialSpec) else (child,))
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
            fused.append(child)
    return SerialSpec(tuple(fused))

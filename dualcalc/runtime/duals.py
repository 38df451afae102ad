"""The runtime's one door to the compile stage: activation text -> compiled ``Dual``.

The runtime computes with dual modules handed to it and never imports sympy or the compiler
at module level. Where a layer is given text (``nn.Activation("gelu")``) or two activations
in a row must become one (s2(s1(x))), ``compile_text`` and ``compose`` import the compile
stage on first use (``_compile_stage``): a network of loaded modules never pays for sympy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from dualcalc.runtime.dual import Dual, as_dual


def _compile_stage() -> ModuleType:
    """``dualcalc.compiler``, imported on first use (it loads sympy and the symbolic engine)."""
    import dualcalc.compiler  # lazy: the only import of the compile stage from the runtime

    return dualcalc.compiler


def resolve(spec: Any) -> Dual:
    """The ``Dual`` of ``spec``: a text is compiled (``compile_text``), a module is read and
    checked (``runtime.dual.as_dual``: a missing function is refused here, by name)."""
    if isinstance(spec, str):
        return compile_text(spec)
    return as_dual(spec)


@functools.lru_cache(maxsize=256)
def compile_text(text: str) -> Dual:
    """The dual of an activation text (loaded, or derived and generated if needed)."""
    return as_dual(_compile_stage().load(text))


def composed_text(modules: Sequence[Any]) -> str:
    """Activation-language text of s_n(...s_2(s_1(x))) for modules applied in order."""
    return _compile_stage().composition.composed_text([m.EXPRESSION for m in modules])


def compose(modules: Sequence[Any]) -> Dual:
    """One dual for several activations applied in a row."""
    if len(modules) == 1:
        return modules[0]
    return compile_text(composed_text(modules))

"""Two activations in a row as one: the text of s_n(...s_2(s_1(x))) from the modules' texts.

In the infinite-width limit a layer of s1 followed by a layer of s2 (no Dense between) is the
single activation s2(s1(x)); its dual is compiled like any other text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from dualcalc.codegen.slug import language_text
from dualcalc.expression.symbols import X


def expression_of(text: str | sp.Expr) -> sp.Expr:
    """The sympy expression of a dual's EXPRESSION (trusted canonical text it was built from)."""
    if isinstance(text, sp.Expr):
        return text
    return sp.sympify(text, locals={"x": X, "Heaviside": sp.Heaviside})


def composed_text(expressions: Sequence[str | sp.Expr]) -> str:
    """Activation-language text of s_n(...s_2(s_1(x))) for expressions applied in order."""
    expr = X
    for text in expressions:
        expr = expression_of(text).subs(X, expr)
    return language_text(expr)

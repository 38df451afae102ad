"""Cross terms E[f(u) g(v)] of two term classes and the bilinear sum over all of them."""

from __future__ import annotations

import sympy as sp

from dualcalc.errors import NoClosedFormError
from dualcalc.expression.symbols import Q1, Q2

from .arccosine import rectified_moment
from .gaussian import isserlis, tilted_orthant_derivative, tilted_orthant_parts
from .terms import TermClass


def cross_expectation(f: TermClass, g: TermClass) -> tuple[sp.Expr, str]:
    """E[f(u) g(v)] for term classes f, g, and the name of the base rule used."""
    if f.is_polynomial and g.is_polynomial:
        value = sum((cf * cg * isserlis(i, j) for i, cf in f.poly for j, cg in g.poly), sp.S.Zero)
        return value, "isserlis"
    if _is_rectified_polynomial(f) and _is_rectified_polynomial(g):
        value = sum(
            (cf * cg * rectified_moment(i, j) for i, cf in f.poly for j, cg in g.poly), sp.S.Zero
        )
        return value, "arc-cosine"
    both = f.indicator is not None and g.indicator is not None
    if both and not (f.b.is_real and g.b.is_real):
        raise NoClosedFormError(
            f"cross term E[({f.as_expr()})(u) ({g.as_expr()})(v)]: two indicators with an "
            "oscillating factor need a bivariate normal CDF at complex arguments"
        )
    parts = tilted_orthant_parts(f.a, g.a, f.indicator, g.indicator)
    value = sp.S.Zero
    for i, cf in f.poly:
        for j, cg in g.poly:
            value += cf * cg * tilted_orthant_derivative(parts, i, j, (f.b, g.b))
    value = value.xreplace(parts.values)
    has_indicator = f.indicator is not None or g.indicator is not None
    rule = "tilted orthant" if has_indicator else "gaussian mgf"
    return value, rule


def swap_variances(expr: sp.Expr) -> sp.Expr:
    """E[g(u) f(v)] from E[f(u) g(v)]: exchange q1 and q2."""
    return expr.xreplace({Q1: Q2, Q2: Q1})


def _is_rectified_polynomial(term: TermClass) -> bool:
    ind = term.indicator
    return term.a == 0 and term.b == 0 and ind is not None and ind.is_origin_step


__all__ = ["cross_expectation", "swap_variances"]

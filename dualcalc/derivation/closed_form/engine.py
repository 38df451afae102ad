"""Entry point of the closed-form engine: activation -> K, K' and the derivation steps."""

from __future__ import annotations

import sympy as sp

from dualcalc.derivation.budget import check_deadline
from dualcalc.errors import NoClosedFormError
from dualcalc.expression.activation import Activation
from dualcalc.expression.symbols import Q1, Q2, C, X

from .cross import cross_expectation, swap_variances
from .readable import readable
from .steps import ClosedForm, Step, make_step
from .terms import TermClass, decompose


def derive_closed_form(act: Activation) -> ClosedForm:
    """K(q1, q2, c) = E[s(u) s(v)] and K' = E[s'(u) s'(v)] in closed form, or NoClosedFormError."""
    steps: list[Step] = []
    nngp = dual_expectation(act.expr, steps, "K")
    jumps = discontinuities(act.expr)
    if jumps:
        where = ", ".join(str(r) for r in jumps)
        steps.append(
            make_step(
                "distributional derivative",
                f"s jumps at x = {where}: K' = E[s'(u) s'(v)] is a delta at the discontinuity "
                "(not a function)",
                sp.S.Zero,
            )
        )
        return ClosedForm(nngp, None, steps, derivative_is_distribution=True)
    steps.append(make_step("derivative", "s'(x), used for K' = E[s'(u) s'(v)]", act.derivative))
    dnngp = dual_expectation(act.derivative, steps, "K'")
    return ClosedForm(nngp, dnngp, steps)


def dual_expectation(expr: sp.Expr, steps: list[Step], label: str) -> sp.Expr:
    """E[s(u) s(v)] by bilinearity over the term classes of s, recording each rule."""
    classes = decompose(expr)
    steps.append(
        make_step(
            "decomposition",
            f"{label}: s = sum of {len(classes)} term class(es) P(x) exp(a x^2 + b x) I(x)",
            sp.Add(*(cls.as_expr() for cls in classes)),
        )
    )
    total = sp.S.Zero
    for i, f in enumerate(classes):
        for j in range(i, len(classes)):
            check_deadline()
            value, rule = cross_expectation(f, classes[j])
            steps.append(_cross_step(label, f, classes[j], rule, value))
            total += value if i == j else value + swap_variances(value)
    check_deadline()
    result = readable(total)
    if result.has(sp.I):
        raise NoClosedFormError(f"{label}: the complex terms did not recombine into a real form")
    text = f"{label} after recombination and simplification"
    steps.append(make_step("simplification", text, result))
    return result


def discontinuities(expr: sp.Expr) -> list[sp.Expr]:
    """Points r where s(x) jumps: the coefficient of Heaviside(x - r) does not vanish at r."""
    jumps = []
    for step in sorted(expr.atoms(sp.Heaviside), key=sp.default_sort_key):
        point = sp.solve(step.args[0], X)[0]
        jump = (expr.subs(step, 1) - expr.subs(step, 0)).subs(X, point)
        if sp.simplify(jump) != 0:
            jumps.append(point)
    return jumps


def _cross_step(label: str, f: TermClass, g: TermClass, rule: str, value: sp.Expr) -> Step:
    text = f"{label}: E[f(u) g(v)] for f = {f.as_expr()}, g = {g.as_expr()} by the {rule} rule"
    return make_step(rule, text, value)


__all__ = ["C", "Q1", "Q2", "derive_closed_form"]

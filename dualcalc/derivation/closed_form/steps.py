"""Records of a closed-form derivation: the Step list and the ClosedForm result."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One rule applied during a derivation, with its intermediate result."""

    rule: str
    description: str
    result: sp.Expr
    latex: str


def make_step(rule: str, description: str, result: sp.Expr) -> Step:
    """Build a Step, rendering its result with sympy's LaTeX printer."""
    return Step(rule=rule, description=description, result=result, latex=sp.latex(result))


@dataclass
class ClosedForm:
    """K = E[s(u) s(v)] and K' = E[s'(u) s'(v)] = dK/dc in the symbols q1, q2, c.

    ``dnngp`` is None when s jumps somewhere: K' is then a Dirac delta at the discontinuity
    (``derivative_is_distribution`` is True), not a function.
    """

    nngp: sp.Expr
    dnngp: sp.Expr | None
    steps: list[Step] = field(default_factory=list)
    derivative_is_distribution: bool = False

"""The Activation value: one canonical sympy expression s(x) plus how it was named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from dualcalc.expression.numeric import lambdify_numpy
from dualcalc.expression.pieces import piecewise_numpy
from dualcalc.expression.symbols import X

__all__ = ["Activation", "lambdify_numpy"]


@dataclass(frozen=True)
class Activation:
    """An activation s(x): canonical expression in the real symbol ``x``.

    Canonical form: decimals are exact rationals, ``abs``/``sign``/``max``/``min``/
    ``clip`` are rewritten with ``Heaviside(x - r)`` (Heaviside(0) = 1/2), every
    Heaviside argument is ``x - r`` with a number ``r``, and the sum is expanded
    into terms. Two spellings of the same function give equal ``expr``.
    """

    expr: sp.Expr
    name: str
    params: tuple[tuple[str, sp.Expr], ...] = field(default=())

    @property
    def text(self) -> str:
        """Canonical text of the expression: the key for caches and generated files."""
        return sp.sstr(self.expr, order="lex")

    @cached_property
    def kinks(self) -> tuple[float, ...]:
        """Sorted real points where s is not smooth (the roots of Heaviside arguments)."""
        points: set[float] = set()
        for h in self.expr.atoms(sp.Heaviside):
            arg = sp.expand(h.args[0])
            if arg.free_symbols - {X}:
                continue
            poly = sp.Poly(arg, X) if arg.is_polynomial(X) else None
            if poly is None or poly.degree() < 1:
                raise ValueError(f"Heaviside argument {arg} is not a polynomial in x")
            for root in poly.nroots(n=30):
                if abs(sp.im(root)) < 1e-25:
                    points.add(float(sp.re(root)))
        return tuple(sorted(points))

    @cached_property
    def numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        """Vectorised float64 evaluation of s with numpy, one smooth piece at a time.

        Evaluating piece by piece avoids the cancellation of the Heaviside form
        (e.g. ``exp(x) - exp(x)*Heaviside(x)`` for large x).
        """
        return piecewise_numpy(self)

    @cached_property
    def derivative(self) -> sp.Expr:
        """s'(x) away from the kinks (Dirac deltas at the kinks are dropped)."""
        return sp.diff(self.expr, X).replace(sp.DiracDelta, lambda *a: sp.S.Zero)

    def __str__(self) -> str:
        return self.name

"""The Activation value: one canonical sympy expression s(x) plus how it was named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from dualcalc.expression.symbols import X


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
        from dualcalc.expression.pieces import piecewise_numpy

        return piecewise_numpy(self)

    @cached_property
    def derivative(self) -> sp.Expr:
        """s'(x) away from the kinks (Dirac deltas at the kinks are dropped)."""
        return sp.diff(self.expr, X).replace(sp.DiracDelta, lambda *a: sp.S.Zero)

    def __str__(self) -> str:
        return self.name


def lambdify_numpy(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    """Compile an expression in x to a broadcasting numpy function returning float64.

    Where float64 is not finite at a finite x, the point is evaluated again in numpy's long
    double (80-bit on x86: exponents to about 11356 instead of 709): an intermediate that
    overflows float64, exp(2 x) in log(1 + exp(2 x)) or in its derivative
    2 exp(2 x) / (1 + exp(2 x)), then no longer spoils a value that float64 can hold.
    """
    heaviside = {"Heaviside": lambda a, h0=0.5: np.heaviside(a, h0)}
    fn = sp.lambdify(X, expr, modules=[heaviside, "scipy", "numpy"])
    wide = sp.lambdify(X, expr, modules=[heaviside, "numpy"])

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = np.broadcast_to(np.asarray(fn(x), dtype=np.float64), x.shape).copy()
            redo = ~np.isfinite(out) & np.isfinite(x)
            if np.any(redo):
                out[redo] = _long_double(wide, x[redo])
        return out

    return evaluate


def _long_double(fn: Callable, x: np.ndarray) -> np.ndarray:
    """fn at x in long double, rounded to float64 (inf / nan where it is not finite there,
    or where fn needs functions numpy has no long-double version of)."""
    try:
        value = np.asarray(fn(x.astype(np.longdouble)))
    except (TypeError, AttributeError, NameError):
        return np.full(x.shape, np.nan)
    if value.dtype.kind not in "fi":
        return np.full(x.shape, np.nan)
    return np.broadcast_to(value.astype(np.float64), x.shape)

"""Elementary functions of the activation language, each as a sympy builder.

Non-smooth functions are written with the Heaviside step so that every later
stage sees one representation:  max(a, b) = b + (a - b) H(a - b),
|a| = a (2 H(a) - 1), sign(a) = 2 H(a) - 1, Phi(a) = (1 + erf(a / sqrt 2)) / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from dualcalc.errors import ExpressionError

Builder = Callable[..., sp.Expr]


def heaviside(a: sp.Expr) -> sp.Expr:
    """Unit step H(a), with H(0) = 1/2."""
    return sp.Heaviside(a)


def maximum(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """max(a, b) = b + (a - b) H(a - b)."""
    return b + (a - b) * heaviside(a - b)


def minimum(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """min(a, b) = a - (a - b) H(a - b)."""
    return a - (a - b) * heaviside(a - b)


def absolute(a: sp.Expr) -> sp.Expr:
    """|a| = a (2 H(a) - 1)."""
    return a * (2 * heaviside(a) - 1)


def sign(a: sp.Expr) -> sp.Expr:
    """sign(a) = 2 H(a) - 1 (zero at a = 0)."""
    return 2 * heaviside(a) - 1


def clip(a: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """clip(a, lo, hi) = max(min(a, hi), lo) for constants lo < hi."""
    for bound, label in ((lo, "lower"), (hi, "upper")):
        if not bound.is_number:
            raise ExpressionError(f"clip: the {label} bound must be a number, got {bound}")
    if not bool(lo < hi):
        raise ExpressionError(f"clip: the lower bound {lo} must be below the upper bound {hi}")
    return maximum(minimum(a, hi), lo)


def normal_cdf(a: sp.Expr) -> sp.Expr:
    """Standard normal CDF Phi(a) = (1 + erf(a / sqrt 2)) / 2."""
    return (1 + sp.erf(a / sp.sqrt(2))) / 2


@dataclass(frozen=True)
class Elementary:
    """An elementary function: its name, how many arguments it takes and its builder."""

    name: str
    arity: int
    build: Builder
    description: str


ELEMENTARY: dict[str, Elementary] = {
    f.name: f
    for f in (
        Elementary("exp", 1, sp.exp, "exponential e^a"),
        Elementary("log", 1, sp.log, "natural logarithm"),
        Elementary("sqrt", 1, sp.sqrt, "square root"),
        Elementary("sin", 1, sp.sin, "sine"),
        Elementary("cos", 1, sp.cos, "cosine"),
        Elementary("tanh", 1, sp.tanh, "hyperbolic tangent"),
        Elementary("erf", 1, sp.erf, "error function"),
        Elementary("erfc", 1, sp.erfc, "complementary error function"),
        Elementary("abs", 1, absolute, "absolute value"),
        Elementary("sign", 1, sign, "sign, 0 at 0"),
        Elementary("step", 1, heaviside, "Heaviside step, 1/2 at 0"),
        Elementary("min", 2, minimum, "smaller of two values"),
        Elementary("max", 2, maximum, "larger of two values"),
        Elementary("clip", 3, clip, "clip(a, lo, hi): a limited to [lo, hi]"),
        Elementary("Phi", 1, normal_cdf, "standard normal CDF"),
    )
}

#: Constants of the language.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}

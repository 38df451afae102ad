"""Smooth pieces of an activation: s cut at its kinks, and accurate piecewise evaluation.

The canonical expression writes kinked activations with Heaviside steps, e.g. selu's
``exp(x) - exp(x)*Heaviside(x)``; evaluated as written this cancels catastrophically
for large x (e^134 - e^134). Replacing each Heaviside by its constant value on every
interval between kinks gives smooth expressions that evaluate accurately. Numerical
integrators (the oracle, the Hermite engine) evaluate activations through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import mpmath
import numpy as np
import sympy as sp

from dualcalc.expression.numeric import lambdify_numpy
from dualcalc.expression.symbols import X

if TYPE_CHECKING:
    from dualcalc.expression.activation import Activation


@dataclass(frozen=True)
class SmoothPiece:
    """s on the open interval (lo, hi) of x (infinite ends allowed) as a smooth expression."""

    lo: float
    hi: float
    expr: sp.Expr


def interior_point(lo: float, hi: float) -> float:
    """A point strictly inside (lo, hi): the midpoint, or 1 inside a finite end."""
    if math.isinf(lo) and math.isinf(hi):
        return 0.0
    if math.isinf(lo):
        return hi - 1.0
    if math.isinf(hi):
        return lo + 1.0
    return 0.5 * (lo + hi)


@lru_cache(maxsize=256)
def smooth_pieces(act: Activation, derivative: bool = False) -> tuple[SmoothPiece, ...]:
    """s (or s' when ``derivative``) cut at the kinks into smooth pieces, in order."""
    bounds = [-math.inf, *act.kinks, math.inf]
    atoms = list(act.expr.atoms(sp.Heaviside))
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        mid = interior_point(lo, hi)
        subs = {h: sp.S.One if float(h.args[0].subs(X, mid)) > 0 else sp.S.Zero for h in atoms}
        expr = act.expr.xreplace(subs)
        if derivative:
            expr = sp.diff(expr, X)
        pieces.append(SmoothPiece(lo, hi, sp.expand(expr)))
    return tuple(pieces)


@lru_cache(maxsize=256)
def piecewise_numpy(
    act: Activation, derivative: bool = False
) -> Callable[[np.ndarray], np.ndarray]:
    """Accurate vectorised float64 s(x) (or s'(x) away from the kinks), piece by piece.

    At a kink the mean of the two one-sided values is returned (Heaviside(0) = 1/2).
    """
    pieces = smooth_pieces(act, derivative)
    functions = [lambdify_numpy(p.expr) for p in pieces]
    kinks = np.asarray(act.kinks, dtype=np.float64)
    if kinks.size == 0:
        return functions[0]

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        index = np.searchsorted(kinks, x, side="right")
        out = np.empty(x.shape)
        for i, fn in enumerate(functions):
            mask = index == i
            if np.any(mask):
                out[mask] = fn(x[mask])
        for j, kink in enumerate(kinks):
            at = x == kink
            if np.any(at):
                left, right = functions[j](x[at]), functions[j + 1](x[at])
                out[at] = 0.5 * (left + right)
        return out

    return evaluate


@lru_cache(maxsize=64)
def piecewise_mpmath(act: Activation) -> Callable:
    """s(x) for an mpmath number x, piece by piece (mean of both sides at a kink)."""
    pieces = smooth_pieces(act)
    functions = [sp.lambdify(X, p.expr, modules="mpmath") for p in pieces]
    kinks = list(act.kinks)

    def evaluate(x):
        value = float(x)
        index = sum(1 for k in kinks if value >= k)
        if index > 0 and value == kinks[index - 1]:
            return (functions[index - 1](x) + functions[index](x)) / 2
        return functions[index](x)

    return evaluate


def jump_points(act: Activation) -> tuple[float, ...]:
    """Kinks where s itself jumps (step, sign): there s' has a Dirac part."""
    pieces = smooth_pieces(act)
    jumps = []
    with mpmath.workdps(30):
        for i, k in enumerate(act.kinks):
            left = complex(sp.N(pieces[i].expr.subs(X, k), 30))
            right = complex(sp.N(pieces[i + 1].expr.subs(X, k), 30))
            if abs(left - right) > 1e-12 * (1.0 + abs(left)):
                jumps.append(k)
    return tuple(jumps)

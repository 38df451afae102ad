"""Where an activation is defined: arguments of log, sqrt and fractional powers on the real line.

sympy simplifies as it builds (``exp(log(x))`` is ``x``, ``sqrt(x)**2`` is ``x``), so an
expression that is undefined for x < 0 as written can reach a canonical form that is
defined everywhere. The parser records every argument a of log(a), sqrt(a) and a**p with a
non-integer p, and ``negative_point`` finds a real x with a(x) < 0: a numpy scan of
[-40, 40] proposes candidates, a 30-digit sympy evaluation confirms them (no rounding
artefact is ever reported).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from dualcalc.expression.numeric import lambdify_numpy
from dualcalc.expression.symbols import X

#: Scan of the real line for negative arguments.
_GRID = np.unique(np.concatenate([np.linspace(-40.0, 40.0, 8001), np.linspace(-1e-3, 1e-3, 201)]))
#: Candidates confirmed exactly (integers nearest 0 first, the simplest to report).
_CONFIRMED = 5


def negative_point(arg: sp.Expr) -> float | None:
    """A real x with arg(x) < 0 (confirmed to 30 digits), or None when none is found."""
    if not arg.has(X):
        return None

    try:
        values = lambdify_numpy(arg)(_GRID)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, NameError):
        return None
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(values < 0)
    points = _GRID[candidates]
    simple = np.lexsort((np.abs(points), points != np.round(points)))  # small integers first
    for index in candidates[simple][:_CONFIRMED]:
        point = float(_GRID[index])
        exact = sp.N(arg.subs(X, sp.Rational(point)), 30)
        if exact.is_real and exact.is_negative:
            return point
    return None


__all__ = ["negative_point"]

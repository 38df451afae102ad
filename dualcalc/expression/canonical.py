"""Canonical form of an activation: s = s_0 + sum_i H(x - r_i) Delta_i(x), steps at numbers r_i.

Spellings of one function meet in this form (``relu`` and ``max(x, 0)``,
``abs(x)`` and ``max(x, -x)``), so caches and generated files are keyed by meaning.
The form is the piecewise description of s: s_0 on the left of every kink r_i and
a smooth jump Delta_i added at each kink.
"""

from __future__ import annotations

import sympy as sp

from dualcalc.errors import ExpressionError
from dualcalc.expression.functions import absolute, maximum, minimum, sign
from dualcalc.expression.symbols import X

#: Largest number of real sign changes accepted inside one step/abs/max argument.
MAX_ROOTS = 8


def canonicalize(expr: sp.Expr) -> sp.Expr:
    """Canonical expanded form of an expression in x with normalised Heaviside steps."""
    expr = _rewrite_nonsmooth(expr)
    expr = _normalise_steps(expr)
    return _piecewise_normal_form(expr)


def _rewrite_nonsmooth(expr: sp.Expr) -> sp.Expr:
    """Abs, sign, Max and Min that sympy may create are rewritten with Heaviside."""
    return (
        expr.replace(sp.Abs, absolute)
        .replace(sp.sign, sign)
        .replace(sp.Max, lambda *a: _fold(maximum, a))
        .replace(sp.Min, lambda *a: _fold(minimum, a))
    )


def _fold(fn, args):
    out = args[0]
    for a in args[1:]:
        out = fn(out, a)
    return out


def kink_of(step: sp.Heaviside) -> sp.Expr | None:
    """r when the step is H(x - r) with a number r, else None."""
    r = X - step.args[0]
    return r if r.is_number and r.is_real else None


def _normalise_steps(expr: sp.Expr) -> sp.Expr:
    """Rewrite every H(g) as a combination of H(x - r), innermost first."""
    while True:
        pending = [h for h in expr.atoms(sp.Heaviside) if kink_of(h) is None]
        if not pending:
            return expr
        innermost = next(
            h for h in pending if all(kink_of(g) is not None for g in h.args[0].atoms(sp.Heaviside))
        )
        expr = expr.xreplace({innermost: _rewrite_step(innermost.args[0])})


def _rewrite_step(g: sp.Expr) -> sp.Expr:
    """H(g) as a combination of normalised steps H(x - r)."""
    g = sp.expand(g)
    if g.is_number:
        return _step_of_number(g)
    if g.atoms(sp.Heaviside):
        return _split_on_inner_kinks(g)
    if g.free_symbols - {X}:
        raise ExpressionError(f"step argument {g} depends on symbols other than x")
    if g.is_polynomial(X) and sp.degree(g, X) == 1:
        a, b = sp.Poly(g, X).all_coeffs()
        shifted = sp.Heaviside(X + b / a)
        return shifted if a > 0 else 1 - shifted
    return _indicator_of_positive(g)


def _step_of_number(g: sp.Expr) -> sp.Expr:
    value = sp.N(g, 30)
    if value == 0:
        return sp.S.Half
    return sp.S.One if value > 0 else sp.S.Zero


def _split_on_inner_kinks(g: sp.Expr) -> sp.Expr:
    """H(g) where g itself contains steps: one H(g_i) per interval between g's kinks."""
    kinks = _sorted_kinks(g)
    pieces = _pieces(g, kinks)
    out = sp.S.Zero
    for i, piece in enumerate(pieces):
        left = sp.S.One if i == 0 else sp.Heaviside(X - kinks[i - 1])
        right = sp.S.Zero if i == len(kinks) else sp.Heaviside(X - kinks[i])
        out += (left - right) * sp.Heaviside(piece)
    return out


def _indicator_of_positive(g: sp.Expr) -> sp.Expr:
    """1[g(x) > 0] from the real roots and poles of g and its sign between them."""
    _, denominator = sp.fraction(sp.together(g))
    points = sorted(
        {float(r): r for r in (*_real_zeros(g), *_real_zeros(denominator))}.values(),
        key=lambda r: float(r),
    )
    if len(points) > MAX_ROOTS:
        raise ExpressionError(
            f"cannot locate the kinks of a step/abs/max/min whose argument is {g}: "
            f"only arguments with at most {MAX_ROOTS} real roots and poles are supported"
        )
    probes = _probe_points(points)
    out = sp.S.Zero
    for i, probe in enumerate(probes):
        value = sp.N(g.subs(X, probe), 30)
        if not (value.is_real and value.is_finite):
            raise ExpressionError(f"cannot find where {g} changes sign (it is {value} at {probe})")
        if value <= 0:
            continue
        left = sp.S.One if i == 0 else sp.Heaviside(X - points[i - 1])
        right = sp.S.Zero if i == len(points) else sp.Heaviside(X - points[i])
        out += left - right
    return out


def _real_zeros(g: sp.Expr) -> list[sp.Expr]:
    """The real zeros of g (none when g is constant in x)."""
    if not g.has(X):
        return []
    try:
        roots = sp.solveset(g, X, domain=sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError) as exc:
        raise ExpressionError(f"cannot find where {g} changes sign") from exc
    if roots is sp.S.EmptySet:
        return []
    if not isinstance(roots, sp.FiniteSet) or len(roots) > MAX_ROOTS:
        raise ExpressionError(
            f"cannot locate the kinks of a step/abs/max/min whose argument is {g}: "
            f"only arguments with at most {MAX_ROOTS} real roots are supported"
        )
    return [r for r in roots if r.is_real]


def _probe_points(points: list[sp.Expr]) -> list[sp.Expr]:
    if not points:
        return [sp.S.Zero]
    inner = [(a + b) / 2 for a, b in zip(points, points[1:], strict=False)]
    return [points[0] - 1, *inner, points[-1] + 1]


def _sorted_kinks(expr: sp.Expr) -> list[sp.Expr]:
    unique: dict[float, sp.Expr] = {}
    for h in expr.atoms(sp.Heaviside):
        r = kink_of(h)
        if r is not None:
            unique.setdefault(float(r), sp.nsimplify(r) if r.is_Float else r)
    return [unique[k] for k in sorted(unique)]


def _pieces(expr: sp.Expr, kinks: list[sp.Expr]) -> list[sp.Expr]:
    """The smooth function expr equals on each interval between consecutive kinks."""
    steps = [h for h in expr.atoms(sp.Heaviside) if kink_of(h) is not None]
    pieces = []
    for i in range(len(kinks) + 1):
        values = {h: (sp.S.One if _is_left_of(kink_of(h), kinks, i) else sp.S.Zero) for h in steps}
        pieces.append(expr.xreplace(values))
    return pieces


def _is_left_of(r: sp.Expr, kinks: list[sp.Expr], interval: int) -> bool:
    """True when kink r lies left of interval ``interval`` (so H(x - r) = 1 there)."""
    return interval > 0 and float(r) <= float(kinks[interval - 1])


def _piecewise_normal_form(expr: sp.Expr) -> sp.Expr:
    """s_0 + sum_i H(x - r_i) (s_i - s_{i-1}) with each piece expanded; zero jumps dropped."""
    kinks = _sorted_kinks(expr)
    if not kinks:
        return sp.expand(expr)
    pieces = [sp.expand(p) for p in _pieces(expr, kinks)]
    out = pieces[0]
    for r, left, right in zip(kinks, pieces, pieces[1:], strict=False):
        jump = sp.expand(right - left)
        if jump != 0:
            out += sp.expand(sp.Heaviside(X - r) * jump)
    return out

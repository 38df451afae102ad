"""Targeted rewrites that make derived kernels readable without a global simplify().

Pipeline: merge exponentials, recombine complex-conjugate pairs into real functions
(exp(i y) -> cos y + i sin y, Phi(i y) -> 1/2 + i erfi(y/sqrt2)/2 with erfi written through
Dawson's function, then the real part), split square roots of
quotients with a positive denominator (sqrt(1 - c^2/P) -> sqrt(P - c^2)/sqrt(P)), and finally
group terms by their transcendental and radical factors with each rational coefficient factored.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from dualcalc.derivation.budget import check_deadline
from dualcalc.derivation.special import BivariateNormalCDF, Dawson, NormalCDF

_TRANSCENDENTAL = (
    sp.exp,
    sp.asin,
    sp.acos,
    sp.atan,
    sp.erf,
    sp.erfi,
    sp.erfc,
    BivariateNormalCDF,
    NormalCDF,
    Dawson,
)


def readable(expr: sp.Expr) -> sp.Expr:
    """Real, grouped and tidied form of a derived kernel expression."""
    expr = _expand(expr)
    check_deadline()
    if expr.has(sp.I):
        expr = _expand(_real_part(expr))
        check_deadline()
    expr = _expand(_split_roots(expr))
    check_deadline()
    return _merge_exponentials(_group(expr))


def _expand(expr: sp.Expr) -> sp.Expr:
    """Distribute products over sums (numerators only), then merge each term's exponentials."""
    return _merge_exponentials(_expand_numerators(expr))


def _expand_numerators(expr: sp.Expr) -> sp.Expr:
    """sympy's expand with every negative power of a sum held fixed.

    Expanding denominators multiplies them out with every other factor of the term
    (1/(pi (a + b)^2 sqrt(a + b)) -> 1/(pi a^2 sqrt(a + b) + ...)): sums that are slow to
    factor back and grow with the polynomial degree. They are tidied one base at a time
    later (``_flat_factors``).
    """
    # sorted: the dummies' creation order decides sympy's term order, so it must not follow
    # set iteration (string hashes change with every process)
    powers = sorted(expr.atoms(sp.Pow), key=sp.default_sort_key)
    held = {p: sp.Dummy("den") for p in powers if p.base.is_Add and p.exp.is_negative}
    if not held:
        return sp.expand(expr, power_exp=False)
    expanded = sp.expand(expr.xreplace(held), power_exp=False)
    return expanded.xreplace({d: p for p, d in held.items()})


def _merge_exponentials(expr: sp.Expr) -> sp.Expr:
    """exp(a) exp(b) -> exp(a + b) term by term, with the exponent expanded."""
    terms = [sp.powsimp(t, combine="exp") for t in sp.Add.make_args(expr)]
    merged = sp.Add(*terms)
    return merged.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(_tidy(e.args[0])))


@lru_cache(maxsize=4096)
def _tidy(arg: sp.Expr) -> sp.Expr:
    """A rational expression over one factored denominator (memoised)."""
    return sp.factor(sp.together(sp.expand(arg)))


def _real_part(expr: sp.Expr) -> sp.Expr:
    """Re(expr) for an expression in real symbols, via cos/sin and erfi rewrites."""
    expr = expr.replace(
        lambda e: isinstance(e, sp.erf) and _is_imaginary(e.args[0]),
        lambda e: sp.I * _stable_erfi(sp.expand(e.args[0] / sp.I)),
    )
    expr = expr.replace(
        lambda e: isinstance(e, NormalCDF) and _is_imaginary(e.args[0]),
        lambda e: sp.S.Half + sp.I * _stable_erfi(sp.expand(e.args[0] / (sp.I * sp.sqrt(2)))) / 2,
    )
    expr = expr.replace(
        lambda e: isinstance(e, sp.erfc) and _is_imaginary(e.args[0]),
        lambda e: 1 - sp.I * _stable_erfi(sp.expand(e.args[0] / sp.I)),
    )
    expr = expr.replace(
        lambda e: isinstance(e, sp.exp) and e.args[0].has(sp.I),
        lambda e: _complex_exp(e.args[0]),
    )
    expr = sp.expand(expr, power_exp=False)
    conjugate = expr.xreplace({sp.I: -sp.I})
    return sp.expand((expr + conjugate) / 2)


def _stable_erfi(x: sp.Expr) -> sp.Expr:
    """erfi(x) = 2/sqrt(pi) exp(x^2) D(x): the exp merges with the kernel's own decaying exp."""
    return 2 / sp.sqrt(sp.pi) * sp.exp(x**2) * Dawson(x)


def _is_imaginary(arg: sp.Expr) -> bool:
    real, imag = sp.expand(arg).as_real_imag()
    return real == 0 and imag != 0


def _complex_exp(arg: sp.Expr) -> sp.Expr:
    """exp(x + i y) = exp(x) (cos y + i sin y) for real x, y."""
    real, imag = sp.expand(arg).as_real_imag()
    return sp.exp(real) * (sp.cos(imag) + sp.I * sp.sin(imag))


def _split_roots(expr: sp.Expr) -> sp.Expr:
    """(n/d)^(k/2) -> n^(k/2) d^(-k/2) when d is positive; bases factored."""

    def split(power: sp.Pow) -> sp.Expr:
        num, den = _split_base(power.base)
        return sp.Pow(num, power.exp) * sp.Pow(den, -power.exp)

    return expr.replace(
        lambda e: (
            isinstance(e, sp.Pow)
            and e.exp.is_Rational
            and e.exp.q == 2
            and bool(e.base.free_symbols)
        ),
        split,
    )


@lru_cache(maxsize=4096)
def _split_base(base: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """base = num / den with den positive (den = 1 when that cannot be shown)."""
    base = _tidy(base)
    num, den = sp.fraction(base)
    if den != 1 and den.is_positive:
        return num, den
    return base, sp.S.One


def _group(expr: sp.Expr) -> sp.Expr:
    """Sum of (factored rational coefficient) x (transcendental and radical factors)."""
    groups: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(expr):
        coef, key = _split_factors(term)
        groups[key] = groups.get(key, sp.S.Zero) + coef
    out = []
    for key, coef in groups.items():
        check_deadline()
        coef = sp.factor(_reduced_fraction(coef))
        if coef != 0:
            out.append(coef * key)
    return sp.Add(*out)


def _reduced_fraction(coef: sp.Expr) -> sp.Expr:
    """A sum of rational terms as one fraction N / D in lowest terms (D a product of powers).

    The terms share a few denominator bases (2 q1 + 1, the tilted determinant, ...), so the
    common denominator is their least common multiple, and the numerator is summed and then
    divided by each base as long as the division is exact, in sympy's sparse polynomial
    ring. ``sympy.cancel`` instead expands the whole numerator as an expression and runs a
    multivariate gcd: minutes for the kernel of x^5 erf(x), against seconds here.
    Terms that are not polynomial over their denominators fall back to ``sympy.cancel``.
    """
    try:
        return _reduced_fraction_in_ring(coef)
    except (sp.PolynomialError, sp.polys.polyerrors.CoercionFailed, ValueError, TypeError):
        return sp.cancel(sp.together(coef))


def _reduced_fraction_in_ring(coef: sp.Expr) -> sp.Expr:
    """``_reduced_fraction`` in the sparse ring over QQ (raises when a term is not polynomial)."""
    parts: list[tuple[sp.Expr, dict[sp.Expr, int]]] = []
    common: dict[sp.Expr, int] = {}
    for term in sp.Add.make_args(coef):
        numerator, denominator = sp.fraction(term)
        powers: dict[sp.Expr, int] = {}
        for factor in sp.Mul.make_args(denominator):
            base, exp = factor.as_base_exp()
            if base.is_Rational:
                numerator /= factor
                continue
            if not exp.is_Integer:
                base, exp = factor, sp.S.One
            powers[base] = powers.get(base, 0) + int(exp)
        for base, exp in powers.items():
            common[base] = max(common.get(base, 0), exp)
        parts.append((numerator, powers))
    symbols = sorted(coef.free_symbols, key=sp.default_sort_key)
    constants = {
        a
        for n, powers in parts
        for a in (*sp.Mul.make_args(n), *powers)
        if not a.free_symbols and not a.is_Rational
    }
    gens = [*symbols, *sorted(constants, key=sp.default_sort_key)]
    if not gens:
        return sp.cancel(sp.together(coef))
    ring, *_ = sp.polys.rings.ring(gens, sp.QQ)
    bases = {b: ring.from_expr(b) for b in common}
    total = ring.zero
    for numerator, powers in parts:
        value = ring.from_expr(numerator)
        for base, exp in common.items():
            if exp > powers.get(base, 0):
                value *= bases[base] ** (exp - powers.get(base, 0))
        total += value
    remaining = []
    for base, exp in common.items():
        while exp > 0 and total != 0:
            quotient, remainder = total.div([bases[base]])
            if remainder != 0:
                break
            total, exp = quotient[0], exp - 1
        remaining.append(base**exp)
    return total.as_expr() / sp.Mul(*remaining)


def _flat_factors(term: sp.Expr) -> list[sp.Expr]:
    """Factors of a product, with sums in denominators factored into their own factors."""
    out = []
    for factor in sp.Mul.make_args(term):
        base, exp = factor.as_base_exp()
        if base.is_Add and exp.is_negative:
            out += [sp.Pow(b, exp) for b in sp.Mul.make_args(_tidy(base))]
        else:
            out.append(factor)
    return out


def _split_factors(term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """term -> (rational coefficient, product of transcendental and half-power factors)."""
    coef, key = sp.S.One, sp.S.One
    for factor in _flat_factors(term):
        base, exp = factor.as_base_exp()
        if isinstance(factor, _TRANSCENDENTAL) or (
            isinstance(factor, sp.Function) and not factor.is_number
        ):
            key *= factor
        elif exp.is_Rational and exp.q == 2 and base.free_symbols:
            whole = sp.floor(exp)
            coef *= base**whole
            key *= sp.sqrt(base)
        else:
            coef *= factor
    return coef, key

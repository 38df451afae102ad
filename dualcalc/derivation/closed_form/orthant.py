"""Partial derivatives of the orthant probabilities 1, Phi(H) and Phi2(H, K; R), in closed form.

Each derivative is a combination of four atoms with coefficients rational in H, K, R:

    Phi2(H, K; R),   A = phi(H) Phi((K - R H) / s),   B = phi(K) Phi((H - R K) / s),
    P = phi2(H, K; R) = exp(-(H^2 - 2 R H K + K^2) / (2 s^2)) / (2 pi s),   s = sqrt(1 - R^2),

(one variable: Phi(H) and phi(H)) and the rules that close the set are

    d_H Phi2 = A,  d_K Phi2 = B,  d_H A = -H A - R P,  d_K A = P,  d_H B = P,
    d_K B = -K B - R P,  d_H P = -(H - R K) / s^2 P,  d_K P = -(K - R H) / s^2 P;
    d_H Phi = phi,  d_H phi = -H phi.

Differentiating the composed sympy expression instead nests products of exponentials and
square roots whose size grows geometrically with the order; here the size stays four
coefficients, each a polynomial in H, K, R and 1 / s^2.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from dualcalc.derivation.special import BivariateNormalCDF, normal_cdf, normal_pdf

#: Abstract arguments of the orthant probability F(H, K).
H, K = sp.symbols("H K")
#: Stands for 1 / (1 - R^2) inside the coefficients, so they stay polynomials.
_W = sp.Symbol("W")

_ONE_VARIABLE = ("cdf", "pdf")
_TWO_VARIABLES = ("bvn", "a", "b", "p")


def atoms(correlation: sp.Expr) -> dict[str, sp.Expr]:
    """The atoms as sympy expressions in H, K and the correlation R."""
    root = sp.sqrt(1 - correlation**2)
    quad = (H**2 - 2 * correlation * H * K + K**2) / (2 * (1 - correlation**2))
    return {
        "cdf": normal_cdf(H),
        "pdf": normal_pdf(H),
        "bvn": BivariateNormalCDF(H, K, correlation),
        "a": normal_pdf(H) * normal_cdf((K - correlation * H) / root),
        "b": normal_pdf(K) * normal_cdf((H - correlation * K) / root),
        "p": sp.exp(-quad) / (2 * sp.pi * root),
    }


def orthant_derivative(variables: int, correlation: sp.Expr, p: int, r: int) -> sp.Expr:
    """d^p/dH^p d^r/dK^r of 1 (variables 0), Phi(H) (1) or Phi2(H, K; R) (2), R = correlation."""
    if variables == 0:
        return sp.S.One if p == r == 0 else sp.S.Zero
    if variables == 1 and r > 0:
        return sp.S.Zero
    coefficients = _coefficients(variables, correlation, p, r)
    table = atoms(correlation)
    inverse_gram = {_W: 1 / (1 - correlation**2)}
    return sp.Add(*(c.xreplace(inverse_gram) * table[name] for name, c in coefficients if c != 0))


@lru_cache(maxsize=1024)
def _coefficients(
    variables: int, correlation: sp.Expr, p: int, r: int
) -> tuple[tuple[str, sp.Expr], ...]:
    """Coefficients of the atoms in the (p, r) derivative, built one derivative at a time."""
    names = _ONE_VARIABLE if variables == 1 else _TWO_VARIABLES
    if p == 0 and r == 0:
        return tuple((name, sp.S.One if name in ("cdf", "bvn") else sp.S.Zero) for name in names)
    if r > 0:
        previous, wrt = _coefficients(variables, correlation, p, r - 1), K
    else:
        previous, wrt = _coefficients(variables, correlation, p - 1, r), H
    out = dict.fromkeys(names, sp.S.Zero)
    for name, coef in previous:
        if coef == 0:
            continue
        out[name] += sp.diff(coef, wrt)
        for target, factor in _atom_derivative(name, wrt, correlation):
            out[target] += coef * factor
    return tuple((name, sp.expand(out[name])) for name in names)


def _atom_derivative(name: str, wrt: sp.Symbol, rho: sp.Expr) -> tuple[tuple[str, sp.Expr], ...]:
    """d(atom)/d(wrt) as (atom, factor) pairs (the rules in the module docstring)."""
    by_h = wrt == H
    rules = {
        "cdf": (("pdf", sp.S.One),),
        "pdf": (("pdf", -H),),
        "bvn": (("a", sp.S.One),) if by_h else (("b", sp.S.One),),
        "a": (("a", -H), ("p", -rho)) if by_h else (("p", sp.S.One),),
        "b": (("p", sp.S.One),) if by_h else (("b", -K), ("p", -rho)),
        "p": (("p", -(H - rho * K) * _W),) if by_h else (("p", -(K - rho * H) * _W),),
    }
    return rules[name]


__all__ = ["H", "K", "atoms", "orthant_derivative"]

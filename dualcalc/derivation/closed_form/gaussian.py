"""Base Gaussian integrals of term-class pairs: the tilted orthant master formula.

For a centred pair (u, v) with covariance Sigma = [[q1, c], [c, q2]] and A = diag(a1, a2),

    G(t) = E[exp(a1 u^2 + a2 v^2 + t1 u + t2 v) I1(u) I2(v)]
         = det(I - 2 Sigma A)^(-1/2) exp(t' S t / 2) P(l1 > 0, l2 > 0),

with S = (Sigma^-1 - 2A)^-1 the tilted covariance, mean mu = S t, and each indicator
I(x) = P(w < alpha x + beta) written as l = alpha x + beta - w, so the probability is an orthant
probability of a Gaussian pair: 1, Phi(m / s) or Phi2(m1 / s1, m2 / s2; r). Polynomial factors
are derivatives in t (moment generating function); sin/cos are complex t.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import sympy as sp

from dualcalc.derivation.budget import check_deadline
from dualcalc.derivation.special import BivariateNormalCDF, normal_cdf
from dualcalc.expression.symbols import Q1, Q2, C

from .orthant import H, K, orthant_derivative
from .terms import Indicator

#: Tilt parameters (the linear coefficients of the exponent) of u and v.
T1, T2 = sp.symbols("t1 t2")


#: Placeholders for the pieces of G, so derivatives in t stay small until they are filled in.
_S11, _S12, _S22, _M1, _M2, _V1, _V2, _R = sp.symbols("S11 S12 S22 M1 M2 V1 V2 R")


@lru_cache(maxsize=256)
def tilted_orthant(a1: sp.Expr, a2: sp.Expr, ind1: Indicator | None, ind2: Indicator | None):
    """G(t1, t2) = E[exp(a1 u^2 + a2 v^2 + t1 u + t2 v) I1(u) I2(v)] as a sympy expression."""
    template, values = tilted_orthant_template(a1, a2, ind1, ind2)
    return template.xreplace(values)


@lru_cache(maxsize=256)
def tilted_orthant_template(
    a1: sp.Expr, a2: sp.Expr, ind1: Indicator | None, ind2: Indicator | None
) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]]:
    """G(t1, t2) written with placeholder symbols, and the placeholders' values in q1, q2, c."""
    parts = tilted_orthant_parts(a1, a2, ind1, ind2)
    return parts.scale * parts.mgf * parts.probability_at_t(), parts.values


class OrthantParts(NamedTuple):
    """G(t) = scale exp(t' S t / 2) F(A_1(t), A_2(t)), each A_i(t) affine in (t1, t2).

    F is the orthant probability of ``len(args)`` latent variables: 1, Phi(A_1) or
    Phi2(A_1, A_2; R). Everything is written with placeholder symbols whose values in
    q1, q2, c are ``values``.
    """

    scale: sp.Expr
    mgf: sp.Expr
    args: tuple[sp.Expr, ...]
    values: dict[sp.Symbol, sp.Expr]

    def probability_at_t(self) -> sp.Expr:
        """F(A_1(t), A_2(t)) as an expression in t1, t2."""
        if len(self.args) == 0:
            return sp.S.One
        if len(self.args) == 1:
            return normal_cdf(self.args[0])
        return BivariateNormalCDF(self.args[0], self.args[1], _R)


@lru_cache(maxsize=256)
def tilted_orthant_parts(
    a1: sp.Expr, a2: sp.Expr, ind1: Indicator | None, ind2: Indicator | None
) -> OrthantParts:
    """The factors of G(t1, t2) = E[exp(a1 u^2 + a2 v^2 + t1 u + t2 v) I1(u) I2(v)]."""
    gram = Q1 * Q2 - C**2
    det = sp.expand((1 - 2 * a1 * Q1) * (1 - 2 * a2 * Q2) - 4 * a1 * a2 * C**2)
    numerators = {1: sp.expand(Q1 - 2 * a2 * gram), 2: sp.expand(Q2 - 2 * a1 * gram)}
    values = {_S11: numerators[1] / det, _S22: numerators[2] / det, _S12: C / det}
    mgf = sp.exp((_S11 * T1**2 + 2 * _S12 * T1 * T2 + _S22 * T2**2) / 2)
    scale = sp.S.One if det == 1 else 1 / sp.sqrt(det)
    mu = {1: _S11 * T1 + _S12 * T2, 2: _S12 * T1 + _S22 * T2}
    latent = [(i, ind) for i, ind in ((1, ind1), (2, ind2)) if ind is not None]
    args, roots = [], {}
    for i, ind in latent:
        m_sym, v_sym = (_M1, _V1) if i == 1 else (_M2, _V2)
        # Var(l) = (alpha^2 n_i + noise det) / det; det > 0 wherever the integral exists.
        roots[i] = sp.sqrt(sp.factor(ind.alpha**2 * numerators[i] + ind.noise * det))
        values[v_sym] = roots[i] / sp.sqrt(det) if det != 1 else roots[i]
        values[m_sym] = ind.beta
        args.append((ind.alpha * mu[i] + m_sym) / v_sym)
    if len(args) == 2:
        values[_R] = latent[0][1].alpha * latent[1][1].alpha * C / (roots[1] * roots[2])
    return OrthantParts(scale, mgf, tuple(args), values)


def tilted_orthant_derivative(parts: OrthantParts, i: int, j: int, t: tuple) -> sp.Expr:
    """d^i/dt1^i d^j/dt2^j G at t = (t1, t2), by Leibniz's rule on the factors of G.

    The exponential gives exp(t' S t / 2) P_km(t) with a polynomial P_km; F(A(t)) has affine
    arguments, so its derivatives are the partial derivatives F_(p, r) of F(H, K)
    (``orthant.orthant_derivative``: four atoms with rational coefficients) times constant
    slopes. Differentiating the composed product directly grows geometrically with i + j.
    """
    if i == 0 and j == 0:
        at = dict(zip((T1, T2), t, strict=True))
        return (parts.scale * parts.mgf * parts.probability_at_t()).subs(at)
    at = dict(zip((T1, T2), t, strict=True))
    at_args = {h: a.xreplace(at) for h, a in zip((H, K), parts.args, strict=False)}
    weights: dict[tuple[int, int], sp.Expr] = {}
    for k in range(i + 1):
        for m in range(j + 1):
            poly = _mgf_polynomial(k, m).xreplace(at)
            if poly == 0:
                continue
            outer = sp.binomial(i, k) * sp.binomial(j, m) * poly
            for pr, coef in _chain_rule(parts.args, i - k, j - m):
                weights[pr] = weights.get(pr, sp.S.Zero) + outer * coef
    total = sp.S.Zero
    for (p, r), weight in sorted(weights.items()):
        check_deadline()
        weight = sp.expand(weight)
        if weight != 0:
            derivative = orthant_derivative(len(parts.args), _R, p, r).xreplace(at_args)
            total += weight * derivative
    return parts.scale * parts.mgf.xreplace(at) * total


@lru_cache(maxsize=1024)
def _mgf_polynomial(k: int, m: int) -> sp.Expr:
    """P_km(t) with d^k/dt1^k d^m/dt2^m exp(t' S t / 2) = exp(t' S t / 2) P_km(t)."""
    if k == 0 and m == 0:
        return sp.S.One
    if m > 0:
        prev, mu, var = _mgf_polynomial(k, m - 1), _S12 * T1 + _S22 * T2, T2
    else:
        prev, mu, var = _mgf_polynomial(k - 1, m), _S11 * T1 + _S12 * T2, T1
    return sp.expand(sp.diff(prev, var) + mu * prev)


@lru_cache(maxsize=1024)
def _chain_rule(
    args: tuple[sp.Expr, ...], i: int, j: int
) -> tuple[tuple[tuple[int, int], sp.Expr], ...]:
    """d^i/dt1^i d^j/dt2^j F(A(t)) = sum c_pr F_(p, r): the (p, r) and c_pr (A affine in t).

    With D_n = sum_l dA_l/dt_n d/dA_l, the operator is D_1^i D_2^j, a polynomial in the
    commuting d/dH, d/dK whose coefficients are products of the constant slopes of A.
    """
    if not args:
        return (((0, 0), sp.S.One),) if i == 0 and j == 0 else ()
    dh, dk = sp.symbols("dH dK")
    ops = (dh, dk)
    d1 = sum((sp.diff(a, T1) * op for a, op in zip(args, ops, strict=False)), sp.S.Zero)
    d2 = sum((sp.diff(a, T2) * op for a, op in zip(args, ops, strict=False)), sp.S.Zero)
    poly = sp.Poly(sp.expand(d1**i * d2**j), dh, dk)
    return tuple(((int(p), int(r)), coef) for (p, r), coef in poly.terms())


def isserlis(n: int, m: int) -> sp.Expr:
    """E[u^n v^m] by Isserlis/Wick: sum_k C(n,k) C(m,k) k! c^k (n-k-1)!! q1^.. (m-k-1)!! q2^.."""
    total = sp.S.Zero
    for k in range(min(n, m) + 1):
        if (n - k) % 2 or (m - k) % 2:
            continue
        total += (
            sp.binomial(n, k)
            * sp.binomial(m, k)
            * sp.factorial(k)
            * C**k
            * sp.factorial2(n - k - 1)
            * Q1 ** ((n - k) // 2)
            * sp.factorial2(m - k - 1)
            * Q2 ** ((m - k) // 2)
        )
    return total

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

import sympy as sp

from dualcalc.derivation.special import BivariateNormalCDF, normal_cdf
from dualcalc.expression.symbols import Q1, Q2, C

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
    if len(args) == 0:
        prob = sp.S.One
    elif len(args) == 1:
        prob = normal_cdf(args[0])
    else:
        values[_R] = latent[0][1].alpha * latent[1][1].alpha * C / (roots[1] * roots[2])
        prob = BivariateNormalCDF(args[0], args[1], _R)
    return scale * mgf * prob, values


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

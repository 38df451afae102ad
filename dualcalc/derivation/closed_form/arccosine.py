"""Rectified moments E[H(u) H(v) u^m v^n]: generalised arc-cosine kernels (Cho & Saul 2009).

With (u, v) = (sqrt(q1) <w, e1>, sqrt(q2) <w, e2>), w ~ N(0, I_2) and angle theta = arccos(rho)
between e1 and e2, polar coordinates give

    E[H(u) H(v) u^m v^n] = q1^(m/2) q2^(n/2) E[r^(m+n)] / (2 pi)
                           * int_{theta - pi/2}^{pi/2} cos(phi)^m cos(phi - theta)^n dphi,

with E[r^k] = 2^(k/2) Gamma(1 + k/2). The angular integral is done exactly on the Laurent
polynomial in z = exp(i phi); the result is a polynomial in c and sqrt(q1 q2 - c^2) plus
(pi - theta) times a polynomial, theta = acos(c / sqrt(q1 q2)).
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from dualcalc.expression.symbols import Q1, Q2, C

_Z = sp.Symbol("z")
_W = sp.Symbol("w")
_WBAR = sp.Symbol("wbar")


@lru_cache(maxsize=64)
def rectified_moment(m: int, n: int) -> sp.Expr:
    """E[H(u) H(v) u^m v^n] for the centred pair with covariance [[q1, c], [c, q2]]."""
    theta = sp.Symbol("theta", positive=True)
    cos_t, sin_t = sp.symbols("cos_t sin_t", real=True)
    laurent = sp.expand(((_Z + 1 / _Z) / 2) ** m * ((_Z * _WBAR + _W / _Z) / 2) ** n)
    upper = sp.I
    integral = sp.S.Zero
    for term in sp.Add.make_args(laurent):
        coef, power = _split_power(term)
        if power == 0:
            integral += coef * (sp.pi - theta)
        else:
            lower_power = (-sp.I) ** power * (_W**power if power > 0 else _WBAR ** (-power))
            integral += coef * (upper**power - lower_power) / (sp.I * power)
    integral = sp.expand(integral.subs(_W * _WBAR, 1))
    integral = sp.expand(integral.xreplace({_W: cos_t + sp.I * sin_t, _WBAR: cos_t - sp.I * sin_t}))
    real_part = sp.expand((integral + integral.xreplace({sp.I: -sp.I})) / 2)
    radial = 2 ** sp.Rational(m + n, 2) * sp.gamma(1 + sp.Rational(m + n, 2))
    root = sp.sqrt(Q1 * Q2)
    gram_root = sp.sqrt(Q1 * Q2 - C**2)
    value = real_part.subs({cos_t: C / root, sin_t: gram_root / root})
    value = value.subs(theta, sp.acos(C / root))
    value = Q1 ** sp.Rational(m, 2) * Q2 ** sp.Rational(n, 2) * radial * value / (2 * sp.pi)
    return sp.expand(value)


def _split_power(term: sp.Expr) -> tuple[sp.Expr, int]:
    """coef * z^k -> (coef, k)."""
    coef, rest = term.as_independent(_Z, as_Add=False)
    if rest == 1:
        return coef, 0
    base, exp = rest.as_base_exp()
    return coef, int(exp)

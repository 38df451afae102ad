"""Growth is judged from the asymptotics: softplus-like activations (finite kernels at every
variance, even though exp(b x) overflows float64 inside them) are derived and match
independent quadrature at large variances; exp(a x^2) is refused; exp(10 x) is refused with
the variance where its kernel overflows float64.

Oracles: mpmath 1-D quadrature (c = 0: K = E[s(u)] E[s(v)]; rho = +-1: one Gaussian for both
inputs) and scipy's adaptive 2-D QUADPACK rule inside (|rho| < 1), neither of which is the
Hermite engine's composite Gauss-Legendre / Mehler machinery. The 2-D rule agrees with
mpmath's 2-D tanh-sinh quadrature to 1e-14 at these points (checked once, too slow to keep).
"""

from __future__ import annotations

import math

import mpmath
import pytest
from scipy import integrate

import dualcalc
from dualcalc.derivation.integrability import LOG_FLOAT64_MAX, asymptotic_growth
from dualcalc.errors import DerivationError

#: Relative agreement with the oracles, in units of the Cauchy-Schwarz scale (the Hermite
#: route's default degree meets 1e-10 of the tail at q = 1; the kernels use direct quadrature
#: wherever the truncated series cannot certify 1e-11).
TOLERANCE = 1e-9


def _softplus(beta: float, scale: float):
    """(x -> log(1 + exp(beta x)) / scale) for mpmath and for floats (stable form), and s'."""

    def mp(x):
        return mpmath.log1p(mpmath.exp(beta * x)) / scale

    def fl(x):
        y = beta * x
        return (max(y, 0.0) + math.log1p(math.exp(-abs(y)))) / scale

    def slope(x):
        return beta / scale / (1 + mpmath.exp(-beta * x))

    return mp, fl, slope


def _swish(beta: float):
    def mp(x):
        return x / (1 + mpmath.exp(-beta * x))

    def fl(x):
        return x / (1 + math.exp(-beta * x)) if beta * x > -700 else 0.0

    def slope(x):
        sigma = 1 / (1 + mpmath.exp(-beta * x))
        return sigma + beta * x * sigma * (1 - sigma)

    return mp, fl, slope


CASES = {
    "softplus(2*x)": _softplus(2.0, 1.0),
    "log(1 + exp(2*x))/2": _softplus(2.0, 2.0),
    "log(1 + exp(3*x))": _softplus(3.0, 1.0),
    "log(1 + exp(4*x))/4": _softplus(4.0, 4.0),
    "x*sigmoid(3*x)": _swish(3.0),
}


def _gauss(f, q: float, sign: float = 1.0, g=None):
    """E[f(sqrt(q) z) g(sign sqrt(q2) z)]-style 1-D integrals by mpmath (g defaults to 1)."""
    root = mpmath.sqrt(q)

    def integrand(z):
        value = f(root * z) * mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)
        return value if g is None else value * g(z)

    return mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])


def _edge(f, q1: float, q2: float, sign: float) -> float:
    """K at rho = sign: E[s(sqrt(q1) z) s(sign sqrt(q2) z)]."""
    root2 = mpmath.sqrt(q2)
    return float(_gauss(f, q1, g=lambda z: f(sign * root2 * z)))


def _inside(f, q1: float, q2: float, c: float) -> float:
    """K at |rho| < 1 by scipy's adaptive 2-D rule on z in [-12, 12]^2 (mass outside < 1e-32)."""
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    rho = c / (r1 * r2)
    tau = math.sqrt(1 - rho * rho)

    def integrand(z2, z1):
        weight = math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)
        return f(r1 * z1) * f(r2 * (rho * z1 + tau * z2)) * weight

    return integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=0, epsrel=1e-12)[0]


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    text = request.param
    return text, dualcalc.derive(text), *CASES[text]


def test_derived_and_matches_quadrature_at_large_variances(case) -> None:
    text, derivation, mp_f, float_f, _ = case
    with mpmath.workdps(20):
        scale = {q: _edge(mp_f, q, q, 1.0) for q in (0.7, 1.9, 180.0, 250.0)}
        expected = {
            (250.0, 250.0, 250.0): scale[250.0],
            (250.0, 180.0, -math.sqrt(250.0 * 180.0)): _edge(mp_f, 250.0, 180.0, -1.0),
            (250.0, 0.7, 0.0): float(_gauss(mp_f, 250.0) * _gauss(mp_f, 0.7)),
        }
    expected[(250.0, 180.0, -0.6 * math.sqrt(250.0 * 180.0))] = _inside(
        float_f, 250.0, 180.0, -0.6 * math.sqrt(250.0 * 180.0)
    )
    expected[(0.7, 1.9, 0.4 * math.sqrt(0.7 * 1.9))] = _inside(
        float_f, 0.7, 1.9, 0.4 * math.sqrt(0.7 * 1.9)
    )
    for (q1, q2, c), value in expected.items():
        got = float(derivation.kernel(q1, q2, c))
        bound = math.sqrt(scale[q1] * scale[q2])
        assert abs(got - value) <= TOLERANCE * bound, (text, q1, q2, c, got, value)


def test_ntk_factor_on_the_edge_at_the_largest_variance(case) -> None:
    """K'(q, q, q) = E[s'(u)^2] at q = 250 against mpmath (s' differentiated by hand)."""
    text, derivation, _, _, slope = case
    with mpmath.workdps(20):
        expected = float(_gauss(lambda x: slope(x) ** 2, 250.0))
    got = float(derivation.dkernel(250.0, 250.0, 250.0))
    assert got == pytest.approx(expected, rel=TOLERANCE), text


@pytest.mark.parametrize(
    "text, side, quadratic, linear",
    [
        ("softplus(2*x)", 1, 0.0, 0.0),  # log(s^2) ~ 2 log x: sub-exponential
        ("softplus(2*x)", -1, 0.0, -4.0),  # s ~ exp(-2 |x|)
        ("exp(10*x)", 1, 0.0, 20.0),
        ("exp(x**2)", 1, 2.0, None),
    ],
)
def test_asymptotic_growth_rates(text: str, side: int, quadratic: float, linear) -> None:
    """log s(x)^2 ~ quadratic x^2 + linear |x| as x -> side * inf, by hand."""
    growth = asymptotic_growth(dualcalc.parse(text), side)
    assert growth is not None
    assert growth.quadratic == quadratic and growth.linear == linear


def test_gaussian_growth_refused() -> None:
    with pytest.raises(DerivationError, match=r"grows like exp\(a x\^2\)"):
        dualcalc.derive("exp(x**2)")


def test_fast_exponential_reports_where_it_overflows() -> None:
    """E[exp(20 u)] = exp(200 q) leaves float64 at q = log(max float) / 200 = 3.55."""
    with pytest.raises(DerivationError) as info:
        dualcalc.derive("exp(10*x)")
    message = str(info.value)
    reported = float(message.split("above about ")[1].split(",")[0])
    assert reported == pytest.approx(LOG_FLOAT64_MAX / 200, rel=0.02)

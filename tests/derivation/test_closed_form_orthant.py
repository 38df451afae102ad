"""Derivatives of the orthant probabilities, the fraction reduction of the simplifier, and
polynomial x probit activations (whose symbolic search used to run for many minutes)."""

from __future__ import annotations

import time

import mpmath
import pytest
import sympy as sp

from dualcalc.compiler.compile import derive
from dualcalc.compiler.verify import VERIFY_TOLERANCE, verification_points
from dualcalc.derivation.closed_form import derive_closed_form
from dualcalc.derivation.closed_form.orthant import H, K, orthant_derivative
from dualcalc.derivation.closed_form.readable import _reduced_fraction
from dualcalc.derivation.quadrature import (
    dkernel_scale,
    dual_dkernel_oracle,
    dual_kernel_oracle,
    kernel_scale,
)
from dualcalc.derivation.special import NUMPY_FUNCTIONS
from dualcalc.expression.parser import parse
from dualcalc.expression.symbols import Q1, Q2, C

#: (h, k, rho) probes: signs mixed, |rho| away from 1 so the finite differences stay accurate.
PROBES = [("0.3", "-0.7", "0.4"), ("-1.1", "0.5", "-0.6"), ("0", "0.9", "0.2")]
ORDERS = [(1, 0), (0, 1), (1, 1), (2, 0), (2, 1), (3, 0), (1, 2)]


def _bvn(h, k, rho):
    """Phi2 by Plackett's identity, integrated numerically with mpmath (the oracle)."""

    def density(r):
        one = 1 - r * r
        return mpmath.exp(-(h * h - 2 * r * h * k + k * k) / (2 * one)) / (
            2 * mpmath.pi * mpmath.sqrt(one)
        )

    return mpmath.ncdf(h) * mpmath.ncdf(k) + mpmath.quad(density, [0, rho])


@pytest.mark.parametrize("order", ORDERS)
def test_bivariate_orthant_derivatives_match_numerical_differentiation(order) -> None:
    """d^p/dh^p d^r/dk^r Phi2(h, k; rho) against mpmath's numerical derivative of the
    integrated Phi2 at 30 digits (its error there is far below the 1e-18 asked)."""
    p, r = order
    rho_symbol = sp.Symbol("rho")
    expr = orthant_derivative(2, rho_symbol, p, r)
    with mpmath.workdps(30):
        for probe in PROBES:
            h, k, rho = (sp.Rational(v) for v in probe)
            ours = mpmath.mpf(str(sp.N(expr.subs({H: h, K: k, rho_symbol: rho}), 30)))
            hm, km, rhom = (mpmath.mpf(v) for v in probe)
            oracle = mpmath.diff(lambda a, b, rhom=rhom: _bvn(a, b, rhom), (hm, km), (p, r))
            assert abs(ours - oracle) < 1e-18


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_univariate_orthant_derivatives_are_hermite_times_density(p: int) -> None:
    """d^p/dh^p Phi(h) = (-1)^(p-1) He_(p-1)(h) phi(h) (probabilists' Hermite polynomial)."""
    ours = orthant_derivative(1, sp.S.Zero, p, 0)
    published = (
        (-1) ** (p - 1) * sp.hermite_prob(p - 1, H) * sp.exp(-(H**2) / 2) / sp.sqrt(2 * sp.pi)
    )
    assert sp.simplify(ours - published) == 0
    assert orthant_derivative(1, sp.S.Zero, p, 1) == 0
    assert orthant_derivative(0, sp.S.Zero, 0, 0) == 1


def test_reduced_fraction_equals_sympys_cancel() -> None:
    """The ring-based reduction gives the same rational function as sympy.cancel, in lowest
    terms (the common factor (2 q1 + 1) is divided out)."""
    d = -4 * C**2 + 4 * Q1 * Q2 + 2 * Q1 + 2 * Q2 + 1
    coef = (
        3 * C**2 / (sp.pi * (2 * Q1 + 1) ** 2 * d)
        + 6 * Q1 * C**2 / (sp.pi * (2 * Q1 + 1) ** 2 * d)
        - Q2 / (sp.pi * d**2)
        + sp.sqrt(2) * Q1 / (2 * Q2 + 1)
    )
    ours = _reduced_fraction(coef)
    assert sp.cancel(ours - coef) == 0
    _, den = sp.fraction(sp.factor(ours))
    assert sp.degree(den, Q1) == 1 + 2  # (2 q1 + 1) once, d twice (degree 1 in q1 each)


def test_reduced_fraction_falls_back_on_non_polynomial_terms() -> None:
    coef = Q1 / (Q1 + 1) + sp.sqrt(Q1) / (Q1 + 1)
    assert sp.cancel(_reduced_fraction(coef) - coef) == 0


@pytest.mark.slow
@pytest.mark.parametrize("text", ["x**3*erf(x)", "Phi(x)*x**3"])
def test_polynomial_times_probit_has_a_closed_form_found_quickly(text: str) -> None:
    """These ran for many minutes (sympy.cancel of an Add multiplied every denominator
    together; the composed derivative grew geometrically). The engine's K and K' are checked
    against the 2-D quadrature oracle at the verification points (relative to the
    Cauchy-Schwarz scale, the tolerance derive() uses); the time bound is generous for a
    shared CI machine (about 3 s here). derive() then ends, within its budget, in the closed
    form or in the Hermite route with the reason stated."""
    activation = parse(text)
    start = time.perf_counter()
    form = derive_closed_form(activation)
    assert time.perf_counter() - start < 60
    kernel, dkernel = (
        sp.lambdify((Q1, Q2, C), e, modules=[NUMPY_FUNCTIONS, "scipy", "numpy"])
        for e in (form.nngp, form.dnngp)
    )
    for q1, q2, c in verification_points(8):
        scale = kernel_scale(activation, q1, q2)
        assert abs(kernel(q1, q2, c) - dual_kernel_oracle(activation, q1, q2, c)) <= (
            VERIFY_TOLERANCE * scale
        )
        dscale = dkernel_scale(activation, q1, q2)
        assert abs(dkernel(q1, q2, c) - dual_dkernel_oracle(activation, q1, q2, c)) <= (
            VERIFY_TOLERANCE * dscale
        )
    derivation = derive(text)
    assert derivation.closed_form or derivation.reason

"""The quadrature oracle against published closed forms (MATH.md), and its error handling."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy.special import erf

from dualcalc import parse
from dualcalc.derivation.quadrature import (
    dual_dkernel_oracle,
    dual_kernel_oracle,
    gaussian_expectation,
    gaussian_pair_expectation,
    hermite_coefficients_mp,
    is_discontinuous,
    kernel_scale,
)
from dualcalc.errors import DerivationError, DualcalcError

VARIANCES = [(0.01, 0.01), (0.01, 50.0), (1.0, 1.0), (7.0, 0.3), (50.0, 50.0)]
RHOS = [-1.0, -0.999, -0.5, 0.0, 0.3, 0.9, 0.999, 1.0]


def _theta(q1, q2, c):
    return math.acos(max(-1.0, min(1.0, c / math.sqrt(q1 * q2))))


def relu_kernel(q1, q2, c):
    """Arc-cosine kernel of order 1 (Cho & Saul)."""
    t = _theta(q1, q2, c)
    return math.sqrt(q1 * q2) * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)


def erf_kernel(q1, q2, c):
    """(2/pi) arcsin(2c / sqrt((1 + 2 q1)(1 + 2 q2)))."""
    return 2 / math.pi * math.asin(2 * c / math.sqrt((1 + 2 * q1) * (1 + 2 * q2)))


def sin_kernel(q1, q2, c, b=1.3, g=0.4):
    """E[sin(b u + g) sin(b v + g)] = exp(-b^2 (q1+q2)/2) [exp(b^2 c) - exp(-b^2 c) cos 2g] / 2."""
    return (
        0.5
        * math.exp(-b * b * (q1 + q2) / 2)
        * (math.exp(b * b * c) - math.exp(-b * b * c) * math.cos(2 * g))
    )


def exp_kernel(q1, q2, c, a=0.7, b=-0.4):
    """E[exp(a u) exp(b v)] = exp((a^2 q1 + 2 a b c + b^2 q2) / 2)."""
    return math.exp((a * a * q1 + 2 * a * b * c + b * b * q2) / 2)


CASES = {
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: np.maximum(x, 0.0), (0.0,), relu_kernel),
    "erf": (erf, erf, (), erf_kernel),
    "sin": (
        lambda x: np.sin(1.3 * x + 0.4),
        lambda x: np.sin(1.3 * x + 0.4),
        (),
        sin_kernel,
    ),
    "exp": (lambda x: np.exp(0.7 * x), lambda x: np.exp(-0.4 * x), (), exp_kernel),
}


def _scale(f, g, q1, q2, kinks):
    m1 = gaussian_expectation(lambda x: f(x) ** 2, q1, kinks)
    m2 = gaussian_expectation(lambda x: g(x) ** 2, q2, kinks)
    return math.sqrt(m1 * m2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pair_expectation_matches_closed_forms(name):
    f, g, kinks, exact = CASES[name]
    worst = 0.0
    for q1, q2 in VARIANCES:
        scale = _scale(f, g, q1, q2, kinks)
        for rho in RHOS:
            c = rho * math.sqrt(q1 * q2)
            value = gaussian_pair_expectation(f, g, q1, q2, c, kinks, kinks)
            worst = max(worst, abs(value - exact(q1, q2, c)) / scale)
    assert worst < 1e-12, worst


def test_shifted_kinks_step_pair():
    """E[H(u - a) H(v - b)] is a bivariate normal orthant probability (mpmath reference)."""
    a, b, q1, q2 = 0.7, -1.1, 2.0, 0.5
    for rho in (-0.9999, -0.6, 0.2, 0.99, 0.9999):
        c = rho * math.sqrt(q1 * q2)
        got = gaussian_pair_expectation(
            lambda x: np.heaviside(x - a, 0.5),
            lambda x: np.heaviside(x - b, 0.5),
            q1,
            q2,
            c,
            (a,),
            (b,),
        )
        h, k = a / math.sqrt(q1), b / math.sqrt(q2)
        # P(Z1 > h, Z2 > k) = int_h^inf phi(z) Q((k - rho z) / sqrt(1 - rho^2)) dz.
        s = math.sqrt(1 - rho * rho)
        edge = k / rho  # where the conditional probability switches, on the scale s
        points = sorted({h, *(p for p in (edge - s, edge, edge + s) if p > h)}) + [mpmath.inf]
        with mpmath.workdps(30):
            ref = mpmath.quad(
                lambda z, k=k, rho=rho, s=s: mpmath.npdf(z) * mpmath.ncdf(-(k - rho * z) / s),
                points,
            )
        assert abs(got - float(ref)) < 1e-12, (rho, got, float(ref))


def test_one_dimensional_expectation():
    assert abs(gaussian_expectation(lambda x: x**4, 3.0) - 27.0) < 1e-12
    assert abs(gaussian_expectation(np.exp, 50.0) - math.exp(25.0)) < 1e-13 * math.exp(25.0)
    got = gaussian_expectation(lambda x: np.maximum(x - 1.0, 0.0), 2.0, (1.0,))
    s, t = math.sqrt(2.0), 1.0 / math.sqrt(2.0)
    exact = s * math.exp(-t * t / 2) / math.sqrt(2 * math.pi) - 0.5 * math.erfc(t / math.sqrt(2))
    assert abs(got - exact) < 1e-14


def test_activation_oracles():
    relu, step = parse("relu"), parse("step")
    for q1, q2, rho in [(0.3, 2.0, 0.4), (5.0, 5.0, -0.999), (1.0, 4.0, 1.0)]:
        c = rho * math.sqrt(q1 * q2)
        assert abs(dual_kernel_oracle(relu, q1, q2, c) - relu_kernel(q1, q2, c)) < 1e-13 * 2
        # Price: K'_relu = E[H(u) H(v)] = (pi - theta) / (2 pi).
        expected = (math.pi - _theta(q1, q2, c)) / (2 * math.pi)
        assert abs(dual_dkernel_oracle(relu, q1, q2, c) - expected) < 1e-13
        assert abs(dual_kernel_oracle(step, q1, q2, c) - expected) < 1e-13
    assert abs(kernel_scale(relu, 2.0, 8.0) - math.sqrt(2.0 * 8.0) / 2) < 1e-14


def test_selu_evaluated_without_cancellation():
    """selu's canonical form cancels exp(x) - exp(x) H(x); the oracle evaluates piecewise."""
    selu = parse("selu")
    value = dual_kernel_oracle(selu, 50.0, 50.0, 50.0)
    lam = 1.0507009873554804934193349852946
    alpha = 1.6732632423543772848170429916717
    # K(q, q, q) = E[selu(u)^2] = lam^2 (q/2 + alpha^2 E[(e^u - 1)^2 1(u < 0)]).
    neg = mpmath.quad(
        lambda z: mpmath.npdf(z) * (mpmath.exp(math.sqrt(50) * z) - 1) ** 2, [-mpmath.inf, 0]
    )
    exact = lam**2 * (25.0 + alpha**2 * float(neg))
    assert abs(value - exact) < 1e-13 * exact


def test_discontinuous_derivative_is_refused():
    for text in ("step", "sign", "relu(x) + step(x - 1)"):
        act = parse(text)
        assert is_discontinuous(act)
        with pytest.raises(DerivationError, match="Dirac"):
            dual_dkernel_oracle(act, 1.0, 1.0, 0.5)
    assert not is_discontinuous(parse("relu6"))


def test_bad_inputs():
    f = np.tanh
    with pytest.raises(DualcalcError, match="variance"):
        gaussian_pair_expectation(f, f, 0.0, 1.0, 0.0)
    with pytest.raises(DualcalcError, match="covariance"):
        gaussian_pair_expectation(f, f, 1.0, 1.0, 1.5)
    with pytest.raises(DualcalcError, match="finite"):
        gaussian_pair_expectation(f, f, 1.0, 1.0, float("nan"))
    with pytest.raises(DerivationError, match="not finite"):
        gaussian_expectation(lambda x: 1.0 / x, 1.0)
    with pytest.raises(DerivationError):
        gaussian_expectation(lambda x: np.exp(x * x), 1.0)


def test_hermite_coefficients_mp_against_closed_forms():
    q = 2.0
    sin_coeffs = hermite_coefficients_mp(parse("sin"), 25, q, dps=20)
    relu_coeffs = hermite_coefficients_mp(lambda x: max(x, 0), 25, q, dps=20, kinks=(0.0,))
    for k in range(26):
        # sin: E[e^(itz) h_k] = e^(-t^2/2) (it)^k / sqrt(k!), t = sqrt(q); take Im.
        sin_exact = (
            0.0
            if k % 2 == 0
            else (-1) ** ((k - 1) // 2)
            * math.exp(-q / 2)
            * q ** (k / 2)
            / math.sqrt(math.factorial(k))
        )
        assert abs(sin_coeffs[k] - sin_exact) < 1e-15
        # relu: a_0 = sqrt(q / 2pi), a_1 = sqrt(q) / 2, a_k = sqrt(q) phi(0) He_(k-2)(0) / sqrt(k!).
        if k == 0:
            relu_exact = math.sqrt(q / (2 * math.pi))
        elif k == 1:
            relu_exact = math.sqrt(q) / 2
        elif k % 2 == 1:
            relu_exact = 0.0
        else:
            m = (k - 2) // 2
            he0 = (-1) ** m * math.prod(range(1, 2 * m, 2))
            relu_exact = math.sqrt(q) * he0 / math.sqrt(2 * math.pi) / math.sqrt(math.factorial(k))
        assert abs(relu_coeffs[k] - relu_exact) < 1e-15, k

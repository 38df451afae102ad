"""The Hermite engine against the quadrature oracle, mpmath coefficients and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaln

from dualcalc import parse
from dualcalc.derivation.hermite import (
    HermiteDual,
    choose_degree,
    hermite_coefficients,
    hermite_tail,
)
from dualcalc.derivation.integrability import check_square_integrable
from dualcalc.derivation.quadrature import (
    dkernel_scale,
    dual_dkernel_oracle,
    dual_kernel_oracle,
    hermite_coefficients_mp,
    kernel_scale,
)
from dualcalc.errors import DerivationError, DualcalcError

TARGETS = [
    "tanh",
    "sigmoid",
    "softplus",
    "silu",
    "mish",
    "selu",
    "hardtanh",
    "relu6",
    "tanh(x) + 0.1*x",
    "cos(relu(x))",
]
POINTS = [
    (0.05, 0.05, 0.6),
    (0.05, 20.0, -0.3),
    (1.0, 1.0, 0.99),
    (20.0, 20.0, -0.99),
    (3.0, 0.5, 0.9),
]


@pytest.mark.parametrize("text", TARGETS)
def test_kernels_against_oracle(text):
    act = parse(text)
    dual = HermiteDual(act)
    for q1, q2, rho in POINTS + [(0.4, 7.0, 0.999), (20.0, 0.05, -0.999)]:
        c = rho * math.sqrt(q1 * q2)
        tol = 1e-9 if abs(rho) <= 0.99 else 1e-6
        k_err = abs(float(dual.kernel(q1, q2, c)) - dual_kernel_oracle(act, q1, q2, c))
        assert k_err / kernel_scale(act, q1, q2) < tol, (q1, q2, rho, k_err)
        d_err = abs(float(dual.dkernel(q1, q2, c)) - dual_dkernel_oracle(act, q1, q2, c))
        assert d_err / dkernel_scale(act, q1, q2) < tol, (q1, q2, rho, d_err)


def test_kernel_broadcasts():
    dual = HermiteDual(parse("tanh"))
    q1 = np.array([[0.5], [2.0]])
    c = np.array([-0.5, 0.0, 0.5])
    out = dual.kernel(q1, 1.0, c)
    assert out.shape == (2, 3)
    assert out[0, 1] == pytest.approx(float(dual.kernel(0.5, 1.0, 0.0)), abs=1e-15)


def _sin_exact(k, q):
    """a_k of sin(sqrt(q) z): Im[(i t)^k] e^(-t^2/2) / sqrt(k!), t = sqrt(q)."""
    if k % 2 == 0:
        return 0.0
    return (-1) ** ((k - 1) // 2) * math.exp(-q / 2 + k / 2 * math.log(q) - 0.5 * gammaln(k + 1))


def _relu_exact(k, q):
    """a_k of relu(sqrt(q) z): E[z+ He_k] = phi(0) He_(k-2)(0) for k >= 2."""
    if k == 0:
        return math.sqrt(q / (2 * math.pi))
    if k == 1:
        return math.sqrt(q) / 2
    if k % 2:
        return 0.0
    m = (k - 2) // 2
    # |He_2m(0)| = (2m-1)!! = (2m)! / (2^m m!)
    log_he = gammaln(2 * m + 1) - m * math.log(2) - gammaln(m + 1)
    magnitude = math.exp(log_he - 0.5 * gammaln(k + 1)) / math.sqrt(2 * math.pi)
    return (-1) ** m * math.sqrt(q) * magnitude


def _erf_exact(k, q):
    """a_k of erf(b z), b = sqrt(q): E[erf(bz) He_k] = (2b/sqrt pi) E[d^(k-1) e^(-b^2 z^2)]."""
    if k % 2 == 0:
        return 0.0
    m = (k - 1) // 2
    b2 = q
    g = b2 / (1 + 2 * b2)
    # E[e^(-b^2 z^2) He_2m] = (1 + 2b^2)^(-1/2) (2m)! (-g)^m / m!
    log_mag = gammaln(2 * m + 1) + m * math.log(g) - gammaln(m + 1) - 0.5 * gammaln(k + 1)
    return (-1) ** m * 2 * math.sqrt(b2 / math.pi) / math.sqrt(1 + 2 * b2) * math.exp(log_mag)


@pytest.mark.parametrize("q", [0.05, 1.0, 20.0])
def test_coefficients_degree_100_closed_forms(q):
    for text, exact in (("sin", _sin_exact), ("relu", _relu_exact), ("erf", _erf_exact)):
        got = hermite_coefficients(parse(text), 100, q)
        ref = np.array([exact(k, q) for k in range(101)])
        assert np.max(np.abs(got - ref)) < 1e-12, text


def test_coefficients_against_mpmath():
    for text, q in (("gelu", 3.0), ("tanh", 20.0), ("relu6", 0.5)):
        got = hermite_coefficients(parse(text), 100, q)
        ref = hermite_coefficients_mp(parse(text), 100, q, dps=18)
        assert np.max(np.abs(got - ref)) < 1e-12, text


def test_array_q_shape_and_exact_per_variance():
    act = parse("relu")
    q = np.array([0.3, 1.0, 4.0])
    coeffs = hermite_coefficients(act, 10, q)
    assert coeffs.shape == (3, 11)
    # relu is 1-homogeneous: a_k(q) = sqrt(q) a_k(1), exactly, per variance.
    np.testing.assert_allclose(coeffs, np.sqrt(q)[:, None] * coeffs[1], atol=1e-15)


def test_tail_and_degree_choice():
    act = parse("tanh")
    t20, t40 = hermite_tail(act, 20, 1.0), hermite_tail(act, 40, 1.0)
    a = hermite_coefficients(act, 40, 1.0)
    assert t20 - t40 == pytest.approx(float(np.sum(a[21:] ** 2)), abs=1e-14)
    assert 0 <= t40 < t20 < 1e-4
    choice = choose_degree(act, np.array([0.5, 2.0]), tol=1e-10)
    assert choice.met and choice.bound <= 1e-10
    worse = hermite_tail(act, choice.degree, 2.0)
    assert worse <= 1e-10 * float(np.sum(hermite_coefficients(act, 200, 2.0) ** 2)) * 1.01


@pytest.mark.parametrize("text", ["exp(x**2)", "1/x", "log(x)", "1/(x - 0.3)", "sqrt(x)"])
def test_not_square_integrable(text):
    with pytest.raises(DerivationError):
        check_square_integrable(parse(text))


def test_bad_arguments():
    dual = HermiteDual(parse("tanh"))
    with pytest.raises(DualcalcError):
        dual.kernel(1.0, 1.0, 2.0)
    with pytest.raises(DualcalcError):
        dual.kernel(-1.0, 1.0, 0.0)
    with pytest.raises(DualcalcError):
        hermite_coefficients(parse("tanh"), -1, 1.0)
    with pytest.raises(DerivationError, match="Dirac"):
        HermiteDual(parse("step")).dkernel(1.0, 1.0, 0.5)

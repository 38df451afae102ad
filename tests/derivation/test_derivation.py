"""derive(): verified closed forms, Hermite fallback, rejection of wrong forms, caching, CLI."""

import json

import numpy as np
import pytest
import sympy as sp

from dualcalc import DerivationError, parse
from dualcalc.cli.main import main
from dualcalc.compiler import compile as derivation_module
from dualcalc.compiler.compile import derive
from dualcalc.compiler.verify import verification_points
from dualcalc.derivation.closed_form.engine import ClosedForm
from dualcalc.derivation.quadrature import dual_dkernel_oracle, dual_kernel_oracle, kernel_scale
from dualcalc.expression.symbols import Q1, Q2, C


def published_gelu_nngp():
    """GELU NNGP from the literature (Neural Tangents' formula, see MATH.md)."""
    d2 = (1 + Q1) * (1 + Q2) - C**2
    d = sp.sqrt(d2)
    return C / 4 + (
        C * sp.asin(C / sp.sqrt((1 + Q1) * (1 + Q2)))
        + (C**2 + Q1 * Q2 * d2) / ((1 + Q1) * (1 + Q2) * d)
    ) / (2 * sp.pi)


def test_gelu_matches_published_formula_and_is_compact():
    result = derive("gelu")
    assert result.closed_form
    reference = published_gelu_nngp()
    ref_fn = sp.lambdify((Q1, Q2, C), reference, "numpy")
    pts = verification_points(50, seed=3)
    got = result.kernel(pts[:, 0], pts[:, 1], pts[:, 2])
    want = ref_fn(pts[:, 0], pts[:, 1], pts[:, 2])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert sp.count_ops(result.nngp) <= 2 * sp.count_ops(reference)
    assert result.residual <= 1e-10


def test_erf_simplifies_to_arcsin():
    result = derive("erf")
    assert result.closed_form
    assert result.nngp.has(sp.asin)


def test_closed_form_kernels_agree_with_oracle_off_the_verification_points():
    result = derive("relu(x) + 0.5*sin(x)")
    act = result.activation
    for q1, q2, c in verification_points(5, seed=11):
        scale = kernel_scale(act, q1, q2)
        assert abs(result.kernel(q1, q2, c) - dual_kernel_oracle(act, q1, q2, c)) <= 1e-10 * scale
        dk = result.dkernel(q1, q2, c)
        assert np.isfinite(dk)
        assert abs(dk - dual_dkernel_oracle(act, q1, q2, c)) <= 1e-9 * max(1.0, abs(dk))


def test_kernel_broadcasts():
    result = derive("relu")
    q = np.linspace(0.5, 2.0, 4)
    out = result.kernel(q[:, None], q[None, :], 0.3)
    assert out.shape == (4, 4)


def test_tanh_takes_the_hermite_route_and_is_accurate():
    result = derive("tanh")
    assert not result.closed_form
    assert result.nngp is None and result.reason
    act = result.activation
    for q1, q2, c in verification_points(4, seed=5):
        scale = kernel_scale(act, q1, q2)
        assert abs(result.kernel(q1, q2, c) - dual_kernel_oracle(act, q1, q2, c)) <= 1e-9 * scale


def test_sign_derivative_is_a_delta_not_zero():
    result = derive("sign")
    assert result.derivative_is_distribution
    with pytest.raises(DerivationError, match="Dirac delta"):
        result.dkernel(1.0, 1.0, 0.5)


@pytest.mark.parametrize("text", ["exp(x**2)", "1/x", "log(x)"])
def test_not_square_integrable_is_a_clear_error(text):
    with pytest.raises(DerivationError):
        derive(text)


def test_wrong_closed_form_is_rejected(monkeypatch):
    act = parse("x + 0.25*x**2 + 0.125*sin(3*x)")

    def wrong(activation):
        return ClosedForm(
            nngp=C * (1 + 1e-6), dnngp=sp.S.One, steps=[], derivative_is_distribution=False
        )

    monkeypatch.setattr(derivation_module, "derive_closed_form", wrong)
    derivation_module._derive_core.cache_clear()
    try:
        result = derive(act)
    finally:
        derivation_module._derive_core.cache_clear()
    assert not result.closed_form
    assert "rejected" in result.reason
    assert any(step.rule == "verify" for step in result.steps)


def test_cache_is_keyed_by_meaning_and_keeps_the_callers_name():
    a = derive("relu")
    b = derive("max(x, 0)")
    assert a.nngp == b.nngp
    assert a.activation.name == "relu"
    assert b.activation.name == "max(x, 0)"


def test_cli_json(capsys):
    assert main(["derive", "gelu", "--json", "--no-write", "--degree", "4"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["closed_form"] is True
    assert payload["activation"] == parse("gelu").text
    assert "asin" in payload["nngp"]
    assert len(payload["hermite"]) == 5
    # a_0 = E[z Phi(z)] = E[phi(z)] = 1 / (2 sqrt(pi)) (Stein); a_1 = E[z^2 Phi(z)] = 1/2 (symmetry)
    assert payload["hermite"][0] == pytest.approx(1 / (2 * np.sqrt(np.pi)), abs=1e-12)
    assert payload["hermite"][1] == pytest.approx(0.5, abs=1e-12)


def test_cli_tanh_json_has_hermite(capsys):
    assert main(["derive", "tanh", "--json", "--no-write", "--degree", "5"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["closed_form"] is False
    assert payload["nngp"] is None
    assert payload["hermite"][0] == pytest.approx(0.0, abs=1e-14)  # tanh is odd


def test_cli_explain(capsys):
    assert main(["derive", "relu(x) + 0.5*sin(x)", "--explain", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "closed form" in out and "steps" in out and "verify" in out

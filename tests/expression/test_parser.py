"""The activation language: accepted syntax, canonical spellings, and refused input."""

import os

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from dualcalc import Activation, ExpressionError, parse
from dualcalc.expression.symbols import X

EQUIVALENT = [
    ("silu", "x*sigmoid(x)"),
    ("silu", "x/(1 + exp(-x))"),
    ("relu", "max(x, 0)"),
    ("relu", "max(0, x)"),
    ("relu", "x*step(x)"),
    ("relu", "(x + abs(x))/2"),
    ("abs", "max(x, -x)"),
    ("abs", "x*sign(x)"),
    ("step", "Phi(x)*0 + step(x)"),
    ("leaky_relu(x, 0.5)", "max(x, 0.5*x)"),
    ("hardtanh", "min(max(x, -1), 1)"),
    ("hardtanh", "clip(x, -1, 1)"),
    ("relu6", "min(relu(x), 6)"),
    ("gelu", "x*Phi(x)"),
    ("gelu", "x*(1 + erf(x/sqrt(2)))/2"),
    ("relu(x) + 0.5*sin(x)", "sin(x)/2 + max(x, 0)"),
    ("0.5*x", "x/2"),
    ("1e-1*x", "x/10"),
    ("2.5e+1", "25"),
    ("e**x", "exp"),
    ("x^2", "x**2"),
    ("monomial(x, 2)", "x*x"),
    ("exp(-x**2/2)", "gaussian"),
    ("exp(-x^2)*sin(x)", "gabor"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_spellings_canonicalise_equal(a, b):
    assert parse(a).expr == parse(b).expr
    assert parse(a).text == parse(b).text


def test_activation_is_frozen_dataclass_in_x():
    act = parse("relu(x) + 0.5*sin(x)")
    assert isinstance(act, Activation)
    assert act.expr.free_symbols == {X}
    with pytest.raises(AttributeError):
        act.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-x**2", lambda x: -(x**2)),
        ("2**-1*x", lambda x: x / 2),
        ("x^2^2", lambda x: x**4),
        ("(1 + x)*(1 - x)", lambda x: 1 - x**2),
        ("pi*x + e", lambda x: np.pi * x + np.e),
        ("cos(relu(x))", lambda x: np.cos(np.maximum(x, 0))),
        ("tanh(gelu(x))", lambda x: np.tanh(x * 0.5 * (1 + special.erf(x / np.sqrt(2))))),
        (
            "leaky_relu(2*x - 1, alpha=0.1)",
            lambda x: np.where(2 * x - 1 > 0, 2 * x - 1, 0.1 * (2 * x - 1)),
        ),
        ("min(x, 1) + max(x**2 - 1, 0)", lambda x: np.minimum(x, 1) + np.maximum(x**2 - 1, 0)),
        (
            "erfc(x) + log(1 + x**2) + sqrt(1 + x**2)",
            lambda x: special.erfc(x) + np.log1p(x**2) + np.sqrt(1 + x**2),
        ),
        ("2^x", lambda x: 2.0**x),
    ],
)
def test_values(text, value):
    xs = np.linspace(-3.1, 3.3, 41)
    np.testing.assert_allclose(parse(text).numpy(xs), value(xs), rtol=1e-12, atol=1e-12)


def test_decimals_are_exact_rationals():
    assert parse("0.1*x").expr == sp.Rational(1, 10) * X
    assert parse("leaky_relu(x, alpha=0.2)").params == (("alpha", sp.Rational(1, 5)),)


BAD = [
    ("__import__('os').system('touch /tmp/owned')", "underscore"),
    ("x.real", "attribute access"),
    ("(x).__class__", "attribute access"),
    ("'x'", "strings are not allowed"),
    ('"relu"', "strings are not allowed"),
    ("lambda x: x", "lambda"),
    ("lambda", "lambda"),
    ("_x", "underscore"),
    ("y + x", "unknown name 'y'"),
    ("relux", "did you mean 'relu'"),
    ("gleu", "did you mean 'gelu'"),
    ("tan(x)", "did you mean 'tanh'"),
    ("open(x)", "unknown name 'open'"),
    ("9**9**9", "too large"),
    ("10**100", "exponent 100 is too large"),
    ("10**20", "out of range"),
    ("1e999", "out of range"),
    ("1e13", "too large"),
    ("(x + 1)**65", "too large"),
    ("x**1000", "too large"),
    ("(x+sin(x)+exp(x)+cos(x)+tanh(x))**40", "expand"),
    ("(" * 60 + "x" + ")" * 60, "nested deeper"),
    ("-" * 100 + "x", "nested deeper"),
    ("x" * 2001, "at most 2000"),
    ("x\x00", "NUL"),
    ("x\x07", "non-printable"),
    ("", "empty expression"),
    ("   ", "empty expression"),
    ("x +", "operand is missing"),
    ("(x", "expected ')'"),
    ("x)", "unexpected ')'"),
    ("x x", "unexpected 'x'"),
    ("x; 1", "';' is not allowed"),
    ("[x]", "brackets"),
    ("{x}", "brackets"),
    ("x @ x", "unexpected character"),
    ("1/0", "division by zero"),
    ("x/(x - x)", "division by zero"),
    ("log(0)", "undefined"),
    ("sqrt(-1)*x", "real-valued"),
    ("x**x", "positive constant"),
    ("x(2)", "not a function"),
    ("pi(x)", "not a function"),
    ("max(x)", "max takes 2 arguments"),
    ("clip(x, 1, -1)", "lower bound"),
    ("clip(x, x, 1)", "must be a number"),
    ("monomial", "needs parameter 'k'"),
    ("monomial(x, 2.5)", "integer from 0 to 30"),
    ("monomial(x, 31)", "integer from 0 to 30"),
    ("hermite(x, -1)", "integer from 0 to 30"),
    ("leaky_relu(x, beta=2)", "no parameter 'beta'"),
    ("leaky_relu(x, 0.1, alpha=0.2)", "given twice"),
    ("leaky_relu(x, alpha=x)", "must be a number"),
    ("leaky_relu(x, 1, 2)", "takes 1 parameter"),
    ("softplus(x, -1)", "must be positive"),
    ("relu()", "needs its argument"),
    ("max(sin(x), 0)", "cannot locate the kinks"),
    ("sin(x, 2)", "sin takes 1 argument"),
    ("exp(alpha=1)", "needs its argument first"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_input_is_refused_with_a_specific_message(text, message):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_shows_position():
    with pytest.raises(ExpressionError) as info:
        parse("relu(x) + foo(x)")
    assert info.value.position == 10
    assert "^" in str(info.value)


def test_non_string_is_refused():
    with pytest.raises(ExpressionError, match="as text"):
        parse(3)  # type: ignore[arg-type]


_ALPHABET = st.sampled_from(
    list("x()+-*/^.,=_'\"[]{}:;@ 0123456789e")
    + [
        "**",
        "relu",
        "exp",
        "max",
        "__import__",
        "os",
        "system",
        "lambda",
        "sin",
        "clip",
        "leaky_relu",
        "alpha",
        "gelu",
        "pi",
        "\x00",
        "open",
        "eval",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=25).map("".join))
def test_random_text_only_ever_raises_expression_error(text):
    marker = "/tmp/owned"
    existed = os.path.exists(marker)
    try:
        result = parse(text)
    except ExpressionError:
        pass
    else:
        assert isinstance(result, Activation)
        assert result.expr.free_symbols <= {X}
    assert os.path.exists(marker) == existed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_unicode_only_ever_raises_expression_error(text):
    try:
        parse(text)
    except ExpressionError:
        pass

"""Every named activation parses and matches an independent numpy definition at 50 points."""

import numpy as np
import pytest
from scipy.special import erf, eval_hermitenorm, expit, factorial

from dualcalc import parse
from dualcalc.expression.catalogue import CATALOGUE

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _softplus(x, beta=1.0):
    return np.logaddexp(0.0, beta * x) / beta


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _relu6(x):
    return np.minimum(np.maximum(x, 0), 6)


# text -> numpy reference written from the textbook definition, independent of dualcalc.
REFERENCES = {
    "identity": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "leaky_relu(x, alpha=0.2)": lambda x: np.where(x > 0, x, 0.2 * x),
    "abrelu(x, -0.5, 2)": lambda x: -0.5 * np.minimum(x, 0) + 2 * np.maximum(x, 0),
    "abs": np.abs,
    "step": lambda x: (x > 0).astype(float),
    "sign": np.sign,
    "elu": _elu,
    "elu(x, 0.5)": lambda x: _elu(x, 0.5),
    "selu": lambda x: SELU_SCALE * _elu(x, SELU_ALPHA),
    "celu": _elu,
    "celu(x, alpha=2)": lambda x: np.maximum(x, 0) + np.minimum(0, 2 * np.expm1(x / 2)),
    "gelu": lambda x: x * 0.5 * (1 + erf(x / np.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * expit(x),
    "swish": lambda x: x * expit(x),
    "swish(x, beta=1.5)": lambda x: x * expit(1.5 * x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "softplus": _softplus,
    "softplus(x, beta=2)": lambda x: _softplus(x, 2.0),
    "sigmoid": expit,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "tanh": np.tanh,
    "hardtanh": lambda x: np.clip(x, -1, 1),
    "relu6": _relu6,
    "hard_sigmoid": lambda x: _relu6(x + 3) / 6,
    "hard_swish": lambda x: x * _relu6(x + 3) / 6,
    "erf": erf,
    "sin": np.sin,
    "cos": np.cos,
    "gaussian": lambda x: np.exp(-(x**2) / 2),
    "rbf": lambda x: np.sqrt(2) * np.sin(np.sqrt(2) * x + np.pi / 4),
    "rbf(x, gamma=0.5)": lambda x: np.sqrt(2) * np.sin(x + np.pi / 4),
    "gabor": lambda x: np.exp(-(x**2)) * np.sin(x),
    "exp": np.exp,
    "monomial(x, 3)": lambda x: x**3,
    "rectified_monomial(x, 2)": lambda x: np.maximum(x, 0) ** 2,
    "rectified_monomial(x, 0)": lambda x: (x > 0).astype(float),
    "hermite(x, 4)": lambda x: eval_hermitenorm(4, x) / np.sqrt(factorial(4)),
    "hermite(x, 7)": lambda x: eval_hermitenorm(7, x) / np.sqrt(factorial(7)),
}

# 50 points avoiding the kinks themselves (where conventions for step(0) differ).
POINTS = np.linspace(-7.3, 7.9, 50)


def test_every_named_activation_has_a_reference():
    names = {text.split("(")[0] for text in REFERENCES}
    assert names == set(CATALOGUE)


@pytest.mark.parametrize("text", sorted(REFERENCES))
def test_named_activation_matches_reference(text):
    activation = parse(text)
    got = activation.numpy(POINTS)
    want = REFERENCES[text](POINTS)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "name", sorted(n for n, a in CATALOGUE.items() if all(p.default is not None for p in a.params))
)
def test_bare_name_equals_call_on_x(name):
    assert parse(name).expr == parse(f"{name}(x)").expr
    assert parse(name).name == name


def test_kinks_are_reported():
    assert parse("relu").kinks == (0.0,)
    assert parse("hardtanh").kinks == (-1.0, 1.0)
    assert parse("relu6").kinks == (0.0, 6.0)
    assert parse("tanh").kinks == ()

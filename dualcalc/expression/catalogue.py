"""The catalogue of named activations, each defined once as a sympy expression."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from dualcalc.errors import ExpressionError
from dualcalc.expression.functions import (
    absolute,
    clip,
    heaviside,
    maximum,
    minimum,
    normal_cdf,
    sign,
)

#: Largest degree accepted for monomial, rectified_monomial and hermite.
MAX_DEGREE = 30

# SELU constants (Klambauer et al. 2017), to the precision PyTorch documents.
SELU_ALPHA = sp.Rational("1.6732632423543772848170429916717")
SELU_SCALE = sp.Rational("1.0507009873554804934193349852946")


def _positive(name: str, value: sp.Expr) -> None:
    if not bool(value > 0):
        raise ExpressionError(f"parameter {name} must be positive, got {value}")


def _any_real(name: str, value: sp.Expr) -> None:
    if not value.is_real:
        raise ExpressionError(f"parameter {name} must be a real number, got {value}")


def _degree(name: str, value: sp.Expr) -> None:
    if not (value.is_integer and 0 <= value <= MAX_DEGREE):
        raise ExpressionError(
            f"parameter {name} must be an integer from 0 to {MAX_DEGREE}, got {value}"
        )


@dataclass(frozen=True)
class Param:
    """A numeric parameter of a named activation; ``default`` None means required."""

    name: str
    default: sp.Expr | None
    check: Callable[[str, sp.Expr], None] = _any_real


@dataclass(frozen=True)
class Named:
    """A named activation: ``build(x, *params)`` gives its sympy expression."""

    name: str
    params: tuple[Param, ...]
    build: Callable[..., sp.Expr]
    description: str
    formula: str | None = None

    @property
    def signature(self) -> str:
        """Call signature as shown to users, e.g. ``leaky_relu(x, alpha=1/100)``."""
        parts = ["x"] + [
            p.name if p.default is None else f"{p.name}={p.default}" for p in self.params
        ]
        return f"{self.name}({', '.join(parts)})"


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


def _softplus(x: sp.Expr, beta: sp.Expr = sp.S.One) -> sp.Expr:
    return sp.log(1 + sp.exp(beta * x)) / beta


def _elu(x: sp.Expr, alpha: sp.Expr) -> sp.Expr:
    return maximum(x, 0) + alpha * (sp.exp(x) - 1) * heaviside(-x)


def _hard_sigmoid(x: sp.Expr) -> sp.Expr:
    return clip(x / 6 + sp.Rational(1, 2), sp.S.Zero, sp.S.One)


R = sp.Rational
_ONE = sp.S.One

CATALOGUE: dict[str, Named] = {
    n.name: n
    for n in (
        Named("identity", (), lambda x: x, "identity, s(x) = x"),
        Named("relu", (), lambda x: maximum(x, 0), "rectified linear unit max(x, 0)"),
        Named(
            "leaky_relu",
            (Param("alpha", R(1, 100)),),
            lambda x, a: maximum(x, 0) + a * minimum(x, 0),
            "leaky ReLU: x for x > 0, alpha x otherwise",
        ),
        Named(
            "abrelu",
            (Param("a", None), Param("b", None)),
            lambda x, a, b: a * minimum(x, 0) + b * maximum(x, 0),
            "a min(x, 0) + b max(x, 0)",
        ),
        Named("abs", (), absolute, "absolute value |x|"),
        Named("step", (), heaviside, "Heaviside step (1/2 at 0)"),
        Named("sign", (), sign, "sign of x"),
        Named("elu", (Param("alpha", _ONE),), _elu, "ELU: x for x > 0, alpha (e^x - 1) otherwise"),
        Named(
            "selu",
            (),
            lambda x: SELU_SCALE * _elu(x, SELU_ALPHA),
            "scaled ELU with the self-normalising constants",
        ),
        Named(
            "celu",
            (Param("alpha", _ONE, _positive),),
            lambda x, a: maximum(x, 0) + a * (sp.exp(x / a) - 1) * heaviside(-x),
            "CELU: max(0, x) + min(0, alpha (e^(x/alpha) - 1))",
        ),
        Named("gelu", (), lambda x: x * normal_cdf(x), "GELU, exact: x Phi(x)"),
        Named(
            "gelu_tanh",
            (),
            lambda x: x / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + R("0.044715") * x**3))),
            "GELU, tanh approximation",
        ),
        Named("silu", (), lambda x: x * _sigmoid(x), "SiLU: x sigmoid(x)"),
        Named(
            "swish",
            (Param("beta", _ONE),),
            lambda x, b: x * _sigmoid(b * x),
            "swish: x sigmoid(beta x)",
        ),
        Named("mish", (), lambda x: x * sp.tanh(_softplus(x)), "mish: x tanh(softplus(x))"),
        Named(
            "softplus",
            (Param("beta", _ONE, _positive),),
            _softplus,
            "softplus: log(1 + e^(beta x)) / beta",
        ),
        Named("sigmoid", (), _sigmoid, "logistic sigmoid 1 / (1 + e^-x)"),
        Named("softsign", (), lambda x: x / (1 + absolute(x)), "softsign x / (1 + |x|)"),
        Named("tanh", (), sp.tanh, "hyperbolic tangent"),
        Named("hardtanh", (), lambda x: clip(x, -_ONE, _ONE), "x clipped to [-1, 1]"),
        Named("relu6", (), lambda x: clip(x, sp.S.Zero, sp.Integer(6)), "x clipped to [0, 6]"),
        Named("hard_sigmoid", (), _hard_sigmoid, "x / 6 + 1/2 clipped to [0, 1]"),
        Named("hard_swish", (), lambda x: x * _hard_sigmoid(x), "x hard_sigmoid(x)"),
        Named("erf", (), sp.erf, "error function"),
        Named("sin", (), sp.sin, "sine"),
        Named("cos", (), sp.cos, "cosine"),
        Named("gaussian", (), lambda x: sp.exp(-(x**2) / 2), "Gaussian bump exp(-x^2 / 2)"),
        Named(
            "rbf",
            (Param("gamma", _ONE, _positive),),
            lambda x, g: sp.sqrt(2) * sp.sin(sp.sqrt(2 * g) * x + sp.pi / 4),
            "sqrt(2) sin(sqrt(2 gamma) x + pi/4), whose NNGP is the RBF kernel",
        ),
        Named("gabor", (), lambda x: sp.exp(-(x**2)) * sp.sin(x), "Gabor exp(-x^2) sin(x)"),
        Named("exp", (), sp.exp, "exponential e^x"),
        Named("monomial", (Param("k", None, _degree),), lambda x, k: x**k, "x^k"),
        Named(
            "rectified_monomial",
            (Param("k", None, _degree),),
            lambda x, k: heaviside(x) * x**k,
            "step(x) x^k (step for k = 0, relu for k = 1)",
        ),
        Named(
            "hermite",
            (Param("k", None, _degree),),
            lambda x, k: sp.hermite_prob(int(k), x) / sp.sqrt(sp.factorial(k)),
            "normalised probabilists' Hermite polynomial",
            formula="He_k(x) / sqrt(k!)",
        ),
    )
}

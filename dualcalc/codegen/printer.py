"""Printing sympy expressions as float32-safe JAX source (a ``JaxPrinter`` subclass).

The printer owns how each function becomes JAX code: square roots, arcsin and arccos go
through the domain guards ``safe_sqrt``, ``safe_arcsin``, ``safe_arccos`` of the support
package (finite values and gradients at the domain edge); ``atan2`` goes through its
``fast_atan2``, plain arithmetic that vectorises (XLA's CPU atan2 is a scalar libm call,
about 4x slower); ``log(1 + exp(a))`` becomes ``jnp.logaddexp(0.0, a)`` and
``1 / (1 + exp(a))`` becomes ``jax.nn.sigmoid(-a)`` (no overflow at large |a|); numeric
constants are printed as correctly rounded Python floats (weakly typed, so float32 inputs
stay float32). The project's special functions (``dualcalc.derivation.special``) map by
class name to the support package's ``special`` module. ``usage`` records which support
names the printed code needs, so the template imports exactly those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.numpy import JaxPrinter
from sympy.printing.precedence import PRECEDENCE

from dualcalc.errors import DerivationError
from dualcalc.expression.symbols import Q1, Q2, C

#: Module whose sympy Function subclasses have pure-JAX twins in the support package's special.
SPECIAL_MODULE = "dualcalc.derivation.special"
#: sympy class name -> function name in ``_support.special`` (else the snake_case name).
SPECIAL_JAX = {"BivariateNormalCDF": "bvn_cdf", "NormalCDF": "normal_cdf", "Dawson": "dawson"}

#: sympy function class name -> JAX callable as printed in a generated module.
_FUNCTIONS = {
    "exp": "jnp.exp",
    "log": "jnp.log",
    "sin": "jnp.sin",
    "cos": "jnp.cos",
    "tan": "jnp.tan",
    "tanh": "jnp.tanh",
    "sinh": "jnp.sinh",
    "cosh": "jnp.cosh",
    "atan": "jnp.arctan",
    "atan2": "fast_atan2",
    "asin": "safe_arcsin",
    "acos": "safe_arccos",
    "erf": "jsp.erf",
    "erfc": "jsp.erfc",
    "Abs": "jnp.abs",
    "sign": "jnp.sign",
}


#: Named constants printed by name (Python floats, weakly typed in JAX).
_CONSTANTS = {sp.pi: "jnp.pi", sp.E: "jnp.e"}


#: Printed names that come from the support package, by its module.
SUPPORT_NAMES = {
    "safe_sqrt": "guards",
    "safe_arcsin": "guards",
    "safe_arccos": "guards",
    "fast_atan2": "atan2",
    "cs_gap": "guards",
}
#: q1 q2 - c^2: its square root is the Cauchy-Schwarz gap, printed as ``cs_gap``.
_GAP = sp.expand(Q1 * Q2 - C**2)


@dataclass
class Usage:
    """Which optional imports the printed code needs."""

    scipy_special: bool = False
    support: set[str] = field(default_factory=set)
    special: set[str] = field(default_factory=set)


#: Integers beyond this are printed as float literals (JAX refuses Python ints past int64).
_EXACT_INT = 2**31


class KernelPrinter(JaxPrinter):
    """JaxPrinter with domain guards, overflow-safe softplus / sigmoid and float literals."""

    def __init__(self) -> None:
        super().__init__(settings={"fully_qualified_modules": True})
        self.usage = Usage()

    # -- dispatch ------------------------------------------------------------------
    def _print(self, expr, **kwargs) -> str:
        if isinstance(expr, sp.Expr) and expr.is_number and not expr.is_Rational:
            if expr in _CONSTANTS:
                return _CONSTANTS[expr]
            return _float_literal(expr)
        return super()._print(expr, **kwargs)

    def emptyPrinter(self, expr) -> str:  # noqa: N802 (sympy's name)
        raise DerivationError(f"code generation cannot print {type(expr).__name__}: {expr}")

    def _print_not_supported(self, expr) -> str:
        raise DerivationError(f"code generation does not support {type(expr).__name__}: {expr}")

    # -- numbers and powers ----------------------------------------------------------
    def _print_Integer(self, expr: sp.Integer) -> str:
        if abs(int(expr)) > _EXACT_INT:
            return _float_literal(expr)
        return str(int(expr))

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.as_base_exp()
        if exponent.is_Rational and exponent.q == 2:
            self.usage.support.add("safe_sqrt")
            root = f"safe_sqrt({self._print(base)})"
            if exponent.p == 1:
                return root
            if exponent.p == -1:
                return f"(1/{root})"
            return f"({root}**{exponent.p})" if exponent.p > 0 else f"(1/{root}**{-exponent.p})"
        if exponent.is_Integer:
            power = int(exponent)
            shown = str(power) if power >= 0 else f"({power})"
            return f"{self.parenthesize(base, PRECEDENCE['Pow'], strict=True)}**{shown}"
        return (
            f"{self.parenthesize(base, PRECEDENCE['Pow'], strict=True)}**"
            f"{self.parenthesize(exponent, PRECEDENCE['Pow'], strict=True)}"
        )

    def _print_Rational(self, expr: sp.Rational) -> str:
        if max(abs(expr.p), expr.q) > _EXACT_INT:
            return _float_literal(expr)
        return f"{expr.p}/{expr.q}"

    # -- functions -------------------------------------------------------------------
    def _print_Function(self, expr: sp.Function) -> str:
        name = type(expr).__name__
        if type(expr).__module__ == SPECIAL_MODULE:
            target = _special_target(name)
            self.usage.special.add(target)
            return f"special.{target}({self._args(expr)})"
        if name not in _FUNCTIONS:
            raise DerivationError(f"code generation does not support the function {name}")
        if _FUNCTIONS[name].startswith("jsp."):
            self.usage.scipy_special = True
        if _FUNCTIONS[name] in SUPPORT_NAMES:
            self.usage.support.add(_FUNCTIONS[name])
        return f"{_FUNCTIONS[name]}({self._args(expr)})"

    _print_exp = _print_log = _print_sin = _print_cos = _print_tan = _print_Function
    _print_tanh = _print_sinh = _print_cosh = _print_atan = _print_atan2 = _print_Function
    _print_asin = _print_acos = _print_erf = _print_erfc = _print_Function
    _print_Abs = _print_sign = _print_Function

    def _print_Sigmoid(self, expr: sp.Function) -> str:
        return f"jax.nn.sigmoid({self._print(expr.args[0])})"

    def _print_Softplus(self, expr: sp.Function) -> str:
        return f"jnp.logaddexp(0.0, {self._print(expr.args[0])})"

    def _print_CsGap(self, expr: sp.Function) -> str:
        self.usage.support.add("cs_gap")
        return f"cs_gap({self._args(expr)})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"jnp.heaviside({self._print(expr.args[0])}, 0.5)"

    def _args(self, expr: sp.Function) -> str:
        return ", ".join(self._print(a) for a in expr.args)


def _special_target(name: str) -> str:
    """The support package's ``special`` function implementing special function ``name``."""
    from dualcalc.runtime._support import special as runtime_special

    target = SPECIAL_JAX.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    if not callable(getattr(runtime_special, target, None)):
        raise DerivationError(
            f"special function {name} has no JAX implementation _support.special.{target}"
        )
    return target


def _float_literal(expr: sp.Expr) -> str:
    """A correctly rounded Python float literal of a real numeric expression."""
    value = sp.N(expr, 30)
    if not value.is_real:
        raise DerivationError(f"code generation needs real constants, got {expr}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise DerivationError(f"constant {expr} is not finite")
    return repr(number)


def _softplus_argument(arg: sp.Expr) -> sp.Expr | None:
    """a when arg is 1 + exp(a), else None."""
    if arg.is_Add and len(arg.args) == 2 and sp.S.One in arg.args:
        other = arg.args[0] if arg.args[1] == 1 else arg.args[1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


class Sigmoid(sp.Function):
    """Marker for 1 / (1 + exp(-a)), printed as the overflow-safe ``jax.nn.sigmoid(a)``."""

    nargs = 1


class CsGap(sp.Function):
    """Marker for sqrt(q1 q2 - c^2), printed as the support's edge-snapped ``cs_gap``."""

    nargs = 3


class Softplus(sp.Function):
    """Marker for log(1 + exp(a)), printed as the overflow-safe ``jnp.logaddexp(0, a)``."""

    nargs = 1


def stable_forms(expr: sp.Expr) -> sp.Expr:
    """Mark 1/(1 + exp(a)) as Sigmoid(-a) and log(1 + exp(a)) as Softplus(a) for printing."""
    expr = expr.replace(
        lambda e: e.is_Pow and e.exp == -1 and _softplus_argument(e.base) is not None,
        lambda e: Sigmoid(-_softplus_argument(e.base)),
    )
    return expr.replace(
        lambda e: isinstance(e, sp.log) and _softplus_argument(e.args[0]) is not None,
        lambda e: Softplus(_softplus_argument(e.args[0])),
    )


def prepare(expr: sp.Expr) -> sp.Expr:
    """The expression rewritten into the numerically stable forms the printer knows."""
    return cauchy_schwarz_gaps(stable_angles(stable_forms(distributed_extremes(expr))))


#: Numbers beyond 10^+-EXTREME overflow or underflow float32 when printed as literals.
EXTREME = 30


def _extreme(number: sp.Expr) -> bool:
    return number.is_Number and number != 0 and abs(sp.log(abs(number), 10)) > EXTREME


def distributed_extremes(expr: sp.Expr) -> sp.Expr:
    """c (a + b x) -> (c a) + (c b) x where c or the a, b are beyond 10^+-30.

    Exact rational arithmetic can leave a tiny coefficient times a sum of huge ones (SELU:
    5.5e-63 (1e62 c + 2.8e62)); printed as floats, 1e62 overflows float32. Their products
    are moderate, so the coefficient goes inside the sum.
    """

    def target(e: sp.Expr) -> bool:
        if not e.is_Mul:
            return False
        coeff, rest = e.as_coeff_Mul()
        sums = [a for a in sp.Mul.make_args(rest) if a.is_Add]
        if coeff == 1 or not sums:
            return False
        inner = [t.as_coeff_Mul()[0] for t in sums[0].args]
        return _extreme(coeff) or any(_extreme(n) for n in inner)

    def distribute(e: sp.Expr) -> sp.Expr:
        coeff, rest = e.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        index = next(i for i, a in enumerate(factors) if a.is_Add)
        inside = sp.Add(*[coeff * t for t in factors[index].args])
        return sp.Mul(inside, *factors[:index], *factors[index + 1 :])

    return expr.replace(target, distribute)


def cauchy_schwarz_gaps(expr: sp.Expr) -> sp.Expr:
    """(q1 q2 - c^2)^(p/2) -> CsGap(q1, q2, c)^p, before CSE can split the gap apart."""
    return expr.replace(
        lambda e: e.is_Pow and e.exp.is_Rational and e.exp.q == 2 and sp.expand(e.base) == _GAP,
        lambda e: CsGap(Q1, Q2, C) ** e.exp.p,
    )


def stable_angles(expr: sp.Expr) -> sp.Expr:
    """acos(a/b), asin(a/b) with b > 0 rewritten as atan2 of (sqrt(b^2 - a^2), a).

    Near |a/b| = 1 the rounding of a/b costs acos sqrt(eps) (1e-8 in float64, 3e-4 in
    float32); sqrt(b^2 - a^2) is the same quantity the arc-cosine kernels already contain,
    so the errors cancel and K stays exact at rho = +-1 (e.g. relu: K(q, q, q) = q/2).
    """

    def rewrite(fn, arg):
        num, den = arg.as_numer_denom()
        if den.is_number or not den.is_positive:
            return None
        root = sp.sqrt(den**2 - num**2)
        if fn is sp.acos:
            return sp.atan2(root, num, evaluate=False)
        return sp.atan2(num, root, evaluate=False)

    def visit(node: sp.Expr) -> sp.Expr:
        if node.is_Atom:
            return node
        args = [visit(a) for a in node.args]
        if isinstance(node, (sp.acos, sp.asin)):
            better = rewrite(type(node), args[0])
            if better is not None:
                return better
        return node.func(*args) if tuple(args) != node.args else node

    return visit(expr)

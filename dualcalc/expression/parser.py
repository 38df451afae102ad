"""Parser of the activation language: tokens -> sympy tree, built from a whitelist, never eval'd.

Grammar (precedence low to high, ``**`` and ``^`` right-associative)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('+' | '-') unary | power
    power   := primary (('**' | '^') unary)?
    primary := NUMBER | NAME | NAME '(' arg (',' arg)* ')' | '(' expr ')'
    arg     := expr | NAME '=' expr
"""

from __future__ import annotations

import difflib
import math
from fractions import Fraction

import sympy as sp

from dualcalc.errors import ExpressionError
from dualcalc.expression.activation import Activation
from dualcalc.expression.canonical import canonicalize
from dualcalc.expression.catalogue import CATALOGUE, Named
from dualcalc.expression.domain import negative_point
from dualcalc.expression.functions import CONSTANTS, ELEMENTARY
from dualcalc.expression.symbols import X
from dualcalc.expression.tokens import Token, tokenize

#: Deepest nesting of parentheses, calls and unary signs.
MAX_DEPTH = 40
#: Largest magnitude of a number literal or of a constant computed from literals.
MAX_MAGNITUDE = 1e12
#: Largest |exponent| in ``a ** n`` and the largest decimal exponent in a literal like 1e-30.
MAX_EXPONENT = 64
#: Largest polynomial degree and largest number of expanded terms an expression may reach.
MAX_POLY_DEGREE = 100
MAX_TERMS = 4000

KNOWN_NAMES = sorted({"x", *CONSTANTS, *ELEMENTARY, *CATALOGUE})


def parse(text: str) -> Activation:
    """Parse activation text (``"gelu"``, ``"relu(x) + 0.5*sin(x)"``) into an Activation."""
    tokens = tokenize(text)
    parser = _Parser(text, tokens)
    expr = parser.parse()
    _check_size(expr, text)
    try:
        canonical = canonicalize(expr)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, text, 0) from None
    if canonical.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError("activation is undefined (it contains an infinity or 0/0)", text, 0)
    if canonical.has(sp.I):
        raise ExpressionError(
            "activation must be real-valued; it contains the imaginary unit", text, 0
        )
    stray = canonical.free_symbols - {X}
    if stray:
        raise ExpressionError(f"unexpected symbols {sorted(map(str, stray))}: only x is allowed")
    _check_domain(parser.restricted, canonical, text)
    name, params = parser.display_name(), parser.params
    return Activation(expr=canonical, name=name, params=params)


class _Parser:
    """Recursive-descent parser over a token list."""

    def __init__(self, text: str, tokens: list[Token]):
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.params: tuple[tuple[str, sp.Expr], ...] = ()
        self._bare_name: str | None = None
        #: (what, argument, position) of every log(a), sqrt(a) and a**p with a non-integer p.
        self.restricted: list[tuple[str, sp.Expr, int]] = []

    # -- helpers -----------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        token = token or self.tok
        return ExpressionError(message, self.text, token.position)

    def accept(self, *ops: str) -> Token | None:
        if self.tok.kind == "op" and self.tok.text in ops:
            token = self.tok
            self.i += 1
            return token
        return None

    def expect(self, op: str, context: str) -> Token:
        token = self.accept(op)
        if token is None:
            found = "end of text" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected '{op}' {context}, found {found}")
        return token

    def descend(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")

    def display_name(self) -> str:
        if self._bare_name is not None:
            return self._bare_name
        return " ".join(self.text.split())

    # -- grammar -----------------------------------------------------------------
    def parse(self) -> sp.Expr:
        if self.tok.kind == "end":
            raise self.error("empty expression: write an activation such as 'relu' or 'tanh(x)'")
        first = self.tok
        expr = self.expr()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r} after a complete expression")
        if first.kind == "name" and self.i == 2 and first.text in CATALOGUE:
            self._bare_name = first.text
        return expr

    def expr(self) -> sp.Expr:
        value = self.term()
        while (op := self.accept("+", "-")) is not None:
            rhs = self.term()
            value = self.checked(value + rhs if op.text == "+" else value - rhs, op)
        return value

    def term(self) -> sp.Expr:
        value = self.unary()
        while (op := self.accept("*", "/")) is not None:
            rhs = self.unary()
            if op.text == "/":
                if rhs.is_number and rhs == 0:
                    raise self.error("division by zero", op)
                value = value / rhs
            else:
                value = value * rhs
            value = self.checked(value, op)
        return value

    def unary(self) -> sp.Expr:
        op = self.accept("+", "-")
        if op is None:
            return self.power()
        self.descend()
        operand = self.unary()
        self.depth -= 1
        return -operand if op.text == "-" else operand

    def power(self) -> sp.Expr:
        base = self.primary()
        op = self.accept("**", "^")
        if op is None:
            return base
        self.descend()
        exponent = self.unary()
        self.depth -= 1
        return self.checked(self.raise_to(base, exponent, op), op)

    def primary(self) -> sp.Expr:
        token = self.tok
        if token.kind == "number":
            self.i += 1
            return self.number(token)
        if token.kind == "name":
            self.i += 1
            return self.name(token)
        if self.accept("("):
            self.descend()
            value = self.expr()
            self.expect(")", "to close '('")
            self.depth -= 1
            return value
        if token.kind == "end":
            raise self.error("expression ends too early: an operand is missing")
        raise self.error(
            f"unexpected {token.text!r}: an operand (number, x, name, '(') is expected"
        )

    # -- atoms -------------------------------------------------------------------
    def number(self, token: Token) -> sp.Expr:
        _, _, exponent = token.text.lower().partition("e")
        if exponent and abs(int(exponent)) > MAX_EXPONENT:
            raise self.error(
                f"number {token.text} is out of range (|exponent| <= {MAX_EXPONENT})", token
            )
        value = Fraction(token.text)
        if abs(value) > MAX_MAGNITUDE:
            raise self.error(f"number {token.text} is too large (at most {MAX_MAGNITUDE:g})", token)
        return sp.Rational(value.numerator, value.denominator)

    def name(self, token: Token) -> sp.Expr:
        name = token.text
        self.reject_unsafe_name(token)
        if self.tok.kind == "op" and self.tok.text == "(":
            return self.call(token)
        if name == "x":
            return X
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in CATALOGUE:
            return self.apply_named(CATALOGUE[name], X, {}, token)
        if name in ELEMENTARY and ELEMENTARY[name].arity == 1:
            self.restrict(name, X, token)
            return ELEMENTARY[name].build(X)
        if name in ELEMENTARY:
            raise self.error(f"{name} needs {ELEMENTARY[name].arity} arguments: {name}(...)", token)
        raise self.unknown(token)

    def reject_unsafe_name(self, token: Token) -> None:
        name = token.text
        if name in KNOWN_NAMES:
            return
        if name == "lambda":
            raise self.error(
                "lambda is not allowed: write the activation as an expression in x", token
            )
        if name.startswith("_") or "__" in name:
            raise self.error(
                f"names with leading or double underscores are not allowed: {name!r}", token
            )
        raise self.unknown(token)

    def unknown(self, token: Token) -> ExpressionError:
        close = difflib.get_close_matches(token.text, KNOWN_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; see `dualcalc list` for the names"
        if token.text not in KNOWN_NAMES and len(token.text) == 1 and token.text.isalpha():
            hint = "; the only variable is x" + (f" (did you mean {close[0]!r}?)" if close else "")
        return self.error(f"unknown name {token.text!r}{hint}", token)

    def call(self, token: Token) -> sp.Expr:
        name = token.text
        if name == "x" or name in CONSTANTS:
            raise self.error(f"{name} is not a function: write {name}*(...) to multiply", token)
        self.expect("(", f"after {name}")
        self.descend()
        positional, keywords = self.arguments(name)
        self.depth -= 1
        if name in CATALOGUE:
            named = CATALOGUE[name]
            if not positional:
                raise self.error(f"{name} needs its argument first: {named.signature}", token)
            return self.apply_named(
                named, positional[0], self.bind(named, positional[1:], keywords, token), token
            )
        function = ELEMENTARY[name]
        if keywords:
            raise self.error(f"{name} takes no keyword arguments", token)
        if len(positional) != function.arity:
            plural = "argument" if function.arity == 1 else "arguments"
            raise self.error(
                f"{name} takes {function.arity} {plural}, got {len(positional)}", token
            )
        self.restrict(name, positional[0], token)
        try:
            return function.build(*positional)
        except ExpressionError as exc:
            raise self.error(exc.message, token) from None

    def arguments(self, name: str) -> tuple[list[sp.Expr], dict[str, tuple[sp.Expr, Token]]]:
        positional: list[sp.Expr] = []
        keywords: dict[str, tuple[sp.Expr, Token]] = {}
        if self.accept(")"):
            return positional, keywords
        while True:
            if (
                self.tok.kind == "name"
                and self.tokens[self.i + 1].kind == "op"
                and self.tokens[self.i + 1].text == "="
            ):
                key = self.tok
                self.i += 2
                if key.text in keywords:
                    raise self.error(f"parameter {key.text!r} given twice", key)
                keywords[key.text] = (self.expr(), key)
            else:
                if keywords:
                    raise self.error("positional argument after a keyword argument")
                positional.append(self.expr())
            if self.accept(")"):
                return positional, keywords
            self.expect(",", f"or ')' in the arguments of {name}")

    def bind(
        self,
        named: Named,
        values: list[sp.Expr],
        keywords: dict[str, tuple[sp.Expr, Token]],
        token: Token,
    ) -> dict[str, sp.Expr]:
        if len(values) > len(named.params) and not named.params:
            raise self.error(
                f"{named.name} takes 1 argument, got {len(values) + 1}: {named.signature}", token
            )
        if len(values) > len(named.params):
            raise self.error(
                f"{named.name} takes {len(named.params)} parameter(s) after x, got {len(values)}: "
                f"{named.signature}",
                token,
            )
        bound = {p.name: v for p, v in zip(named.params, values, strict=False)}
        allowed = {p.name for p in named.params}
        for key, (value, key_token) in keywords.items():
            if key not in allowed:
                raise self.error(
                    f"{named.name} has no parameter {key!r}: {named.signature}", key_token
                )
            if key in bound:
                raise self.error(f"parameter {key!r} given twice", key_token)
            bound[key] = value
        return bound

    def apply_named(
        self, named: Named, argument: sp.Expr, bound: dict[str, sp.Expr], token: Token
    ) -> sp.Expr:
        values = []
        for p in named.params:
            value = bound.get(p.name, p.default)
            if value is None:
                raise self.error(
                    f"{named.name} needs parameter {p.name!r}: {named.signature}", token
                )
            if not value.is_number or value.free_symbols:
                raise self.error(
                    f"parameter {p.name!r} of {named.name} must be a number, got {value}", token
                )
            try:
                p.check(p.name, value)
            except ExpressionError as exc:
                raise self.error(f"{named.name}: {exc.message}", token) from None
            values.append(value)
        if any(p.default is None or p.name in bound for p in named.params):
            self.params = tuple((p.name, v) for p, v in zip(named.params, values, strict=True))
        return named.build(argument, *values)

    # -- bounds ------------------------------------------------------------------
    def raise_to(self, base: sp.Expr, exponent: sp.Expr, op: Token) -> sp.Expr:
        if exponent.has(X):
            if not (base.is_number and base.is_positive):
                raise self.error(
                    "an exponent may depend on x only when the base is a positive constant", op
                )
            return sp.exp(exponent * sp.log(base))
        if not exponent.is_number or not exponent.is_real:
            raise self.error(f"exponent {exponent} is not a real number", op)
        if abs(float(exponent)) > MAX_EXPONENT:
            raise self.error(f"exponent {exponent} is too large (|exponent| <= {MAX_EXPONENT})", op)
        if not exponent.is_integer:
            self.restrict("power", base, op)
        if base.is_number:
            magnitude = abs(float(sp.N(base, 20)))
            if magnitude == 0 and float(exponent) < 0:
                raise self.error("division by zero (0 to a negative power)", op)
            if magnitude > 0 and abs(float(exponent) * math.log10(magnitude)) > 12:
                raise self.error(f"{base}**{exponent} is out of range (|value| <= 1e12)", op)
        return base**exponent

    def restrict(self, what: str, argument: sp.Expr, token: Token) -> None:
        """Record an argument that must be >= 0 for every real x (log, sqrt, a**p)."""
        if what in ("log", "sqrt", "power") and argument.has(X):
            self.restricted.append((what, argument, token.position))

    def checked(self, value: sp.Expr, op: Token) -> sp.Expr:
        if value.is_number and value.is_finite is not False:
            magnitude = abs(complex(sp.N(value, 20)))
            if magnitude > MAX_MAGNITUDE:
                raise self.error(f"constant {value} is too large (at most {MAX_MAGNITUDE:g})", op)
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise self.error("expression is undefined here (division by zero or infinity)", op)
        return value


def _check_domain(
    restricted: list[tuple[str, sp.Expr, int]], canonical: sp.Expr, text: str
) -> None:
    """Refuse log(a), sqrt(a), a**p applied where a < 0 when simplification hid it.

    When the canonical form is itself undefined there (log(x), sqrt(x)), ``derive`` refuses
    it with a DerivationError; here only forms like exp(log(x)) -> x, which would otherwise
    silently become a different function on x < 0, are refused.
    """
    for what, argument, position in restricted:
        point = negative_point(argument)
        if point is None:
            continue
        value = sp.N(canonical.subs(X, sp.Rational(point)), 30)
        if not (value.is_real and value.is_finite):
            continue
        shown = f"{what}({argument})" if what != "power" else f"a power of {argument}"
        raise ExpressionError(
            f"{shown} is undefined at x = {point:g}, where its argument is negative; the "
            f"expression simplifies to {sp.sstr(canonical)}, which is a different function "
            "there. Write an activation that is defined for every real x",
            text,
            position,
        )


def _check_size(expr: sp.Expr, text: str) -> None:
    degree = _degree_bound(expr)
    if degree > MAX_POLY_DEGREE:
        raise ExpressionError(
            f"expression reaches polynomial degree about {degree:g}; "
            f"at most {MAX_POLY_DEGREE} is supported",
            text,
            0,
        )
    terms = _term_bound(expr)
    if terms > MAX_TERMS:
        raise ExpressionError(
            f"expression would expand to about {terms:g} terms; at most {MAX_TERMS} are supported",
            text,
            0,
        )


def _degree_bound(expr: sp.Expr) -> float:
    """Upper bound of the polynomial degree in x reached anywhere in the tree."""
    if expr == X:
        return 1.0
    if expr.is_Atom:
        return 0.0
    child = [_degree_bound(a) for a in expr.args]
    if expr.is_Add:
        return max(child)
    if expr.is_Mul:
        return sum(child)
    if expr.is_Pow and expr.exp.is_number:
        return child[0] * abs(float(expr.exp))
    return max(child)


def _term_bound(expr: sp.Expr) -> float:
    """Rough upper bound of the number of terms ``sympy.expand`` produces."""
    if expr.is_Atom:
        return 1.0
    child = [_term_bound(a) for a in expr.args]
    if expr.is_Add:
        return sum(child)
    if expr.is_Mul:
        return math.prod(child)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        m, n = child[0], int(expr.exp)
        return float(math.comb(int(min(m, 1e6)) + n - 1, n))
    if isinstance(expr, sp.exp):
        return child[0]
    return max(child)

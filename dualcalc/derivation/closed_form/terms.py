"""Decomposition of an activation into Gaussian-integrable term classes.

Every term of the expanded activation is rewritten as ``P(x) exp(a x^2 + b x) I(x)`` with a
polynomial ``P``, a real quadratic coefficient ``a <= 0``, a (possibly complex) linear
coefficient ``b`` (sin/cos become exp(+-i b x)), and an indicator ``I`` that is 1, a step
``Heaviside(x - r)`` or a probit ``Phi(alpha x + beta)`` (erf/erfc are rewritten as probits).
Terms with the same (a, b, I) are merged into one ``TermClass`` with the summed polynomial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from dualcalc.errors import DerivationError, NoClosedFormError
from dualcalc.expression.canonical import kink_of
from dualcalc.expression.pieces import interior_point
from dualcalc.expression.symbols import X


@dataclass(frozen=True)
class Indicator:
    """I(x) = P(w < alpha x + beta), w ~ N(0, noise^2): a step (noise 0) or a probit (noise 1)."""

    alpha: sp.Expr
    beta: sp.Expr
    noise: int

    @property
    def is_origin_step(self) -> bool:
        """True for Heaviside(x) itself (alpha = 1, beta = 0, no noise)."""
        return self.noise == 0 and self.alpha == 1 and self.beta == 0

    def as_expr(self) -> sp.Expr:
        """The indicator as a sympy expression in x."""
        arg = self.alpha * X + self.beta
        if self.noise == 0:
            return sp.Heaviside(arg)
        return (1 + sp.erf(arg / sp.sqrt(2))) / 2


@dataclass(frozen=True)
class TermClass:
    """P(x) exp(a x^2 + b x) I(x); ``poly`` maps a power of x to its coefficient."""

    a: sp.Expr
    b: sp.Expr
    indicator: Indicator | None
    poly: tuple[tuple[int, sp.Expr], ...]

    @property
    def key(self) -> tuple:
        """What identifies the class apart from its polynomial."""
        return (self.a, self.b, self.indicator)

    @property
    def is_polynomial(self) -> bool:
        """True when the class is a plain polynomial (no exponential, no indicator)."""
        return self.a == 0 and self.b == 0 and self.indicator is None

    def as_expr(self) -> sp.Expr:
        """The class as a sympy expression in x."""
        poly = sum((coef * X**n for n, coef in self.poly), sp.S.Zero)
        ind = self.indicator.as_expr() if self.indicator is not None else sp.S.One
        return poly * sp.exp(self.a * X**2 + self.b * X) * ind


def decompose(expr: sp.Expr) -> list[TermClass]:
    """Split s(x) into term classes, or raise NoClosedFormError naming the term out of reach."""
    _check_integrable(expr)
    rewritten = expr.rewrite(sp.exp) if expr.has(sp.sin, sp.cos, sp.sinh, sp.cosh) else expr
    rewritten = rewritten.replace(sp.erfc, lambda z: 1 - sp.erf(z))
    rewritten = sp.expand(sp.powsimp(sp.expand(rewritten), combine="exp"))
    classes: dict[tuple, dict[int, sp.Expr]] = {}
    for term in sp.Add.make_args(rewritten):
        for coef, power, a, b, ind in _split_term(term):
            polys = classes.setdefault((a, b, ind), {})
            polys[power] = polys.get(power, sp.S.Zero) + coef
    _split_at_steps(classes)
    result = []
    for (a, b, ind), polys in classes.items():
        poly = tuple((n, sp.expand(c)) for n, c in sorted(polys.items()))
        poly = tuple((n, c) for n, c in poly if not _is_zero(c))
        if poly:
            result.append(TermClass(a, b, ind, poly))
    return result


def _split_at_steps(classes: dict[tuple, dict[int, sp.Expr]]) -> None:
    """P0 e(x) + PH e(x) H(x - r) -> (P0 + PH) e(x) H(x - r) + P0 e(x) H(r - x), e exponential.

    ELU-like activations are small where their exponential parts are huge (exp(x) - H(x)
    exp(x)); integrating each side of the threshold separately avoids that cancellation.
    """
    for key in list(classes):
        a, b, ind = key
        if ind is not None or (a == 0 and b == 0):
            continue
        steps = [k for k in classes if k[:2] == (a, b) and k[2] is not None and k[2].noise == 0]
        if len(steps) != 1:
            continue
        step_key = steps[0]
        step = step_key[2]
        plain = classes.pop(key)
        merged = classes[step_key]
        for power, coef in plain.items():
            merged[power] = merged.get(power, sp.S.Zero) + coef
        classes[(a, b, Indicator(-step.alpha, -step.beta, 0))] = plain


def _is_zero(coef: sp.Expr) -> bool:
    """Exact zero test for a numeric coefficient (50-digit evaluation as the fallback)."""
    if coef.is_zero:
        return True
    return bool(coef.is_number and abs(complex(sp.N(coef, 50))) < 1e-40)


def _check_integrable(expr: sp.Expr) -> None:
    """Reject activations that are not square-integrable under a Gaussian (log x, 1/x, ...).

    Each smooth piece between the steps H(x - r) is checked on its own interval only:
    sqrt(|x|) = sqrt(-x) + H(x) (sqrt(x) - sqrt(-x)) uses sqrt(-x) only where x < 0.
    """
    for lo, hi, piece in _smooth_pieces(expr):
        for node in sp.preorder_traversal(piece):
            if isinstance(node, sp.log) and _real_roots(node.args[0], lo, hi):
                raise DerivationError(
                    f"{node} is not finite for every real x: the activation is not "
                    "square-integrable under a Gaussian"
                )
            if isinstance(node, sp.Pow) and node.base.has(X) and node.exp.is_number:
                roots = _real_roots(node.base, lo, hi)
                if node.exp.is_negative and any(blows_up(expr, r) for r in roots):
                    raise DerivationError(
                        f"{node} has a pole on the real line: the activation is not "
                        "square-integrable under a Gaussian"
                    )
                if not node.exp.is_integer and node.exp.is_positive:
                    probes = _probes(roots, lo, hi)
                    if any(sp.N(node.base.subs(X, p)) < 0 for p in probes):
                        raise DerivationError(
                            f"{node} is not real for every real x: the activation is not "
                            "defined on the whole real line"
                        )


def _smooth_pieces(expr: sp.Expr) -> list[tuple[float, float, sp.Expr]]:
    """(lo, hi, expr on (lo, hi)) between the kinks of the steps H(x - r) of expr."""
    steps = {h: float(r) for h in expr.atoms(sp.Heaviside) if (r := kink_of(h)) is not None}
    bounds = [-math.inf, *sorted(set(steps.values())), math.inf]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        inside = interior_point(lo, hi)
        values = {h: sp.S.One if r < inside else sp.S.Zero for h, r in steps.items()}
        pieces.append((lo, hi, expr.xreplace(values)))
    return pieces


def _probes(roots: list[float], lo: float, hi: float) -> list[sp.Expr]:
    """Points strictly inside (lo, hi): one between each pair of consecutive roots and ends."""
    edges = [lo, *sorted(roots), hi]
    return [sp.Float(interior_point(a, b), 30) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _real_roots(base: sp.Expr, lo: float = -math.inf, hi: float = math.inf) -> list[float]:
    """Real roots in (lo, hi) of a polynomial base (none when it is not a polynomial in x)."""
    if not base.has(X) or not base.is_polynomial(X):
        return []
    poly = sp.Poly(base, X)
    if poly.degree() < 1:
        return []
    roots = [float(sp.re(r)) for r in poly.nroots(n=15) if abs(sp.im(r)) < 1e-12]
    return [r for r in roots if lo < r < hi]


def blows_up(expr: sp.Expr, point: float) -> bool:
    """True when |s| grows without bound next to ``point`` (a genuine pole of s)."""
    near = [abs(complex(sp.N(expr.subs(X, point + d)))) for d in (1e-4, -1e-4, 1e-8, -1e-8)]
    return max(near[2:]) > 1e3 * max(max(near[:2]), 1.0)


def _split_term(term: sp.Expr) -> list[tuple[sp.Expr, int, sp.Expr, sp.Expr, Indicator | None]]:
    """One product term -> [(coef, power, a, b, indicator)] (erf gives two entries)."""
    coef = sp.S.One
    power = 0
    exponent = sp.S.Zero
    steps: list[sp.Expr] = []
    erfs: list[sp.Expr] = []
    for factor in sp.Mul.make_args(term):
        base, exp = factor.as_base_exp()
        if not factor.has(X):
            coef *= factor
        elif base == X and exp.is_Integer and exp > 0:
            power += int(exp)
        elif isinstance(base, sp.exp) or isinstance(factor, sp.exp):
            exponent += factor.args[0] if isinstance(factor, sp.exp) else base.args[0] * exp
        elif isinstance(base, sp.Heaviside) and exp.is_Integer and exp > 0:
            steps.append(base.args[0])
        elif isinstance(factor, sp.erf):
            erfs.append(factor.args[0])
        else:
            raise NoClosedFormError(
                f"no closed-form rule for the factor {factor} in the term {term}"
            )
    a, b, g = _quadratic(exponent, term)
    coef *= sp.exp(g)
    if steps and erfs:
        raise NoClosedFormError(f"a step times an erf in one term ({term}) is out of reach")
    if len(erfs) > 1:
        raise NoClosedFormError(f"a product of erf factors ({term}) is out of reach")
    if steps:
        return [(coef, power, a, b, _step(steps, term))]
    if erfs:
        alpha, beta = _linear(erfs[0], term)
        probit = Indicator(sp.sqrt(2) * alpha, sp.sqrt(2) * beta, 1)
        return [(2 * coef, power, a, b, probit), (-coef, power, a, b, None)]
    return [(coef, power, a, b, None)]


def _quadratic(exponent: sp.Expr, term: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """exponent = a x^2 + b x + g with a real and <= 0; otherwise out of reach or not integrable."""
    exponent = sp.expand(exponent)
    if not exponent.is_polynomial(X) or sp.degree(exponent, X) > 2:
        raise NoClosedFormError(f"exp of a non-quadratic argument in {term}")
    a = exponent.coeff(X, 2)
    b = exponent.coeff(X, 1)
    g = exponent.coeff(X, 0)
    if not a.is_real:
        raise NoClosedFormError(f"complex quadratic exponent in {term}")
    if a.is_positive:
        raise DerivationError(
            f"exp({exponent}) grows like exp(a x^2) with a > 0: the activation is not "
            "square-integrable under a Gaussian for every variance"
        )
    return a, b, g


def _linear(arg: sp.Expr, term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """arg = alpha x + beta with real numbers alpha != 0, beta."""
    arg = sp.expand(arg)
    if not arg.is_polynomial(X) or sp.degree(arg, X) != 1:
        raise NoClosedFormError(f"erf/step of a non-linear argument in {term}")
    alpha, beta = arg.coeff(X, 1), arg.coeff(X, 0)
    if not (alpha.is_real and beta.is_real):
        raise NoClosedFormError(f"erf/step of a complex argument in {term}")
    return alpha, beta


def _step(args: list[sp.Expr], term: sp.Expr) -> Indicator:
    """A product of steps Heaviside(alpha x + beta) -> one step (they must point the same way)."""
    thresholds = []
    for arg in args:
        alpha, beta = _linear(arg, term)
        if not alpha.is_positive:
            raise NoClosedFormError(f"a step of a decreasing argument in {term}")
        thresholds.append(-beta / alpha)
    return Indicator(sp.S.One, -max(thresholds, key=float), 0)

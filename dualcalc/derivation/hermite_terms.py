"""The closed-form terms of the Hermite engine: s cut into pieces of recognised term families.

On each smooth piece, terms c x^p exp(b x) (b complex: polynomials, exp, sin, cos, the relu
family, elu pieces) get their coefficients E[term(sqrt(q) z) h_n(z) 1_piece] by Gaussian
integration by parts (upward recursions in n, quadrature where those are unstable);
x^p exp(-a x^2) and x^p erf(b x) on the whole line by their Hermite expansions; the rest is a
remainder the engine integrates numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import sympy as sp
from scipy.special import wofz

from dualcalc.derivation.hermite_rules import SQRT2PI, Z_LIMIT, hermite_functions, panel_width, rule
from dualcalc.expression.activation import Activation, lambdify_numpy
from dualcalc.expression.pieces import SmoothPiece, smooth_pieces
from dualcalc.expression.symbols import X


@dataclass(frozen=True)
class Term:
    """One closed-form family term: coeff * x^power * exp(beta x), or a Gaussian / erf term."""

    kind: str  # "exp" (x^p e^(beta x)), "gauss" (x^p e^(-a x^2)), "erf" (x^p erf(b x))
    coeff: complex
    power: int
    rate: complex  # beta, a or b


@dataclass(frozen=True)
class Piece:
    """s restricted to (lo, hi) in x: closed-form terms plus a numeric remainder."""

    lo: float
    hi: float
    terms: tuple[Term, ...]
    remainder: sp.Expr

    @cached_property
    def remainder_numpy(self) -> Callable[[np.ndarray], np.ndarray] | None:
        return None if self.remainder == 0 else _lambdify_cached(self.remainder)


@lru_cache(maxsize=512)
def _lambdify_cached(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    return lambdify_numpy(expr)


def piece_numpy(piece: SmoothPiece) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised float64 evaluation of one smooth piece's expression."""
    return _lambdify_cached(piece.expr)


def _trig_to_exp(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(sp.sin, lambda a: (sp.exp(sp.I * a) - sp.exp(-sp.I * a)) / (2 * sp.I))
    expr = expr.replace(sp.cos, lambda a: (sp.exp(sp.I * a) + sp.exp(-sp.I * a)) / 2)
    expr = expr.replace(sp.erfc, lambda a: 1 - sp.erf(a))
    return sp.expand(expr)


def _match_term(term: sp.Expr, whole_line: bool) -> Term | None:
    """Recognise coeff * x^p * exp(beta x) (and, on the whole line, Gaussian / erf terms)."""
    coeff, power = sp.S.One, 0
    rate = sp.S.Zero
    special: tuple[str, sp.Expr] | None = None
    for factor in sp.Mul.make_args(term):
        if not factor.has(X):
            coeff *= factor
        elif factor == X:
            power += 1
        elif factor.is_Pow and factor.base == X and factor.exp.is_Integer and factor.exp > 0:
            power += int(factor.exp)
        elif isinstance(factor, sp.exp) or (factor.is_Pow and factor.base == sp.E):
            arg = sp.expand(factor.exp if factor.is_Pow else factor.args[0])
            if not arg.is_polynomial(X):
                return None
            poly = sp.Poly(arg, X)
            if poly.degree() == 1:
                rate += poly.coeff_monomial(X)
                coeff *= sp.exp(poly.coeff_monomial(1))
            elif poly.degree() == 2 and whole_line and special is None:
                a = -poly.coeff_monomial(X**2)
                if poly.coeff_monomial(X) != 0 or not (a.is_real and a > 0):
                    return None
                special = ("gauss", a)
                coeff *= sp.exp(poly.coeff_monomial(1))
            else:
                return None
        elif isinstance(factor, sp.erf) and whole_line and special is None:
            arg = sp.expand(factor.args[0])
            if not (arg.is_polynomial(X) and sp.Poly(arg, X).degree() == 1):
                return None
            poly = sp.Poly(arg, X)
            if poly.coeff_monomial(1) != 0 or not poly.coeff_monomial(X).is_real:
                return None
            special = ("erf", poly.coeff_monomial(X))
        else:
            return None
    value = complex(sp.N(coeff, 30))
    if special is not None:
        if rate != 0:
            return None
        return Term(special[0], value, power, complex(sp.N(special[1], 30)))
    return Term("exp", value, power, complex(sp.N(rate, 30)))


def _split_piece(lo: float, hi: float, expr: sp.Expr) -> Piece:
    whole = math.isinf(lo) and math.isinf(hi)
    terms, rest = [], sp.S.Zero
    if expr.has(sp.sin, sp.cos, sp.exp, sp.erf, sp.erfc) or expr.is_polynomial(X):
        candidate = _trig_to_exp(expr)
    else:
        candidate = expr
    for term in sp.Add.make_args(candidate):
        matched = _match_term(term, whole) if term.has(X) else Term("exp", complex(term), 0, 0j)
        if matched is None:
            rest += term
        else:
            terms.append(matched)
    if rest != 0 and rest.has(sp.I):
        # Complex leftovers would be evaluated numerically: keep the real original instead.
        return Piece(lo, hi, (), expr)
    return Piece(lo, hi, tuple(terms), rest)


@lru_cache(maxsize=128)
def activation_pieces(act: Activation) -> tuple[Piece, ...]:
    """The activation cut at its kinks, each piece split into closed-form terms + remainder."""
    return tuple(_split_piece(p.lo, p.hi, p.expr) for p in smooth_pieces(act))


def _multiply_by_z(coeffs: np.ndarray) -> np.ndarray:
    """Coefficients of z f(z) from those of f (z h_k = sqrt(k+1) h_(k+1) + sqrt(k) h_(k-1))."""
    n = coeffs.shape[-1]
    k = np.arange(n)
    out = np.zeros_like(coeffs)
    out[..., 1:] += np.sqrt(k[1:]) * coeffs[..., :-1]
    out[..., :-1] += np.sqrt(k[1:]) * coeffs[..., 1:]
    return out


def _gaussian_coeffs(a_q: float, degree: int) -> np.ndarray:
    """exp(-a z^2): a_2m = sqrt((2m)!) (-g)^m / (m! sqrt(1 + 2a)), g = a / (1 + 2a)."""
    out = np.zeros(degree + 1)
    g = a_q / (1.0 + 2.0 * a_q)
    value = 1.0 / math.sqrt(1.0 + 2.0 * a_q)
    for m in range(degree // 2 + 1):
        if m > 0:
            value *= -g * math.sqrt(2.0 * m * (2.0 * m - 1.0)) / m
        out[2 * m] = value
    return out


def _erf_coeffs(b: float, degree: int) -> np.ndarray:
    """Coefficients of erf(b z): a_(2m+1) = (2b/sqrt(pi)) [a_2m of exp(-b^2 z^2)] / sqrt(2m+1)."""
    out = np.zeros(degree + 1)
    gauss = _gaussian_coeffs(b * b, degree)
    k = np.arange(1, degree + 1, 2)
    out[1::2] = 2.0 * b / math.sqrt(math.pi) * gauss[k - 1] / np.sqrt(k)
    return out


def _exp_whole_line(power: int, beta: complex, degree: int) -> np.ndarray:
    """E[z^p e^(beta z) h_n(z)], n = 0..degree: (1/sqrt n) [p F(p-1, n-1) + beta F(p, n-1)]."""
    table = np.zeros((power + 1, degree + 1), dtype=np.complex128)
    scale = np.exp(beta * beta / 2.0)
    for p in range(power + 1):
        # F(p, 0) = e^(beta^2/2) E[(y + beta)^p] = e^(beta^2/2) sum_j C(p, j) beta^(p-j) E[y^j].
        table[p, 0] = scale * sum(
            math.comb(p, j) * beta ** (p - j) * _double_factorial(j - 1) for j in range(0, p + 1, 2)
        )
    for n in range(1, degree + 1):
        for p in range(power + 1):
            value = beta * table[p, n - 1]
            if p > 0:
                value += p * table[p - 1, n - 1]
            table[p, n] = value / math.sqrt(n)
    return table[power]


def _double_factorial(n: int) -> int:
    return 1 if n <= 0 else n * _double_factorial(n - 2)


def _exp_right_tail(power: int, beta: complex, t: float, degree: int) -> np.ndarray:
    """int_t^inf z^p e^(beta z) h_n phi dz: the recursion where it is stable, else quadrature.

    The upward recursion in n multiplies errors by beta / sqrt(n); it is stable when the
    tail is dominated by the growing solution (Re beta > 0, small Im beta) or |beta| <= 1.
    """
    if abs(beta) <= 1.0 or (beta.real > 0 and abs(beta.imag) <= 1.0):
        return _exp_right_tail_recursion(power, beta, t, degree)
    hi = max(t, 0.0) + Z_LIMIT + max(beta.real, 0.0)
    lo = max(t, -hi)
    z, w = rule(lo, hi, panel_width(abs(beta), degree))
    weighted = w * z**power * np.exp(beta * z - 0.25 * z * z) / math.sqrt(SQRT2PI)
    return hermite_functions(z, degree).T @ weighted


def _exp_right_tail_recursion(power: int, beta: complex, t: float, degree: int) -> np.ndarray:
    """T(p, n) = int_t^inf z^p e^(beta z) h_n(z) phi(z) dz for n = 0..degree.

    T(p, n) = (1/sqrt n) [t^p e^(beta t) h_(n-1)(t) phi(t) + p T(p-1, n-1) + beta T(p, n-1)],
    T(p, 0) = e^(beta^2/2) sum_j C(p, j) beta^(p-j) M_j(t - beta), M_j the incomplete moments.
    """
    w = t - beta
    envelope = np.exp(-0.5 * t * t + t * beta)  # e^(beta^2/2) phi(t - beta) sqrt(2 pi)
    moments = [envelope * wofz(1j * w / math.sqrt(2.0)) / 2.0, envelope / SQRT2PI]
    for j in range(2, power + 1):
        moments.append(w ** (j - 1) * envelope / SQRT2PI + (j - 1) * moments[j - 2])
    table = np.zeros((power + 1, degree + 1), dtype=np.complex128)
    for p in range(power + 1):
        table[p, 0] = sum(math.comb(p, j) * beta ** (p - j) * moments[j] for j in range(p + 1))
    # h_(n-1)(t) phi(t) = psi_(n-1)(t) sqrt(phi(t)).
    boundary = hermite_functions(np.array(t), max(degree - 1, 0)) * math.exp(-0.25 * t * t)
    boundary = boundary / math.sqrt(SQRT2PI)
    edge = np.exp(beta * t)
    for n in range(1, degree + 1):
        for p in range(power + 1):
            value = t**p * edge * boundary[n - 1] + beta * table[p, n - 1]
            if p > 0:
                value += p * table[p - 1, n - 1]
            table[p, n] = value / math.sqrt(n)
    return table[power]


def _exp_on_interval(power: int, beta: complex, lo: float, hi: float, degree: int) -> np.ndarray:
    """int_lo^hi z^p e^(beta z) h_n phi dz (lo, hi in z; infinite ends allowed)."""
    if math.isinf(lo) and math.isinf(hi):
        return _exp_whole_line(power, beta, degree)
    if math.isinf(hi):
        return _exp_right_tail(power, beta, lo, degree)
    sign = (-1.0) ** (power + np.arange(degree + 1))
    left = sign * _exp_right_tail(power, -beta, -hi, degree)  # z -> -z
    if math.isinf(lo):
        return left
    return left - sign * _exp_right_tail(power, -beta, -lo, degree)


def term_coefficients(term: Term, root_q: float, lo: float, hi: float, degree: int) -> np.ndarray:
    """Coefficients of term(root_q z) restricted to z in (lo, hi)."""
    scale = term.coeff * root_q**term.power
    if term.kind == "exp":
        return scale * _exp_on_interval(term.power, term.rate * root_q, lo, hi, degree)
    top = degree + term.power
    if term.kind == "gauss":
        base = _gaussian_coeffs(term.rate.real * root_q * root_q, top)
    else:
        base = _erf_coeffs(term.rate.real * root_q, top)
    for _ in range(term.power):
        base = _multiply_by_z(base)
    return scale * base[: degree + 1]

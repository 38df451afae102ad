"""The Hermite engine: per-variance coefficient functions a_k(q) and Mehler-series kernels.

For an activation s and input variance q, a_k(q) = E[s(sqrt(q) z) h_k(z)] with the
orthonormal Hermite polynomials h_k = He_k / sqrt(k!). Mehler's formula then gives

    K(q1, q2, c)  = sum_k a_k(q1) a_k(q2) rho^k,
    K'(q1, q2, c) = sum_k k a_k(q1) a_k(q2) rho^(k-1) / sqrt(q1 q2),   rho = c / sqrt(q1 q2).

Coefficients are computed exactly for every q (never at q = 1 and rescaled). The
activation is cut at its kinks into smooth pieces; on each piece the terms
x^p exp(b x) (b complex: polynomials, exp, sin, cos, the relu family, elu pieces) get
closed forms by Gaussian integration by parts, x^p exp(-a x^2) and x^p erf(b x) on the
whole line get closed forms too, and every other term is integrated numerically with
composite Gauss-Legendre rules and the three-term recurrence of the Hermite functions.
Where the truncated Mehler series cannot certify the tolerance (|rho| near 1 for
kinked activations), ``HermiteDual`` integrates directly in rotated coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import sympy as sp
from scipy.special import wofz

from dualcalc.derivation.integrability import check_square_integrable
from dualcalc.errors import DerivationError, DualcalcError
from dualcalc.expression.activation import Activation, lambdify_numpy
from dualcalc.expression.pieces import SmoothPiece, jump_points, piecewise_numpy, smooth_pieces
from dualcalc.expression.symbols import X

#: Largest degree the engine computes (the Hermite functions stay in float range).
MAX_DEGREE = 400
#: Gauss-Legendre nodes per panel of the numeric rules.
NODES = 16
#: |z| beyond which Gaussian mass is ignored for bounded integrands: P(|z| > 13) ~ 1e-38.
Z_LIMIT = 13.0
_SQRT2PI = math.sqrt(2.0 * math.pi)
#: Direct 2-D rule near |rho| = 1: nodes per panel and the widest panel.
DIRECT_NODES = 12
DIRECT_WIDTH = 0.75


# --- pieces and term families ---------------------------------------------------------------


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


# --- Hermite functions and numeric rules ---------------------------------------------------


def hermite_functions(z: np.ndarray, degree: int) -> np.ndarray:
    """psi_k(z) = h_k(z) sqrt(phi(z)), k = 0..degree, stacked on a new last axis (stable)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty(z.shape + (degree + 1,))
    prev = np.zeros_like(z)
    cur = np.exp(-0.25 * z * z) / math.sqrt(_SQRT2PI)
    for k in range(degree + 1):
        out[..., k] = cur
        prev, cur = cur, (z * cur - math.sqrt(k) * prev) / math.sqrt(k + 1)
    return out


@lru_cache(maxsize=8)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _rule(lo: float, hi: float, width: float, n: int = NODES) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule on [lo, hi] with panels no wider than ``width``."""
    count = max(1, math.ceil((hi - lo) / width))
    edges = np.linspace(lo, hi, count + 1)
    x, w = _legendre(n)
    half = 0.5 * np.diff(edges)
    nodes = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * x
    return nodes.ravel(), (half[:, None] * w).ravel()


def _panel_width(root_q: float, degree: int) -> float:
    """Panel width resolving s(sqrt(q) z) (scale 1/sqrt(q)) and psi_degree's oscillation."""
    return min(0.5, 1.0 / max(root_q, 1e-300), 2.5 / math.sqrt(2.0 * degree + 1.0))


def _z_range(
    f: Callable, root_q: float, lo: float, hi: float, power: float = 2.0
) -> tuple[float, float]:
    """[lo, hi] (in z) cut to where |f(root_q z)|^power phi(z) is not negligible (1e-34 of its
    max); power 2 for squared integrands, 1 for an integrand f itself."""
    z = np.linspace(max(lo, -38.0), min(hi, 38.0), 1521)
    with np.errstate(all="ignore"):
        log_mass = power * np.log(np.abs(f(root_q * z))) - 0.5 * z * z
    # f overflowing far out (exp(10 z) at z = 38) says nothing about where the mass is.
    log_mass = np.where(np.isfinite(log_mass), log_mass, -np.inf)
    keep = log_mass > np.max(log_mass) - 80.0
    if not np.any(keep):
        return max(lo, -1.0), min(hi, 1.0)
    step = z[1] - z[0]
    new_lo = max(lo, z[keep][0] - 2 * step, -38.0)
    new_hi = min(hi, z[keep][-1] + 2 * step, 38.0)
    return float(new_lo), float(new_hi)


def _numeric_piece(
    f: Callable, root_q: float, lo: float, hi: float, degree: int
) -> tuple[np.ndarray, float]:
    """(a_0..a_degree, E[f^2 1_piece]) of f(root_q z) on z in (lo, hi), by quadrature."""
    lo, hi = max(lo, -38.0), min(hi, 38.0)
    if hi <= lo:
        return np.zeros(degree + 1), 0.0
    lo, hi = _z_range(f, root_q, lo, hi)
    z, w = _rule(lo, hi, _panel_width(root_q, degree))
    values = np.asarray(f(root_q * z), dtype=np.float64)
    weighted = w * values * np.exp(-0.25 * z * z) / math.sqrt(_SQRT2PI)
    coeffs = hermite_functions(z, degree).T @ weighted
    second = float(np.sum(w * values**2 * np.exp(-0.5 * z * z)) / _SQRT2PI)
    return coeffs, second


# --- closed forms -----------------------------------------------------------------------------


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
    z, w = _rule(lo, hi, _panel_width(abs(beta), degree))
    weighted = w * z**power * np.exp(beta * z - 0.25 * z * z) / math.sqrt(_SQRT2PI)
    return hermite_functions(z, degree).T @ weighted


def _exp_right_tail_recursion(power: int, beta: complex, t: float, degree: int) -> np.ndarray:
    """T(p, n) = int_t^inf z^p e^(beta z) h_n(z) phi(z) dz for n = 0..degree.

    T(p, n) = (1/sqrt n) [t^p e^(beta t) h_(n-1)(t) phi(t) + p T(p-1, n-1) + beta T(p, n-1)],
    T(p, 0) = e^(beta^2/2) sum_j C(p, j) beta^(p-j) M_j(t - beta), M_j the incomplete moments.
    """
    w = t - beta
    envelope = np.exp(-0.5 * t * t + t * beta)  # e^(beta^2/2) phi(t - beta) sqrt(2 pi)
    moments = [envelope * wofz(1j * w / math.sqrt(2.0)) / 2.0, envelope / _SQRT2PI]
    for j in range(2, power + 1):
        moments.append(w ** (j - 1) * envelope / _SQRT2PI + (j - 1) * moments[j - 2])
    table = np.zeros((power + 1, degree + 1), dtype=np.complex128)
    for p in range(power + 1):
        table[p, 0] = sum(math.comb(p, j) * beta ** (p - j) * moments[j] for j in range(p + 1))
    # h_(n-1)(t) phi(t) = psi_(n-1)(t) sqrt(phi(t)).
    boundary = hermite_functions(np.array(t), max(degree - 1, 0)) * math.exp(-0.25 * t * t)
    boundary = boundary / math.sqrt(_SQRT2PI)
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


def _term_coeffs(term: Term, root_q: float, lo: float, hi: float, degree: int) -> np.ndarray:
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


# --- public coefficient API ----------------------------------------------------------------


def _as_activation(act: Activation) -> Activation:
    if not isinstance(act, Activation):
        raise DualcalcError(f"expected an Activation, got {type(act).__name__}")
    return act


def _validate_degree(degree: int) -> int:
    if not isinstance(degree, (int, np.integer)) or degree < 0 or degree > MAX_DEGREE:
        raise DualcalcError(f"degree must be an integer from 0 to {MAX_DEGREE}, got {degree!r}")
    return int(degree)


def _validate_q(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise DualcalcError("variances q must be finite and non-negative")
    return q


def _coefficients_one(act: Activation, q: float, degree: int) -> tuple[np.ndarray, float]:
    """(a_0..a_degree, E[s(sqrt(q) z)^2]) at one variance q >= 0."""
    if q == 0.0:
        value = float(piecewise_numpy(act)(np.array(0.0)))
        out = np.zeros(degree + 1)
        out[0] = value
        return out, value * value
    root = math.sqrt(q)
    total = np.zeros(degree + 1, dtype=np.complex128)
    second = 0.0
    for piece in activation_pieces(act):
        lo, hi = piece.lo / root, piece.hi / root
        for term in piece.terms:
            total += _term_coeffs(term, root, lo, hi, degree)
        if piece.remainder_numpy is not None:
            coeffs, _ = _numeric_piece(piece.remainder_numpy, root, lo, hi, degree)
            total += coeffs
    for piece in smooth_pieces(act):
        _, part = _numeric_piece(piece_numpy(piece), root, piece.lo / root, piece.hi / root, 0)
        second += part
    return total.real.copy(), second


def hermite_coefficients(act: Activation, degree: int, q: float | np.ndarray = 1.0) -> np.ndarray:
    """a_k(q) = E[s(sqrt(q) z) h_k(z)], k = 0..degree: shape (degree+1,) or (len(q), degree+1)."""
    act = _as_activation(act)
    degree = _validate_degree(degree)
    q_arr = _validate_q(q)
    check_square_integrable(act)
    flat = np.atleast_1d(q_arr).ravel()
    out = np.stack([_coefficients_one(act, float(v), degree)[0] for v in flat])
    return out[0] if q_arr.ndim == 0 else out.reshape(q_arr.shape + (degree + 1,))


def second_moment(act: Activation, q: float) -> float:
    """E[s(sqrt(q) z)^2] by the engine's own piecewise quadrature."""
    return _coefficients_one(act, float(_validate_q(q)), 0)[1]


def hermite_tail(act: Activation, degree: int, q: float | np.ndarray = 1.0) -> np.ndarray | float:
    """E[s(sqrt(q) z)^2] - sum_(k <= degree) a_k(q)^2: the squared norm the truncation drops."""
    act = _as_activation(act)
    degree = _validate_degree(degree)
    q_arr = _validate_q(q)
    check_square_integrable(act)
    tails = []
    for v in np.atleast_1d(q_arr).ravel():
        coeffs, second = _coefficients_one(act, float(v), degree)
        tails.append(max(second - float(np.sum(coeffs**2)), 0.0))
    out = np.array(tails)
    return float(out[0]) if q_arr.ndim == 0 else out.reshape(q_arr.shape)


@dataclass(frozen=True)
class DegreeChoice:
    """The degree picked for a tolerance and the relative truncation bound it achieves."""

    degree: int
    bound: float  # max over q of tail(q) / E[s(sqrt(q) z)^2]
    tolerance: float
    met: bool


def choose_degree(
    act: Activation, q: float | np.ndarray = 1.0, tol: float = 1e-10, max_degree: int = MAX_DEGREE
) -> DegreeChoice:
    """Smallest degree (doubling from 8) with tail(q) <= tol E[s^2] for every q given."""
    act = _as_activation(act)
    check_square_integrable(act)
    q_values = np.atleast_1d(_validate_q(q)).ravel()
    degree = 8
    while True:
        worst = 0.0
        for v in q_values:
            coeffs, second = _coefficients_one(act, float(v), degree)
            tail = max(second - float(np.sum(coeffs**2)), 0.0)
            worst = max(worst, tail / second if second > 0 else 0.0)
        if worst <= tol or degree >= max_degree:
            return DegreeChoice(degree, worst, tol, worst <= tol)
        degree = min(2 * degree, max_degree)


# --- kernels ------------------------------------------------------------------------------------


def _broadcast_inputs(q1, q2, c) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    q1, q2, c = (np.asarray(v, dtype=np.float64) for v in (q1, q2, c))
    shape = np.broadcast_shapes(q1.shape, q2.shape, c.shape)
    q1, q2, c = (np.broadcast_to(v, shape).ravel() for v in (q1, q2, c))
    if not (np.all(np.isfinite(q1)) and np.all(np.isfinite(q2)) and np.all(np.isfinite(c))):
        raise DualcalcError("q1, q2 and c must be finite")
    if np.any(q1 < 0) or np.any(q2 < 0):
        raise DualcalcError("variances q1, q2 must be non-negative")
    limit = np.sqrt(q1 * q2)
    if np.any(np.abs(c) > limit * (1 + 1e-9) + 1e-300):
        raise DualcalcError("|c| exceeds sqrt(q1 q2): not a covariance matrix")
    return q1, q2, c, shape


@dataclass
class HermiteDual:
    """Dual activation by the Hermite route: Mehler's series, direct quadrature near |rho| = 1.

    ``degree`` is the truncation of the series; a point uses the series only when the
    rigorous truncation bound |rho|^(n+1) sqrt(tail(q1) tail(q2)) (and its analogue for
    K') is below ``tol`` times the Cauchy-Schwarz scale, else direct 2-D quadrature.
    """

    activation: Activation
    degree: int = 256
    tol: float = 1e-11
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _as_activation(self.activation)
        self.degree = _validate_degree(self.degree)
        check_square_integrable(self.activation)

    @classmethod
    def from_activation(cls, act: Activation, degree: int = 256, tol: float = 1e-11) -> HermiteDual:
        """Build the Hermite-route dual of ``act``."""
        return cls(act, degree, tol)

    def coefficients(self, degree: int, q: float | np.ndarray = 1.0) -> np.ndarray:
        """a_0..a_degree at variance(s) q."""
        return hermite_coefficients(self.activation, degree, q)

    @cached_property
    def _numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        return piecewise_numpy(self.activation)

    @cached_property
    def _derivative_numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        return piecewise_numpy(self.activation, derivative=True)

    @cached_property
    def _discontinuous(self) -> bool:
        return bool(jump_points(self.activation))

    def _stats(self, q: float) -> tuple[np.ndarray, float, float]:
        """(a_k(q), E[s^2], q E[s'^2]) cached per q."""
        key = float(q)
        if key not in self._cache:
            coeffs, second = _coefficients_one(self.activation, key, self.degree)
            d_second = self._derivative_second(key)
            self._cache[key] = (coeffs, second, d_second)
        return self._cache[key]

    def _derivative_second(self, q: float) -> float:
        if self._discontinuous:
            return math.inf
        if q == 0.0:
            return 0.0
        root = math.sqrt(q)
        total = 0.0
        for piece in smooth_pieces(self.activation, derivative=True):
            f = piece_numpy(piece)
            _, part = _numeric_piece(f, root, piece.lo / root, piece.hi / root, 0)
            total += part
        return q * total

    def _gather(self, q: np.ndarray):
        unique, index = np.unique(q, return_inverse=True)
        stats = [self._stats(v) for v in unique]
        coeffs = np.stack([s[0] for s in stats])[index]
        second = np.array([s[1] for s in stats])[index]
        d_second = np.array([s[2] for s in stats])[index]
        return coeffs, second, d_second

    def kernel(self, q1, q2, c) -> np.ndarray:
        """K(q1, q2, c) = E[s(u) s(v)], float64, broadcasting."""
        return self._evaluate(q1, q2, c, derivative=False)

    def dkernel(self, q1, q2, c) -> np.ndarray:
        """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc, float64, broadcasting."""
        if self._discontinuous:
            raise DerivationError(
                f"{self.activation.text} jumps at a kink: K' = E[s'(u) s'(v)] contains a Dirac "
                "delta and is not a function"
            )
        return self._evaluate(q1, q2, c, derivative=True)

    def _evaluate(self, q1, q2, c, derivative: bool) -> np.ndarray:
        q1, q2, c, shape = _broadcast_inputs(q1, q2, c)
        a1, m1, d1 = self._gather(q1)
        a2, m2, d2 = self._gather(q2)
        denom = np.sqrt(q1 * q2)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(denom > 0, c / np.where(denom > 0, denom, 1.0), 0.0)
        rho = snap_to_edge(np.clip(rho, -1.0, 1.0))
        k = np.arange(self.degree + 1)
        if derivative:
            series, bound, scale = self._mehler_derivative(a1, a2, d1, d2, q1, q2, rho, k)
        else:
            series = _horner(a1 * a2, rho)
            t1 = np.maximum(m1 - np.sum(a1**2, axis=-1), 0.0)
            t2 = np.maximum(m2 - np.sum(a2**2, axis=-1), 0.0)
            bound = np.abs(rho) ** (self.degree + 1) * np.sqrt(t1 * t2) + 1e-15 * np.sqrt(m1 * m2)
            scale = np.sqrt(m1 * m2)
        out = series.copy()
        direct = np.nonzero((bound > self.tol * scale) | (np.abs(rho) == 1.0))[0]
        for i in direct:
            out[i] = self._direct(q1[i], q2[i], rho[i], derivative)
        return out.reshape(shape)

    def _mehler_derivative(self, a1, a2, d1, d2, q1, q2, rho, k):
        roots = np.sqrt(k[1:])
        r1, r2 = np.sqrt(q1), np.sqrt(q2)
        b1 = np.where(r1[:, None] > 0, roots * a1[:, 1:] / np.where(r1 > 0, r1, 1.0)[:, None], 0.0)
        b2 = np.where(r2[:, None] > 0, roots * a2[:, 1:] / np.where(r2 > 0, r2, 1.0)[:, None], 0.0)
        zero1, zero2 = q1 == 0, q2 == 0
        if np.any(zero1) or np.any(zero2):
            slope0 = float(self._derivative_numpy(np.array(0.0)))
            b1[zero1, 0] = slope0
            b2[zero2, 0] = slope0
        series = _horner(b1 * b2, rho)
        # sum_k k a_k^2 = q E[s'^2]: the dropped part, in units of E[s'(u)^2] = d / q.
        m1 = np.where(q1 > 0, d1 / np.where(q1 > 0, q1, 1.0), slope0_sq(self, q1))
        m2 = np.where(q2 > 0, d2 / np.where(q2 > 0, q2, 1.0), slope0_sq(self, q2))
        t1 = np.maximum(m1 - np.sum(b1**2, axis=-1), 0.0)
        t2 = np.maximum(m2 - np.sum(b2**2, axis=-1), 0.0)
        scale = np.sqrt(m1 * m2)
        bound = np.abs(rho) ** self.degree * np.sqrt(t1 * t2) + 1e-15 * scale
        return series, bound, scale

    def _direct(self, q1: float, q2: float, rho: float, derivative: bool) -> float:
        f = self._derivative_numpy if derivative else self._numpy
        return rotated_pair_expectation(f, float(q1), float(q2), float(rho), self.activation.kinks)


def slope0_sq(dual: HermiteDual, q: np.ndarray) -> np.ndarray:
    """s'(0)^2 where q = 0 (the K' scale of a zero-variance input), else 0."""
    if not np.any(q == 0):
        return np.zeros_like(q)
    return np.full_like(q, float(dual._derivative_numpy(np.array(0.0))) ** 2)


def _horner(products: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """sum_k products[..., k] rho^k by Horner's rule."""
    out = np.zeros(products.shape[:-1])
    for k in range(products.shape[-1] - 1, -1, -1):
        out = out * rho + products[..., k]
    return out


# --- direct quadrature in rotated coordinates ---------------------------------------------


def rotated_pair_expectation(
    f: Callable, q1: float, q2: float, rho: float, kinks: tuple[float, ...] = ()
) -> float:
    """E[f(u) f(v)], corr(u, v) = rho, by a 2-D rule in rotated coordinates.

    For rho < 0 the second factor is reflected, f(v) = f(-(-v)), so that rho >= 0. Then
    x = a t1 + b t2, y = a t1 - b t2 with a = sqrt((1 + rho)/2) >= b = sqrt((1 - rho)/2)
    and independent standard normals t1, t2; u = sqrt(q1) x, v = sqrt(q2) y. The inner
    integral over t1 is split where x or y crosses a kink; the outer one over t2 is split
    where two kink lines cross, so every panel holds a smooth integrand.
    """
    if q1 == 0.0 or q2 == 0.0:
        return _zero_variance_pair(f, q1, q2, kinks)
    if abs(rho) == 1.0:
        return edge_pair_expectation(f, q1, q2, rho, kinks)
    kx = [k / math.sqrt(q1) for k in kinks]
    if rho < 0:
        ky = [-k / math.sqrt(q2) for k in kinks]
        return _rotated(f, lambda v: f(-v), q1, q2, -rho, kx, ky)
    return _rotated(f, f, q1, q2, rho, kx, [k / math.sqrt(q2) for k in kinks])


def _rotated(
    f: Callable, g: Callable, q1: float, q2: float, rho: float, kx: list[float], ky: list[float]
) -> float:
    """E[f(sqrt(q1) x) g(sqrt(q2) y)], corr(x, y) = rho >= 0, kinks kx of x and ky of y."""
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    a, b = math.sqrt(0.5 * (1.0 + rho)), math.sqrt(0.5 * (1.0 - rho))
    lim = max(Z_LIMIT, *_reach(f, r1), *_reach(g, r2)) + 1.0
    width_inner = DIRECT_WIDTH * min(1.0, 2.0 / (max(r1, r2) * a))
    width_outer = DIRECT_WIDTH * min(1.0, 2.0 / (max(r1, r2) * max(b, 1e-300)))
    crossings = [(p - q) / (2.0 * b) for p in kx for q in ky if b > 0]
    t2, w2 = _split_rule(-lim, lim, crossings, width_outer, DIRECT_NODES)
    x_inner, w_inner = _legendre(DIRECT_NODES)
    grid = np.linspace(-lim, lim, math.ceil(2 * lim / width_inner) + 1)
    cuts = [(p - b * t2) / a for p in kx] + [(q + b * t2) / a for q in ky]
    edges = np.sort(
        np.concatenate(
            [np.broadcast_to(grid, (len(t2), len(grid)))]
            + [np.clip(cut, -lim, lim)[:, None] for cut in cuts],
            axis=1,
        ),
        axis=1,
    )
    half = 0.5 * np.diff(edges, axis=1)
    t1 = (0.5 * (edges[:, 1:] + edges[:, :-1]))[..., None] + half[..., None] * x_inner
    weights = half[..., None] * w_inner * np.exp(-0.5 * t1 * t1) / _SQRT2PI
    x = a * t1 + b * t2[:, None, None]
    y = a * t1 - b * t2[:, None, None]
    values = np.asarray(f(r1 * x), dtype=np.float64) * np.asarray(g(r2 * y), dtype=np.float64)
    inner = np.sum(values * weights, axis=(1, 2))
    return float(np.sum(w2 * inner * np.exp(-0.5 * t2 * t2) / _SQRT2PI))


def _reach(f: Callable, root_q: float) -> tuple[float, float]:
    lo, hi = _z_range(f, root_q, -38.0, 38.0)
    return abs(lo), abs(hi)


def _split_rule(lo: float, hi: float, cuts: list[float], width: float, nodes: int = NODES):
    inside = sorted(c for c in cuts if lo < c < hi)
    bounds = [lo, *inside, hi]
    points, weights = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a > 1e-15:
            z, w = _rule(a, b, width, nodes)
            points.append(z)
            weights.append(w)
    return np.concatenate(points), np.concatenate(weights)


#: |rho| within this many ulps of 1 is taken as 1: the data cannot resolve it, and kinked
#: duals have infinite slope there (the generated modules use the same convention).
EDGE_ULPS = 64


def snap_to_edge(rho: np.ndarray) -> np.ndarray:
    """rho with values within EDGE_ULPS of +-1 set to +-1 exactly."""
    tol = EDGE_ULPS * np.finfo(np.float64).eps
    return np.where(np.abs(rho) >= 1.0 - tol, np.sign(rho), rho)


def edge_pair_expectation(
    f: Callable, q1: float, q2: float, sign: float, kinks: tuple[float, ...] = ()
) -> float:
    """E[f(sqrt(q1) z) f(sign sqrt(q2) z)], z ~ N(0, 1): the dual at rho = sign = +-1.

    One Gaussian for both inputs (collinear or mirrored points, a point with itself), so a
    1-D rule split at every kink of both factors; no 2-D quadrature near a degenerate edge.
    """
    if q1 == 0.0 or q2 == 0.0:
        return _zero_variance_pair(f, q1, q2, kinks)
    r1, r2 = math.sqrt(q1), math.sqrt(q2)
    ratio = math.copysign(r2 / r1, sign)

    def product(x):
        return np.asarray(f(x), dtype=np.float64) * np.asarray(f(ratio * x), dtype=np.float64)

    lo, hi = _z_range(product, r1, -38.0, 38.0, power=1.0)
    cuts = sorted({k / r1 for k in kinks} | {k / (ratio * r1) for k in kinks})
    z, w = _split_rule(lo, hi, cuts, _panel_width(max(r1, r2), 0))
    return float(np.sum(w * product(r1 * z) * np.exp(-0.5 * z * z)) / _SQRT2PI)


def _zero_variance_pair(f: Callable, q1: float, q2: float, kinks: tuple[float, ...]) -> float:
    """E[f(0) f(v)] when one input has zero variance."""
    f0 = float(f(np.array(0.0)))
    q = max(q1, q2)
    if q == 0.0:
        return f0 * f0
    root = math.sqrt(q)
    bounds = [-math.inf, *[k / root for k in kinks], math.inf]
    total = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        lo, hi = _z_range(f, root, max(lo, -38.0), min(hi, 38.0))
        z, w = _rule(lo, hi, _panel_width(root, 0))
        total += float(np.sum(w * f(root * z) * np.exp(-0.5 * z * z)) / _SQRT2PI)
    return f0 * total

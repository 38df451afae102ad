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

Modules: ``hermite_terms`` (term families and their closed-form coefficients),
``hermite_rules`` (Hermite functions, composite rules), ``pair_expectation`` (direct
quadrature near and on the edge); this one holds the coefficient API and ``HermiteDual``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dualcalc.derivation.hermite_rules import numeric_piece
from dualcalc.derivation.hermite_terms import activation_pieces, piece_numpy, term_coefficients
from dualcalc.derivation.integrability import check_square_integrable
from dualcalc.derivation.pair_expectation import rotated_pair_expectation, snap_to_edge
from dualcalc.errors import DerivationError, DualcalcError
from dualcalc.expression.activation import Activation
from dualcalc.expression.pieces import jump_points, piecewise_numpy, smooth_pieces

#: Largest degree the engine computes (the Hermite functions stay in float range).
MAX_DEGREE = 400


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
            total += term_coefficients(term, root, lo, hi, degree)
        if piece.remainder_numpy is not None:
            coeffs, _ = numeric_piece(piece.remainder_numpy, root, lo, hi, degree)
            total += coeffs
    for piece in smooth_pieces(act):
        _, part = numeric_piece(piece_numpy(piece), root, piece.lo / root, piece.hi / root, 0)
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
            _, part = numeric_piece(f, root, piece.lo / root, piece.hi / root, 0)
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

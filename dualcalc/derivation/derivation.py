"""The Derivation result and ``derive``: a verified closed form, or else the Hermite route.

A closed form from the symbolic engine is accepted only after it agrees with the
independent quadrature oracle at VERIFY_POINTS random (q1, q2, c); otherwise the
activation falls back to exact per-variance Hermite coefficients (Mehler's series).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import sympy as sp

from dualcalc.derivation import hermite as hermite_route
from dualcalc.derivation.closed_form import derive_closed_form
from dualcalc.derivation.closed_form.steps import Step
from dualcalc.derivation.numeric import KernelFn, lambdify_kernel
from dualcalc.derivation.quadrature import (
    dkernel_scale,
    dual_dkernel_oracle,
    dual_kernel_oracle,
    is_discontinuous,
    kernel_scale,
)
from dualcalc.errors import DerivationError, NoClosedFormError
from dualcalc.expression.activation import Activation
from dualcalc.expression.parser import parse

#: Verification protocol for closed forms (relative to the Cauchy-Schwarz scale).
VERIFY_POINTS = 20
VERIFY_TOLERANCE = 1e-10
VERIFY_Q_RANGE = (0.05, 20.0)
VERIFY_RHO_MAX = 0.999
#: Relative tolerance of the Hermite tail when picking the default Mehler degree.
HERMITE_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Derivation:
    """Dual activation of ``activation``: K(q1, q2, c) = E[s(u) s(v)] and K' = dK/dc.

    ``nngp`` / ``dnngp`` are sympy expressions in q1, q2 (positive) and c (real)
    when ``closed_form``; ``residual`` is the largest relative error against the
    quadrature oracle over the verification points.
    """

    activation: Activation
    closed_form: bool
    nngp: sp.Expr | None
    dnngp: sp.Expr | None
    steps: tuple[Step, ...]
    residual: float | None
    derivative_is_distribution: bool
    hermite_degree: int
    reason: str | None = None

    @cached_property
    def _nngp_fn(self) -> KernelFn | None:
        return lambdify_kernel(self.nngp) if self.nngp is not None else None

    @cached_property
    def _dnngp_fn(self) -> KernelFn | None:
        return lambdify_kernel(self.dnngp) if self.dnngp is not None else None

    @cached_property
    def _hermite(self) -> hermite_route.HermiteDual:
        return hermite_route.HermiteDual(self.activation)

    def kernel(self, q1, q2, c) -> np.ndarray:
        """K(q1, q2, c) = E[s(u) s(v)], float64, broadcasting over the three arguments."""
        if self._nngp_fn is not None:
            return self._nngp_fn(q1, q2, c)
        return self._hermite.kernel(q1, q2, c)

    def dkernel(self, q1, q2, c) -> np.ndarray:
        """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc, float64, broadcasting."""
        if self.derivative_is_distribution:
            raise DerivationError(
                f"{self.activation.name} is discontinuous, so s' contains a Dirac delta and "
                "K' = E[s'(u) s'(v)] is a distribution, not a function; NTKs of this activation "
                "are not defined (NNGP kernels are)"
            )
        if self._dnngp_fn is not None:
            return self._dnngp_fn(q1, q2, c)
        return self._hermite.dkernel(q1, q2, c)

    def hermite(self, degree: int, q=1.0) -> np.ndarray:
        """a_0..a_degree of s(sqrt(q) z) in the orthonormal basis He_k / sqrt(k!)."""
        return hermite_route.hermite_coefficients(self.activation, degree, q)

    def hermite_tail(self, degree: int, q=1.0) -> np.ndarray:
        """Truncation bound E[s(sqrt(q) z)^2] - sum_{k <= degree} a_k(q)^2."""
        return hermite_route.hermite_tail(self.activation, degree, q)


def derive(source: str | Activation) -> Derivation:
    """Derive the dual activation of an expression text or a parsed Activation (cached)."""
    activation = source if isinstance(source, Activation) else _parse_cached(source)
    if not isinstance(activation, Activation):
        raise DerivationError(f"derive() takes text or an Activation, got {type(source).__name__}")
    core = _derive_core(activation.text, activation)
    return dataclasses.replace(core, activation=activation)


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Activation:
    return parse(text)


@lru_cache(maxsize=256)
def _derive_core(key: str, activation: Activation) -> Derivation:
    """The derivation of one canonical expression (``key`` is its canonical text)."""
    hermite_route.check_square_integrable(activation)
    try:
        found = derive_closed_form(activation)
    except NoClosedFormError as exc:
        return _hermite_derivation(activation, f"no closed form: {exc}", ())
    residual = verify_closed_form(activation, found.nngp, found.dnngp)
    verify_step = Step(
        rule="verify",
        description=(
            f"compared with 2-D Gaussian quadrature at {VERIFY_POINTS} random (q1, q2, c), "
            f"q in [{VERIFY_Q_RANGE[0]}, {VERIFY_Q_RANGE[1]}], |rho| <= {VERIFY_RHO_MAX}: "
            f"max relative error {residual:.2e} (tolerance {VERIFY_TOLERANCE:.0e})"
        ),
        result=sp.Float(residual, 3),
        latex=rf"\max |K - K_{{\mathrm{{quad}}}}| / \mathrm{{scale}} = {residual:.2e}",
    )
    steps = (*found.steps, verify_step)
    if not residual <= VERIFY_TOLERANCE:
        return _hermite_derivation(
            activation,
            f"closed form rejected: relative error {residual:.2e} > {VERIFY_TOLERANCE:.0e}",
            steps,
        )
    return Derivation(
        activation=activation,
        closed_form=True,
        nngp=found.nngp,
        dnngp=found.dnngp,
        steps=steps,
        residual=residual,
        derivative_is_distribution=found.derivative_is_distribution,
        hermite_degree=_default_degree(activation).degree,
    )


def _hermite_derivation(activation: Activation, reason: str, steps: tuple[Step, ...]) -> Derivation:
    choice = _default_degree(activation)
    degree = choice.degree
    step = Step(
        rule="hermite",
        description=(
            f"{reason}; using exact per-variance Hermite coefficients a_k(q) and Mehler's series "
            f"K = sum_k a_k(q1) a_k(q2) rho^k (default degree {degree}, "
            f"relative tail {choice.bound:.1e} at q = 1)"
        ),
        result=sp.Integer(degree),
        latex=r"K(q_1, q_2, c) = \sum_k a_k(q_1)\, a_k(q_2)\, \rho^k",
    )
    return Derivation(
        activation=activation,
        closed_form=False,
        nngp=None,
        dnngp=None,
        steps=(*steps, step),
        residual=None,
        derivative_is_distribution=is_discontinuous(activation),
        hermite_degree=degree,
        reason=reason,
    )


def _default_degree(activation: Activation) -> hermite_route.DegreeChoice:
    """Mehler degree meeting HERMITE_TOLERANCE at q = 1, with the relative tail it achieves."""
    return hermite_route.choose_degree(activation, 1.0, tol=HERMITE_TOLERANCE)


def verification_points(count: int = VERIFY_POINTS, seed: int = 0) -> np.ndarray:
    """Deterministic (q1, q2, c) rows: q log-uniform in VERIFY_Q_RANGE, |rho| <= VERIFY_RHO_MAX."""
    rng = np.random.default_rng(seed)
    lo, hi = np.log(VERIFY_Q_RANGE[0]), np.log(VERIFY_Q_RANGE[1])
    q = np.exp(rng.uniform(lo, hi, size=(count, 2)))
    rho = rng.uniform(-VERIFY_RHO_MAX, VERIFY_RHO_MAX, size=count)
    rho[:2] = (VERIFY_RHO_MAX, -VERIFY_RHO_MAX)
    return np.column_stack([q[:, 0], q[:, 1], rho * np.sqrt(q[:, 0] * q[:, 1])])


def verify_closed_form(
    activation: Activation, nngp: sp.Expr, dnngp: sp.Expr | None, count: int = VERIFY_POINTS
) -> float:
    """Largest relative error of K (and K') against the quadrature oracle at ``count`` points."""
    points = verification_points(count)
    k_fn = lambdify_kernel(nngp)
    dk_fn = lambdify_kernel(dnngp) if dnngp is not None else None
    worst = 0.0
    for q1, q2, c in points:
        err = abs(float(k_fn(q1, q2, c)) - dual_kernel_oracle(activation, q1, q2, c))
        worst = max(worst, err / max(kernel_scale(activation, q1, q2), 1e-300))
        if dk_fn is None:
            continue
        derr = abs(float(dk_fn(q1, q2, c)) - dual_dkernel_oracle(activation, q1, q2, c))
        worst = max(worst, derr / max(dkernel_scale(activation, q1, q2), 1e-300))
    return float(worst) if np.isfinite(worst) else float("inf")

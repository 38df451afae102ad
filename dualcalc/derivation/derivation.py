"""The Derivation result: the symbolic outcome (activation, forms, route, steps) of one s.

The compile stage (``dualcalc.compiler.compile.derive``) fills it: a closed form from the
symbolic engine, accepted after its generated module agrees with the quadrature oracle, or
the Hermite route (``hermite_derivation``: exact per-variance coefficients, Mehler's
series). ``Derivation.kernel`` of a closed form runs the generated module it is handed
(``module``), the same code as ``dualcalc.load`` and the network runtime.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from dualcalc.derivation import hermite as hermite_route
from dualcalc.derivation.closed_form.steps import Step
from dualcalc.derivation.pair_expectation import edge_pair_expectation, snap_to_edge
from dualcalc.derivation.quadrature import (
    is_discontinuous,
)
from dualcalc.errors import DerivationError
from dualcalc.expression.activation import Activation
from dualcalc.expression.pieces import piecewise_numpy

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
    #: The generated module, executed in memory (closed forms: what kernel / dkernel run).
    module: types.ModuleType | None = field(default=None, compare=False, repr=False)

    @cached_property
    def _hermite(self) -> hermite_route.HermiteDual:
        return hermite_route.HermiteDual(self.activation)

    def kernel(self, q1, q2, c) -> np.ndarray:
        """K(q1, q2, c) = E[s(u) s(v)], float64, broadcasting over the three arguments.

        Closed forms run the generated code (exact at rho = +-1, never NaN); the Hermite
        route sums Mehler's series with direct quadrature near |rho| = 1. |c| may exceed
        sqrt(q1 q2) by rounding (it is then taken on the edge), not by more.
        """
        if self.closed_form:
            values = evaluate_kernel(self.module.nngp, q1, q2, c)
            return self._exact_on_edges(values, q1, q2, c, False)
        return self._hermite.kernel(q1, q2, c)

    def dkernel(self, q1, q2, c) -> np.ndarray:
        """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc, float64, broadcasting."""
        if self.derivative_is_distribution:
            raise DerivationError(
                f"{self.activation.name} is discontinuous, so s' contains a Dirac delta and "
                "K' = E[s'(u) s'(v)] is a distribution, not a function; NTKs of this activation "
                "are not defined (NNGP kernels are)"
            )
        if self.closed_form:
            values = evaluate_kernel(self.module.dnngp, q1, q2, c)
            return self._exact_on_edges(values, q1, q2, c, True)
        return self._hermite.dkernel(q1, q2, c)

    def _exact_on_edges(self, values: np.ndarray, q1, q2, c, derivative: bool) -> np.ndarray:
        """values with the pairs at |rho| = 1 (within rounding) from 1-D quadrature.

        The generated code is exact there for equal variances; collinear pairs of different
        norms are exact only where the printed form is (a nudged 0/0 form is not), so every
        edge pair takes the 1-D integral E[s(sqrt(q1) z) s(+-sqrt(q2) z)] (few pairs: cheap).
        """
        q1, q2, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (q1, q2, c)))
        bound = np.sqrt(q1) * np.sqrt(q2)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(bound > 0, c / np.where(bound > 0, bound, 1.0), 0.0)
        edge = np.argwhere((np.abs(snap_to_edge(rho)) == 1.0) & (bound > 0))
        if not len(edge):
            return values
        f = piecewise_numpy(self.activation, derivative=derivative)
        out = values.copy()
        for index in map(tuple, edge):
            out[index] = edge_pair_expectation(
                f, q1[index], q2[index], np.sign(rho[index]), self.activation.kinks
            )
        return out

    def hermite(self, degree: int, q=1.0) -> np.ndarray:
        """a_0..a_degree of s(sqrt(q) z) in the orthonormal basis He_k / sqrt(k!)."""
        return hermite_route.hermite_coefficients(self.activation, degree, q)

    def hermite_tail(self, degree: int, q=1.0) -> np.ndarray:
        """Truncation bound E[s(sqrt(q) z)^2] - sum_{k <= degree} a_k(q)^2."""
        return hermite_route.hermite_tail(self.activation, degree, q)


def hermite_derivation(activation: Activation, reason: str, steps: tuple[Step, ...]) -> Derivation:
    choice = default_degree(activation)
    degree = choice.degree
    step = Step(
        rule="hermite",
        description=(
            f"{reason}; using exact per-variance Hermite coefficients a_k(q) and Mehler's series "
            f"K = sum_k a_k(q1) a_k(q2) rho^k (default degree {degree}: relative tail "
            + (
                f"below {choice.tolerance:.0e} at q = 1)"
                if choice.met
                else f"above {choice.tolerance:.0e} at q = 1, the largest degree)"
            )
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


def default_degree(activation: Activation) -> hermite_route.DegreeChoice:
    """Mehler degree meeting HERMITE_TOLERANCE at q = 1, with the relative tail it achieves."""
    return hermite_route.choose_degree(activation, 1.0, tol=HERMITE_TOLERANCE)


#: |c| may exceed sqrt(q1 q2) by this relative amount (rounding) and is then on the edge.
COVARIANCE_SLACK = 1e-9


def evaluate_kernel(fn: Any, q1, q2, c) -> np.ndarray:
    """A generated kernel in float64 on validated, broadcast numpy inputs."""
    import jax  # lazy: derivation imports without JAX; only executing a printed form needs it

    q1, q2, c = (np.asarray(v, dtype=np.float64) for v in (q1, q2, c))
    shape = np.broadcast_shapes(q1.shape, q2.shape, c.shape)
    if not (np.all(np.isfinite(q1)) and np.all(np.isfinite(q2)) and np.all(np.isfinite(c))):
        raise DerivationError("q1, q2 and c must be finite")
    if np.any(q1 < 0) or np.any(q2 < 0):
        raise DerivationError("variances q1, q2 must be non-negative")
    bound = np.sqrt(q1) * np.sqrt(q2)
    if np.any(np.abs(c) > bound * (1 + COVARIANCE_SLACK) + 1e-300):
        raise DerivationError(
            "|c| exceeds sqrt(q1 q2) by more than rounding: [[q1, c], [c, q2]] is not a "
            "covariance matrix"
        )
    with jax.enable_x64(True):
        out = np.broadcast_to(np.asarray(fn(q1, q2, c), dtype=np.float64), shape).copy()
    if not np.all(np.isfinite(out)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise DerivationError(
            f"the kernel overflows float64 at q1 = {np.broadcast_to(q1, shape)[where]:.6g}, "
            f"q2 = {np.broadcast_to(q2, shape)[where]:.6g}: |K| exceeds 1.8e308 there (an "
            "activation growing like exp(a x) has E[s(u) s(v)] ~ exp(a^2 q))"
        )
    return out

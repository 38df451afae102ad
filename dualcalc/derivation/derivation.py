"""The Derivation result and ``derive``: a verified closed form, or else the Hermite route.

A closed form from the symbolic engine is printed as its generated JAX module, and accepted
only after that module agrees with the independent quadrature oracle at VERIFY_POINTS random
(q1, q2, c); otherwise the activation falls back to exact per-variance Hermite coefficients
(Mehler's series). One printed form serves every evaluation: ``Derivation.kernel`` of a
closed form runs the same generated code as ``dualcalc.load`` and the network runtime.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import sympy as sp

from dualcalc.derivation import hermite as hermite_route
from dualcalc.derivation.budget import SymbolicBudgetExceeded, resolve_budget, time_budget
from dualcalc.derivation.closed_form import derive_closed_form
from dualcalc.derivation.closed_form.steps import Step
from dualcalc.derivation.integrability import check_square_integrable
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
from dualcalc.expression.pieces import piecewise_numpy

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
            return self._exact_on_edges(_evaluate(self.module.nngp, q1, q2, c), q1, q2, c, False)
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
            return self._exact_on_edges(_evaluate(self.module.dnngp, q1, q2, c), q1, q2, c, True)
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
        edge = np.argwhere((np.abs(hermite_route.snap_to_edge(rho)) == 1.0) & (bound > 0))
        if not len(edge):
            return values
        f = piecewise_numpy(self.activation, derivative=derivative)
        out = values.copy()
        for index in map(tuple, edge):
            out[index] = hermite_route.edge_pair_expectation(
                f, q1[index], q2[index], np.sign(rho[index]), self.activation.kinks
            )
        return out

    def hermite(self, degree: int, q=1.0) -> np.ndarray:
        """a_0..a_degree of s(sqrt(q) z) in the orthonormal basis He_k / sqrt(k!)."""
        return hermite_route.hermite_coefficients(self.activation, degree, q)

    def hermite_tail(self, degree: int, q=1.0) -> np.ndarray:
        """Truncation bound E[s(sqrt(q) z)^2] - sum_{k <= degree} a_k(q)^2."""
        return hermite_route.hermite_tail(self.activation, degree, q)


def derive(source: str | Activation, budget: float | None = None) -> Derivation:
    """Derive the dual activation of an expression text or a parsed Activation (cached).

    ``budget`` bounds the symbolic closed-form search in seconds (default
    $DUALCALC_SYMBOLIC_BUDGET, else 20 s; ``math.inf`` for none): past it the activation
    takes the Hermite route and ``reason`` says so.
    """
    seconds = resolve_budget(budget)
    if not isinstance(source, (str, Activation)):
        raise DerivationError(f"derive() takes text or an Activation, got {type(source).__name__}")
    activation = source if isinstance(source, Activation) else _parse_cached(source)
    core = _derive_core(activation.text, activation, seconds)
    return dataclasses.replace(core, activation=activation)


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Activation:
    return parse(text)


@lru_cache(maxsize=256)
def _derive_core(key: str, activation: Activation, budget: float) -> Derivation:
    """The derivation of one canonical expression (``key`` is its canonical text)."""
    check_square_integrable(activation)
    try:
        with time_budget(budget):
            found = derive_closed_form(activation)
    except NoClosedFormError as exc:
        return _hermite_derivation(activation, f"no closed form: {exc}", ())
    except SymbolicBudgetExceeded as exc:
        return _hermite_derivation(activation, str(exc), ())
    candidate = Derivation(
        activation=activation,
        closed_form=True,
        nngp=found.nngp,
        dnngp=found.dnngp,
        steps=tuple(found.steps),
        residual=None,
        derivative_is_distribution=found.derivative_is_distribution,
        hermite_degree=_default_degree(activation).degree,
    )
    try:
        module = _generated_module(candidate)
    except DerivationError as exc:
        step = Step(
            rule="verify",
            description=f"generated code rejected: {exc}",
            result=sp.S.NaN,
            latex=r"\text{rejected at the edge } \rho = \pm 1",
        )
        reason = f"closed form rejected: {exc}"
        return _hermite_derivation(activation, reason, (*found.steps, step))
    residual = verify_module(activation, module)
    # The step records the verdict against the tolerance, not the measured residual: the
    # step text goes into committed files, which must not depend on the last bits of a
    # floating-point result (``Derivation.residual`` keeps the measurement).
    verify_step = Step(
        rule="verify",
        description=(
            f"generated code compared with 2-D Gaussian quadrature at {VERIFY_POINTS} random "
            f"(q1, q2, c), q in [{VERIFY_Q_RANGE[0]}, {VERIFY_Q_RANGE[1]}], "
            f"|rho| <= {VERIFY_RHO_MAX}: max relative error "
            + (
                f"below the tolerance {VERIFY_TOLERANCE:.0e}"
                if residual <= VERIFY_TOLERANCE
                else f"above the tolerance {VERIFY_TOLERANCE:.0e}"
            )
        ),
        result=sp.Float(VERIFY_TOLERANCE),
        latex=(
            r"\max |K - K_{\mathrm{quad}}| / \mathrm{scale} "
            + (r"\le " if residual <= VERIFY_TOLERANCE else r"> ")
            + sp.latex(sp.Float(VERIFY_TOLERANCE, 1))
        ),
    )
    steps = (*found.steps, verify_step)
    if not residual <= VERIFY_TOLERANCE:
        return _hermite_derivation(
            activation,
            f"closed form rejected: relative error {residual:.2e} > {VERIFY_TOLERANCE:.0e}",
            steps,
        )
    return dataclasses.replace(candidate, steps=steps, residual=residual, module=module)


def _hermite_derivation(activation: Activation, reason: str, steps: tuple[Step, ...]) -> Derivation:
    choice = _default_degree(activation)
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


def verify_module(activation: Activation, module: Any, count: int = VERIFY_POINTS) -> float:
    """Largest relative error of a generated module's printed K (and K') against the oracle.

    Errors are relative to the Cauchy-Schwarz scales sqrt(K(q1,q1,q1) K(q2,q2,q2)) (and the
    same for K'), at ``count`` deterministic points inside the domain (``verification_points``);
    the code generator checks the same printed forms at the edge rho = +-1.
    """
    import jax

    from dualcalc.codegen.template import eager_probe

    points = verification_points(count)
    q1, q2, c = points.T
    # eager: twenty points do not repay compiling a large printed form; padded to the probe
    # length, they reuse the primitives the code generator's probes compiled
    with jax.disable_jit():
        k = _evaluate(functools.partial(eager_probe, module._nngp), q1, q2, c)
        dk = None
        if not module.DERIVATIVE_IS_DISTRIBUTION:
            dk = _evaluate(functools.partial(eager_probe, module._dnngp), q1, q2, c)
    worst = 0.0
    for i, (a, b, cov) in enumerate(points):
        err = abs(float(k[i]) - dual_kernel_oracle(activation, a, b, cov))
        worst = max(worst, err / max(kernel_scale(activation, a, b), 1e-300))
        if dk is None:
            continue
        derr = abs(float(dk[i]) - dual_dkernel_oracle(activation, a, b, cov))
        worst = max(worst, derr / max(dkernel_scale(activation, a, b), 1e-300))
    return float(worst) if np.isfinite(worst) else float("inf")


def _generated_module(derivation: Derivation) -> types.ModuleType:
    """The derivation's generated module, rendered and executed in memory."""
    from dualcalc.codegen.loader import in_memory

    return in_memory(derivation)


#: |c| may exceed sqrt(q1 q2) by this relative amount (rounding) and is then on the edge.
COVARIANCE_SLACK = 1e-9


def _evaluate(fn: Any, q1, q2, c) -> np.ndarray:
    """A generated kernel in float64 on validated, broadcast numpy inputs."""
    import jax

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

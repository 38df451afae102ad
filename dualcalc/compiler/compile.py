"""``derive``: the compile stage's decision between a verified closed form and the Hermite route.

Steps: admissibility (``integrability``) -> symbolic closed-form search under a time budget ->
print and calibrate the generated module (``source``) and execute it -> verify it against the
independent quadrature oracle (``verify``) -> accept, or fall back to the Hermite route with
the reason recorded. Results are cached per canonical expression.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import sympy as sp

from dualcalc.compiler.source import in_memory
from dualcalc.compiler.verify import (
    VERIFY_POINTS,
    VERIFY_Q_RANGE,
    VERIFY_RHO_MAX,
    VERIFY_TOLERANCE,
    verify_module,
)
from dualcalc.derivation.budget import SymbolicBudgetExceeded, resolve_budget, time_budget
from dualcalc.derivation.closed_form import derive_closed_form
from dualcalc.derivation.closed_form.steps import Step
from dualcalc.derivation.derivation import Derivation, default_degree, hermite_derivation
from dualcalc.derivation.integrability import check_square_integrable
from dualcalc.errors import DerivationError, NoClosedFormError
from dualcalc.expression.activation import Activation
from dualcalc.expression.parser import parse


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
        return hermite_derivation(activation, f"no closed form: {exc}", ())
    except SymbolicBudgetExceeded as exc:
        return hermite_derivation(activation, str(exc), ())
    candidate = Derivation(
        activation=activation,
        closed_form=True,
        nngp=found.nngp,
        dnngp=found.dnngp,
        steps=tuple(found.steps),
        residual=None,
        derivative_is_distribution=found.derivative_is_distribution,
        hermite_degree=default_degree(activation).degree,
    )
    try:
        module = in_memory(candidate)
    except DerivationError as exc:
        step = Step(
            rule="verify",
            description=f"generated code rejected: {exc}",
            result=sp.S.NaN,
            latex=r"\text{rejected at the edge } \rho = \pm 1",
        )
        reason = f"closed form rejected: {exc}"
        return hermite_derivation(activation, reason, (*found.steps, step))
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
        return hermite_derivation(
            activation,
            f"closed form rejected: relative error {residual:.2e} > {VERIFY_TOLERANCE:.0e}",
            steps,
        )
    return dataclasses.replace(candidate, steps=steps, residual=residual, module=module)



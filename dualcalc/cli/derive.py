"""``dualcalc derive EXPR``: derive, verify and generate the dual activation of an expression."""

from __future__ import annotations

import argparse
import json

import numpy as np
import sympy as sp

from dualcalc.codegen.folders import default_directory
from dualcalc.compiler.compile import derive
from dualcalc.compiler.writer import write_module
from dualcalc.derivation.derivation import Derivation

#: Hermite coefficients listed by default (a_0..a_N at q = 1).
DEFAULT_LISTED_DEGREE = 16

EXAMPLES = """examples:
  dualcalc derive gelu
  dualcalc derive "relu(x) + 0.5*sin(x)" --explain
  dualcalc derive tanh --json --degree 8
  dualcalc derive "x*exp(-x**2/2)" --latex --out /tmp/kernels
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``derive`` sub-command."""
    p = sub.add_parser(
        "derive",
        help="derive the dual activation (NNGP map K and its derivative K') of an expression",
        description=(
            "Derive K(q1, q2, c) = E[s(u) s(v)] and K' = dK/dc for an activation s, verify them "
            "against 2-D quadrature, and write the JAX module generated/<slug>.py."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "expression", metavar="EXPR", help='activation, e.g. gelu or "relu(x) + 0.5*sin(x)"'
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--latex", action="store_true", help="print K and K' as LaTeX")
    p.add_argument("--explain", action="store_true", help="show every derivation step")
    p.add_argument("--out", metavar="DIR", default=None, help="folder for the generated module")
    p.add_argument("--no-write", action="store_true", help="do not write a generated module")
    p.add_argument(
        "--budget",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=(
            "time budget of the symbolic closed-form search; past it the Hermite route is used "
            "(default $DUALCALC_SYMBOLIC_BUDGET, else 20; 'inf' for none)"
        ),
    )
    p.add_argument(
        "--degree",
        type=_non_negative,
        default=None,
        metavar="N",
        help=f"Hermite coefficients a_0..a_N to list (default {DEFAULT_LISTED_DEGREE})",
    )
    p.set_defaults(run=run)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 200:
        raise argparse.ArgumentTypeError(f"degree must be between 0 and 200, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the budget must be positive, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Derive, write the module, and print in the requested format."""
    derivation = derive(args.expression, budget=args.budget)
    module = None if args.no_write else _write(derivation, args.out)
    degree = DEFAULT_LISTED_DEGREE if args.degree is None else args.degree
    if args.json:
        print(json.dumps(as_json(derivation, degree, module), indent=2))
    elif args.latex:
        print(as_latex(derivation))
    else:
        print(as_text(derivation, degree, module, explain=args.explain))
    return 0


def _write(derivation: Derivation, out: str | None) -> str | None:
    return str(write_module(derivation, default_directory() if out is None else out))


def as_json(derivation: Derivation, degree: int, module: str | None) -> dict:
    """The JSON summary: activation, closed_form, nngp, dnngp, hermite (q = 1), module."""
    coefficients = derivation.hermite(degree, 1.0)
    return {
        "activation": derivation.activation.text,
        "name": derivation.activation.name,
        "closed_form": derivation.closed_form,
        "nngp": None if derivation.nngp is None else str(derivation.nngp),
        "dnngp": None if derivation.dnngp is None else str(derivation.dnngp),
        "dnngp_is_distribution": derivation.derivative_is_distribution,
        "hermite": [float(a) for a in np.asarray(coefficients).ravel()],
        "hermite_tail": float(np.asarray(derivation.hermite_tail(degree, 1.0)).ravel()[0]),
        "residual": derivation.residual,
        "module": module,
    }


def as_latex(derivation: Derivation) -> str:
    """K and K' in LaTeX, or the Mehler series for the Hermite route."""
    lines = [f"% {derivation.activation.name}: s(x) = {sp.latex(derivation.activation.expr)}"]
    if derivation.nngp is not None:
        lines.append(rf"K(q_1, q_2, c) = {sp.latex(derivation.nngp)}")
    else:
        lines.append(r"K(q_1, q_2, c) = \sum_{k \ge 0} a_k(q_1) a_k(q_2) \rho^k")
    if derivation.dnngp is not None:
        lines.append(rf"K'(q_1, q_2, c) = {sp.latex(derivation.dnngp)}")
    elif derivation.derivative_is_distribution:
        lines.append(r"K'(q_1, q_2, c)\ \text{is a Dirac-delta distribution}")
    else:
        lines.append(
            r"K'(q_1, q_2, c) = \sum_{k \ge 1} k\, a_k(q_1) a_k(q_2) \rho^{k-1} / \sqrt{q_1 q_2}"
        )
    return "\n".join(lines)


def as_text(derivation: Derivation, degree: int, module: str | None, explain: bool) -> str:
    """Human-readable summary (every step with ``explain``)."""
    act = derivation.activation
    lines = [f"activation   {act.name}", f"  s(x) =      {act.text}"]
    if derivation.closed_form:
        lines.append("route        closed form")
        lines.append(f"  K(q1,q2,c) = {derivation.nngp}")
        if derivation.dnngp is not None:
            lines.append(f"  K'(q1,q2,c) = {derivation.dnngp}")
        else:
            lines.append("  K'          a Dirac delta at the discontinuity (no NTK)")
        lines.append(f"verified     max relative error {derivation.residual:.2e} vs 2-D quadrature")
    else:
        lines.append("route        Hermite (exact per-variance coefficients, Mehler's series)")
        lines.append(f"  why        {derivation.reason}")
        coefficients = np.asarray(derivation.hermite(degree, 1.0)).ravel()
        shown = ", ".join(f"{a:.6g}" for a in coefficients)
        lines.append(f"  a_k(1)     [{shown}]")
        tail = float(np.asarray(derivation.hermite_tail(degree, 1.0)).ravel()[0])
        lines.append(f"  tail       {tail:.2e} after degree {degree}")
    if explain:
        lines.append("steps")
        for i, step in enumerate(derivation.steps, 1):
            lines.append(f"  {i:>2}. [{step.rule}] {step.description}")
            lines.append(f"      = {step.result}")
    else:
        rules = ", ".join(dict.fromkeys(s.rule for s in derivation.steps))
        lines.append(f"steps        {len(derivation.steps)} ({rules}); --explain shows them")
    if module:
        lines.append(f"module       {module}")
    return "\n".join(lines)

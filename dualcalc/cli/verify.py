"""``dualcalc verify EXPR``: re-check a generated module against the quadrature oracle."""

from __future__ import annotations

import argparse
import math

import numpy as np

from dualcalc.compiler.loader import load
from dualcalc.compiler.verify import verification_points
from dualcalc.derivation import quadrature as quad
from dualcalc.errors import DualcalcError
from dualcalc.expression.parser import parse

EXAMPLES = """examples:
  dualcalc verify gelu
  dualcalc verify tanh --points 50 --tol 1e-9
  dualcalc verify "relu(x) + 0.5*sin(x)" --float32
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``verify`` sub-command."""
    p = sub.add_parser(
        "verify",
        help="re-check a generated module against 2-D quadrature",
        description=(
            "Evaluate the generated nngp and dnngp at random (q1, q2, c) and compare with the "
            "independent quadrature oracle; relative errors use the Cauchy-Schwarz scale."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", metavar="EXPR", help="activation (loads or generates its module)")
    p.add_argument("--points", type=int, default=20, help="number of random points (default 20)")
    p.add_argument(
        "--tol",
        type=float,
        default=None,
        help="fail above this relative error (default 1e-9 closed form, 1e-6 Hermite, "
        "1e-5 float32)",
    )
    p.add_argument("--float32", action="store_true", help="evaluate the module in float32")
    p.add_argument("--seed", type=int, default=1, help="random seed of the points (default 1)")
    p.set_defaults(run=run)


def residuals(
    module, activation, points: np.ndarray, dtype=np.float64
) -> tuple[float, float | None]:
    """Max relative error of module.nngp and module.dnngp against quadrature at the points."""
    k_err, dk_err = 0.0, None if module.DERIVATIVE_IS_DISTRIBUTION else 0.0
    for q1, q2, c in points:
        args = [np.asarray(v, dtype=dtype) for v in (q1, q2, c)]
        value = float(module.nngp(*args))
        truth = quad.dual_kernel_oracle(activation, q1, q2, c)
        k_err = max(k_err, abs(value - truth) / quad.kernel_scale(activation, q1, q2))
        if dk_err is not None:
            value = float(module.dnngp(*args))
            truth = quad.dual_dkernel_oracle(activation, q1, q2, c)
            dk_err = max(dk_err, abs(value - truth) / quad.dkernel_scale(activation, q1, q2))
    return _finite(k_err), None if dk_err is None else _finite(dk_err)


def _default_tolerance(module, float32: bool) -> float:
    """1e-9 for closed forms, 1e-6 for Mehler series (slow near |rho| = 1), 1e-5 in float32."""
    if float32:
        return 1e-5
    return 1e-9 if module.CLOSED_FORM else 1e-6


def _finite(value: float) -> float:
    return value if math.isfinite(value) else float("inf")


def run(args: argparse.Namespace) -> int:
    """Verify the module of one activation; exit 2 when above the tolerance."""
    import jax

    if args.points < 1:
        raise DualcalcError("--points must be at least 1")
    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float32 if args.float32 else np.float64
    activation = parse(args.expression)
    module = load(activation)
    tol = args.tol if args.tol is not None else _default_tolerance(module, args.float32)
    points = verification_points(args.points, seed=args.seed)
    k_err, dk_err = residuals(module, activation, points, dtype)
    print(f"module       {module.__file__}")
    print(f"s(x)         {module.EXPRESSION}")
    print(f"route        {'closed form' if module.CLOSED_FORM else 'Hermite (Mehler series)'}")
    print(f"points       {len(points)}, q in [0.05, 20], |rho| <= 0.999, {np.dtype(dtype).name}")
    print(f"K  residual  {k_err:.2e}")
    print("K' residual  " + ("n/a (K' is a Dirac delta)" if dk_err is None else f"{dk_err:.2e}"))
    worst = max(k_err, dk_err or 0.0)
    if not worst <= tol:
        raise DualcalcError(
            f"verification failed: relative error {worst:.2e} > tolerance {tol:.0e}"
        )
    print(f"ok           within tolerance {tol:.0e}")
    return 0

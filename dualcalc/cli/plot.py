"""``dualcalc plot EXPR -o FILE.png``: K against rho for several q, and the Hermite spectrum."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dualcalc.compiler.loader import load
from dualcalc.errors import DualcalcError

EXAMPLES = """examples:
  dualcalc plot gelu -o gelu.png
  dualcalc plot tanh -o tanh.png --degree 40
"""

#: Input variances drawn as separate curves.
VARIANCES = (0.25, 1.0, 4.0)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plot`` sub-command."""
    p = sub.add_parser(
        "plot",
        help="plot K against rho and the Hermite spectrum |a_k| of an activation",
        description=(
            "Left: K(q, q, rho q) against rho for several q. Right: |a_k(q)| of the "
            "Hermite expansion on a log scale."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", metavar="EXPR", help="activation")
    p.add_argument("-o", "--output", metavar="FILE.png", required=True, help="image to write")
    p.add_argument("--degree", type=int, default=30, help="Hermite degree shown (default 30)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Draw the two panels into the output image."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = Path(args.output)
    if output.suffix.lower() not in {".png", ".pdf", ".svg"}:
        raise DualcalcError(f"output must end in .png, .pdf or .svg, got {output.name!r}")
    if not 0 <= args.degree <= 200:
        raise DualcalcError(f"--degree must be between 0 and 200, got {args.degree}")
    if not output.parent.exists():
        raise DualcalcError(f"folder {output.parent} does not exist")
    module = load(args.expression)
    rho = np.linspace(-1.0, 1.0, 201)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for q in VARIANCES:
        left.plot(rho, np.asarray(module.nngp(q, q, rho * q)), label=f"q = {q:g}")
        coefficients = np.abs(np.asarray(module.hermite(q, args.degree)))
        k = np.arange(coefficients.size)
        shown = coefficients > 1e-12 * coefficients.max()  # hide zeros (quadrature noise)
        right.semilogy(k[shown], coefficients[shown], "o-", ms=3, label=f"q = {q:g}")
    left.set(xlabel=r"$\rho$", ylabel=r"$K(q, q, \rho q)$", title=f"NNGP map of {module.NAME}")
    right.set(xlabel="k", ylabel=r"$|a_k(q)|$", title="Hermite spectrum")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)
    print(f"wrote {output}")
    return 0

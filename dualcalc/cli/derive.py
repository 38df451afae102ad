"""``dualcalc derive EXPR``: parse an activation and show its dual kernels."""

from __future__ import annotations

import argparse

from dualcalc.expression.parser import parse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``derive`` sub-command."""
    p = sub.add_parser(
        "derive",
        help="derive the dual activation (NNGP map K and its derivative K') of an expression",
        description="Derive K(q1, q2, c) = E[s(u) s(v)] and K' = dK/dc for an activation s.",
    )
    p.add_argument(
        "expression", metavar="EXPR", help='activation, e.g. gelu or "relu(x) + 0.5*sin(x)"'
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Parse the activation and print it."""
    activation = parse(args.expression)
    print(f"activation  {activation.name}")
    print(f"canonical   s(x) = {activation.text}")
    if activation.kinks:
        print(f"kinks       x = {', '.join(f'{k:g}' for k in activation.kinks)}")
    print("derivation  not available yet in this version")
    return 0

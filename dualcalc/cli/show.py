"""``dualcalc show NAME``: summary of a generated module (its index entry, hash, functions)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dualcalc.codegen.folders import search_directories
from dualcalc.codegen.manifest import find_by_expression, locked, read_index, sha256_hex
from dualcalc.errors import DualcalcError
from dualcalc.expression.parser import parse

EXAMPLES = """examples:
  dualcalc show gelu
  dualcalc show "max(x, 0)"        # any spelling of a generated activation
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``show`` sub-command."""
    p = sub.add_parser(
        "show",
        help="summarise a generated module",
        description="Show the index entry, hash check and contents of a generated module.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="module slug or activation expression")
    p.add_argument("--dir", metavar="DIR", default=None, help="folder (default: generated/)")
    p.add_argument("--latex", action="store_true", help="also print every derivation step")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary of one generated module."""
    folders = [Path(args.dir)] if args.dir else search_directories()
    indexed = [f for f in folders if (f / "index.json").is_file()]
    if not indexed:
        raise DualcalcError(f"no generated modules in {folders[0]} (no index.json)")
    entry = None
    for folder in indexed:
        with locked(folder, exclusive=False):
            entries = read_index(folder)
        entry = entries.get(args.name)
        if entry is None:
            entry = find_by_expression(entries, parse(args.name).text)
        if entry is not None:
            break
    if entry is None:
        where = " or ".join(str(f) for f in indexed)
        raise DualcalcError(
            f"no generated module for {args.name!r} in {where}; "
            f"create it with `dualcalc derive {args.name!r}`"
        )
    path = folder / f"{entry.slug}.py"
    digest = sha256_hex(path.read_bytes()) if path.is_file() else None
    check = "matches" if digest == entry.sha256 else ("MISSING" if digest is None else "MISMATCH")
    verified = (
        "n/a (Hermite route)"
        if entry.verified_to is None
        else f"max relative error vs 2-D quadrature below {entry.verified_to:.0e}"
    )
    lines = [
        f"module       {path}",
        f"slug         {entry.slug}",
        f"name         {entry.name}",
        f"s(x)         {entry.expression}",
        f"route        {'closed form' if entry.closed_form else 'Hermite (Mehler series)'}",
        f"verified     {verified}",
        f"sha256       {entry.sha256} ({check})",
        "functions    nngp(q1, q2, c), dnngp(q1, q2, c), hermite(q, degree), activation(x), "
        "dactivation(x)",
    ]
    latex = entry.latex
    if latex.get("nngp"):
        lines.append(f"K  (LaTeX)   {latex['nngp']}")
    if latex.get("dnngp"):
        lines.append(f"K' (LaTeX)   {latex['dnngp']}")
    if args.latex:
        lines.append("steps")
        for i, step in enumerate(latex.get("steps", []), 1):
            lines.append(f"  {i:>2}. [{step['rule']}] {step['latex']}")
    print("\n".join(lines))
    if check != "matches":
        raise DualcalcError(f"{path} does not match the sha256 recorded in index.json ({check})")
    return 0

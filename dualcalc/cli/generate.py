"""``dualcalc generate``: (re)write generated modules, the whole catalogue with ``--all``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dualcalc.errors import DualcalcError

EXAMPLES = """examples:
  dualcalc generate --all                 # regenerate the committed catalogue in generated/
  dualcalc generate --all --check         # exit 2 if a committed file differs from a fresh one
  dualcalc generate "x*exp(-x**2/2)" --out /tmp/kernels
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``generate`` sub-command."""
    p = sub.add_parser(
        "generate",
        help="write generated JAX modules (all named activations with --all)",
        description=(
            "Derive activations and write their JAX modules and index.json entries. "
            "Output is deterministic: regenerating gives byte-identical files."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expressions", metavar="EXPR", nargs="*", help="activations to generate")
    p.add_argument("--all", action="store_true", help="every named activation usable bare")
    p.add_argument("--out", metavar="DIR", default=None, help="folder (default: generated/)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; fail if any file would change"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate (or check) the requested modules."""
    from dualcalc.codegen.writer import catalogue_names, default_directory

    names = list(args.expressions)
    if args.all:
        names = catalogue_names() + [n for n in names if n not in catalogue_names()]
    if not names:
        raise DualcalcError("nothing to generate: give expressions or --all")
    folder = Path(args.out) if args.out else default_directory()
    if args.check:
        return _check(names, folder)
    from dualcalc.codegen.writer import generate_catalogue

    _, failures = generate_catalogue(folder, names, progress=_report)
    if failures:
        failed = ", ".join(repr(name) for name in failures)
        raise DualcalcError(f"{len(failures)} of {len(names)} failed: {failed}")
    return 0


def _report(name: str, outcome: object) -> None:
    if isinstance(outcome, Exception):
        print(f"{name!r:<20} FAILED: {outcome}", file=sys.stderr)
    else:
        print(f"{name:<20} {outcome}")


def _check(names: list[str], folder: Path) -> int:
    from dualcalc.codegen.slug import slug_of
    from dualcalc.codegen.support import stale_support
    from dualcalc.codegen.template import render_module
    from dualcalc.derivation.derivation import derive

    stale = [str(path) for path in stale_support(folder)]
    for name in names:
        derivation = derive(name)
        path = folder / f"{slug_of(derivation.activation)}.py"
        fresh = render_module(derivation).encode("utf-8")
        if not path.is_file() or path.read_bytes() != fresh:
            stale.append(str(path))
    if stale:
        print("stale or missing generated modules:\n  " + "\n  ".join(stale), file=sys.stderr)
        raise DualcalcError(f"{len(stale)} generated module(s) differ; run `dualcalc generate`")
    print(f"{len(names)} generated modules are up to date in {folder}")
    return 0

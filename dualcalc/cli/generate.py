"""``dualcalc generate``: (re)write generated modules, the whole catalogue with ``--all``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dualcalc.codegen.folders import default_directory
from dualcalc.codegen.manifest import read_index
from dualcalc.codegen.slug import catalogue_names, slug_of
from dualcalc.codegen.support import stale_support
from dualcalc.compiler.compile import derive
from dualcalc.compiler.source import render_module
from dualcalc.compiler.writer import entry_for, generate_catalogue
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
    p.add_argument(
        "--all",
        action="store_true",
        help="every named activation usable bare, and every module already in the folder",
    )
    p.add_argument("--out", metavar="DIR", default=None, help="folder (default: generated/)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; fail if any file would change"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate (or check) the requested modules."""
    names = list(args.expressions)
    folder = Path(args.out) if args.out else default_directory()
    if args.all:
        names = _unique(catalogue_names() + _indexed_names(folder) + names)
    if not names:
        raise DualcalcError("nothing to generate: give expressions or --all")
    if args.check:
        return _check(names, folder)
    _, failures = generate_catalogue(folder, names, progress=_report)
    if failures:
        failed = ", ".join(repr(name) for name in failures)
        raise DualcalcError(f"{len(failures)} of {len(names)} failed: {failed}")
    return 0


def _indexed_names(folder: Path) -> list[str]:
    """The expressions of the modules already in ``folder``'s index (refreshed by --all too)."""
    if not (folder / "index.json").is_file():
        return []
    return [entry.name for entry in read_index(folder).values()]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _report(name: str, outcome: object) -> None:
    if isinstance(outcome, Exception):
        print(f"{name!r:<20} FAILED: {outcome}", file=sys.stderr)
    else:
        print(f"{name:<20} {outcome}")


def _check(names: list[str], folder: Path) -> int:
    stale = [str(path) for path in stale_support(folder)]
    index = read_index(folder) if (folder / "index.json").is_file() else {}
    for name in names:
        derivation = derive(name)
        slug = slug_of(derivation.activation)
        path = folder / f"{slug}.py"
        fresh = render_module(derivation).encode("utf-8")
        if not path.is_file() or path.read_bytes() != fresh:
            stale.append(str(path))
        elif index.get(slug) != entry_for(derivation, fresh):
            stale.append(f"{folder / 'index.json'} (entry {slug})")
    if stale:
        print("stale or missing generated modules:\n  " + "\n  ".join(stale), file=sys.stderr)
        raise DualcalcError(f"{len(stale)} generated module(s) differ; run `dualcalc generate`")
    print(f"{len(names)} generated modules are up to date in {folder}")
    return 0

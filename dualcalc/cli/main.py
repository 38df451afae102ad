"""The ``dualcalc`` command line: argument parsing, dispatch, and error -> exit-code policy."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from dualcalc import __version__
from dualcalc.cli import derive, generate, listing, plot, show, verify
from dualcalc.errors import DualcalcError

#: Exit code for bad input (argparse uses the same for usage errors).
EXIT_BAD_INPUT = 2

COMMANDS = (derive, listing, generate, show, verify, plot)

EPILOG = """examples:
  dualcalc derive gelu
  dualcalc derive "relu(x) + 0.5*sin(x)" --explain
  dualcalc derive tanh --json
  dualcalc list
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per module in COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="dualcalc",
        description="Symbolic dual-activation compiler: NNGP / NTK kernels for any activation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dualcalc {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except DualcalcError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"dualcalc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("dualcalc: interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    """Console-script entry: exit with main()'s code."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `dualcalc list | head`
        code = 0
    sys.exit(code)

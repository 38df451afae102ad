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
    bad = _first_unusable_path(args)
    if bad is not None:
        print(f"dualcalc {args.command}: error: {bad}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
    except OSError as exc:
        # A path the user gave cannot be read or written (missing, a file, no permission).
        if args.debug:
            traceback.print_exc()
        where = f" {exc.filename!r}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(f"dualcalc {args.command}: error: cannot use{where}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("dualcalc: interrupted", file=sys.stderr)
        return 130


#: Options that name files or folders.
PATH_OPTIONS = ("out", "dir", "output")


def _first_unusable_path(args: argparse.Namespace) -> str | None:
    """A message for a path option no operating system accepts (empty, or with a NUL byte)."""
    for option in PATH_OPTIONS:
        value = getattr(args, option, None)
        if value is None:
            continue
        if value == "" or "\x00" in value:
            shown = value.replace("\x00", "\\x00")
            return f"--{option} {shown!r} is not a usable path (empty or containing a NUL byte)"
    return None


def entry_point() -> None:
    """Console-script entry: exit with main()'s code."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `dualcalc list | head`
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry_point()

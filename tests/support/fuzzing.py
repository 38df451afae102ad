"""Fuzzing support shared by the test suite and ``benchmarks/soak_fuzz.py``.

Strategies: ``token_soup`` (the language's tokens, hostile characters and huge numbers in
any order), ``expression_trees`` (well-formed activations: catalogue and elementary
functions with valid parameters, sums, products, small powers, constants; depth <= 3) and
``cli_arguments`` (sub-commands with hostile expressions and paths).

Checks return a list of problems (empty when the input was handled correctly):
``check_parse`` (only ExpressionError, no code execution, under CPU_LIMIT, slug stays in its
folder), ``check_cli`` (exit code 0 or 2, one message and no traceback on stderr, no file
outside the output folder) and ``check_derivation`` (a verified closed form, a Hermite route
or the project's error; finite kernel values).
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import io
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from dualcalc.errors import DualcalcError, ExpressionError
from dualcalc.expression.catalogue import CATALOGUE
from dualcalc.expression.functions import ELEMENTARY

#: Every input must be answered within this much CPU time (parse) in seconds.
CPU_LIMIT = 1.0

# -- strategies -------------------------------------------------------------------------------

_NAMES = sorted(
    {*CATALOGUE, *ELEMENTARY, "x", "pi", "e"}
    | {"lambda", "__import__", "exec", "eval", "Symbol", "Function", "os", "I", "oo", "nan"}
    | {"zoo", "E", "S", "Integer", "sympify", "open", "print", "a", "k", "alpha", "x_1", "xx"}
)
_NUMBERS = [
    "0", "1", "2", "3", "0.5", ".5", "5.", "1e12", "1e13", "1e-64", "1e-65", "9", "64", "65",
    "100000", "1e999999", "2E-3", "007", "1_000", "0x10", "1e", "123456789012345678901234567890",
]  # fmt: skip
_SYMBOLS = [
    "+", "-", "*", "/", "**", "^", "(", ")", ",", "=", " ", ".", "[", "]", "'", '"', ";", "|",
    "$", "`", ":", "#", "!", "@", "%", "<", ">", "&", "~", "\\", "{", "}", "\n", "\t", "\x00",
    "\u200b", "\u00a0", "\uff58", "\u0445", "\u0301", "\U0001d465", "\ufeff", "\u202e",
]  # fmt: skip
#: Unicode look-alikes of x and of operators: fullwidth x, Cyrillic kha, math italic x, ...
LOOKALIKES = ["\uff58", "\u0445", "\U0001d465", "\u00d7", "\u2212", "\u2217", "\uff0b", "x\u0301"]


def token_soup(max_size: int = 25) -> st.SearchStrategy[str]:
    """Texts made of the language's tokens and hostile characters in any order."""
    return st.lists(st.sampled_from(_NAMES + _NUMBERS + _SYMBOLS), max_size=max_size).map("".join)


_UNARY = sorted(
    [n for n, f in ELEMENTARY.items() if f.arity == 1]
    + [n for n, c in CATALOGUE.items() if all(p.default is not None for p in c.params)]
)
_CONSTANTS = ["0.5", "2", "3", "0.1", "1.5", "pi", "e", "1e-3", "7"]


@st.composite
def _parametrised_call(draw, argument: str) -> str:
    """A catalogue or elementary function that takes parameters, with valid ones."""
    name = draw(
        st.sampled_from(["leaky_relu", "abrelu", "elu", "celu", "swish", "softplus", "rbf"])
        | st.sampled_from(["monomial", "rectified_monomial", "hermite", "min", "max", "clip"])
    )
    small = st.sampled_from(["0.1", "0.5", "1", "2", "0.01"])
    if name in ("monomial", "rectified_monomial", "hermite"):
        return f"{name}({argument}, {draw(st.integers(0, 4))})"
    if name == "abrelu":
        return f"abrelu({argument}, {draw(small)}, -{draw(small)})"
    if name in ("min", "max"):
        return f"{name}({argument}, {draw(st.sampled_from(_CONSTANTS + ['x']))})"
    if name == "clip":
        return f"clip({argument}, -{draw(small)}, {draw(small)})"
    keyword = {"leaky_relu": "alpha", "elu": "alpha", "celu": "alpha", "swish": "beta"}
    keyword |= {"softplus": "beta", "rbf": "gamma"}
    return f"{name}({argument}, {keyword[name]}={draw(small)})"


@st.composite
def expression_trees(draw, depth: int = 3) -> str:
    """A well-formed activation text of nesting depth <= ``depth``."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x", "x", "x", *_CONSTANTS]))
    kind = draw(st.sampled_from(["call", "call", "param", "sum", "product", "power", "scale"]))
    inner = draw(expression_trees(depth - 1))
    if kind == "call":
        return f"{draw(st.sampled_from(_UNARY))}({inner})"
    if kind == "param":
        return draw(_parametrised_call(inner))
    if kind in ("sum", "product"):
        other = draw(expression_trees(depth - 1))
        return f"({inner}) {'+' if kind == 'sum' else '*'} ({other})"
    if kind == "power":
        return f"({inner})**{draw(st.integers(0, 3))}"
    return f"{draw(st.sampled_from(_CONSTANTS))}*({inner})"


_PATHS = [
    "out", "../out", "a b", "a;b", "a|b", "$(touch pwned)", "`touch pwned`", "a&&b", "out/../o",
    "o\\p", "..", ".", "deep/er/out", "-dash", "x'y", 'x"y', "caf\u00e9", "\u202eevil", "*",
]  # fmt: skip
_VALID = ["relu", "gelu", "tanh", "x", "erf", "max(x, 0)", "sin(x)", "2*x + 1", "step"]


@st.composite
def cli_arguments(draw) -> list[str]:
    """argv for the dualcalc CLI: a sub-command with hostile expressions, options and paths."""
    expression = draw(token_soup(12) | st.sampled_from(_VALID) | st.sampled_from(LOOKALIKES))
    command = draw(st.sampled_from(["derive", "derive", "derive", "show", "generate", "list"]))
    argv = [command]
    if command == "list":
        return argv
    if command == "generate":
        argv += [expression, "--check"] if draw(st.booleans()) else [expression]
        return argv + ["--out", draw(st.sampled_from(_PATHS))]
    if command == "show":
        return argv + [expression, "--dir", draw(st.sampled_from(_PATHS))]
    argv.append(expression)
    if draw(st.booleans()):
        argv += ["--out", draw(st.sampled_from(_PATHS))]
    else:
        argv.append("--no-write")
    argv += draw(st.sampled_from([[], ["--json"], ["--latex"], ["--explain"]]))
    argv += draw(st.sampled_from([[], ["--degree", "3"], ["--degree", "-1"], ["--degree", "1e9"]]))
    argv += draw(st.sampled_from([[], ["--budget", "5"], ["--budget", "0"], ["--budget", "x"]]))
    return argv


# -- guards -----------------------------------------------------------------------------------


class ForbiddenCall(AssertionError):
    """Something tried to run code, start a process or write a file where none may."""


_WRITE_MODES = set("wax+")
_TRUSTED_IMPORTS = ("sympy", "mpmath", "numpy", "scipy", "dualcalc", "gmpy2", "flint")


@contextlib.contextmanager
def no_code_execution(
    user_text: str = "", allow_writes_under: Path | None = None
) -> Iterator[list[str]]:
    """Inside: sympy's string parser (what sympify does with text), processes, new imports
    (a module loaded from outside the standard library and the numeric stack), opening
    files for writing (except under ``allow_writes_under``), and eval/exec/compile raise
    ForbiddenCall.

    eval/exec/compile are allowed only when the numeric stack (sympy's lambdify and
    polynomial module generate code from expression trees and templates; scipy's lazy
    imports), the standard library (namedtuple) or the import system calls them, and never
    on source that contains ``user_text``. Yields the list of violations, also those that a
    broad ``except`` on the way swallowed.
    """
    import mpmath
    import numpy
    import scipy
    import sympy
    import sympy.parsing.sympy_parser as sympy_parser

    stack = tuple(os.path.dirname(m.__file__) for m in (sympy, mpmath, numpy, scipy))
    stdlib_root = os.path.dirname(os.__file__)

    def is_trusted(caller: str) -> bool:
        if caller.startswith((*stack, "<frozen")):
            return True
        third_party = "site-packages" in caller or "dist-packages" in caller
        return caller.startswith(stdlib_root) and not third_party

    needle = user_text.strip()

    violations: list[str] = []
    saved_builtins = {n: getattr(builtins, n) for n in ("eval", "exec", "compile", "open")}
    saved_import = builtins.__import__
    saved = [
        (sympy_parser, "parse_expr", sympy_parser.parse_expr),
        (os, "system", os.system),
        (os, "popen", os.popen),
        (subprocess, "Popen", subprocess.Popen),
    ]

    def refuse(what: str):
        violations.append(what)
        raise ForbiddenCall(what)

    def code_runner(name: str):
        original = saved_builtins[name]

        def guarded(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            source = args[0] if args else kwargs.get("source", "")
            source = source if isinstance(source, str) else ""
            carries_text = len(needle) >= 2 and needle in source
            if is_trusted(caller) and not carries_text:
                return original(*args, **kwargs)
            on_text = " on the user's text" if carries_text else ""
            refuse(f"{name}() called from {caller}{on_text}")

        return guarded

    def guarded_open(file, mode="r", *args, **kwargs):
        if _WRITE_MODES & set(str(mode)):
            target = (
                Path(os.fsdecode(file)) if isinstance(file, (str, bytes, os.PathLike)) else None
            )
            inside = (
                allow_writes_under is not None
                and target is not None
                and _is_within(target, allow_writes_under)
            )
            if not inside:
                refuse(f"open({file!r}, {mode!r})")
        return saved_builtins["open"](file, mode, *args, **kwargs)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        new = level == 0 and name not in sys.modules
        module = saved_import(name, globals, locals, fromlist, level)  # ImportError passes
        if new and not name.split(".")[0].startswith(_TRUSTED_IMPORTS):
            origin = getattr(sys.modules.get(name), "__file__", None)
            if origin is not None and not is_trusted(origin):
                refuse(f"import {name}")
        return module

    for name in ("eval", "exec", "compile"):
        setattr(builtins, name, code_runner(name))
    builtins.open = guarded_open
    builtins.__import__ = guarded_import
    for owner, attribute, _ in saved:
        setattr(owner, attribute, lambda *a, _n=attribute, **k: refuse(f"{_n}() called"))
    try:
        yield violations
    finally:
        for name, value in saved_builtins.items():
            setattr(builtins, name, value)
        builtins.__import__ = saved_import
        for owner, attribute, value in saved:
            setattr(owner, attribute, value)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


# -- checks -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one input: problems found (empty is good) and the time taken."""

    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    accepted: bool = False
    route: str = ""


def check_parse(text: str) -> Outcome:
    """parse(text): an Activation or an ExpressionError, no code run, < CPU_LIMIT CPU seconds,
    and for an accepted text a slug that is a plain identifier (its file stays in its folder)."""
    from dualcalc.codegen.slug import slug_of
    from dualcalc.expression.parser import parse

    outcome = Outcome()
    # CPU time of this thread with the garbage collector paused: other threads of the process
    # (XLA's pools) and collections of garbage other code left behind are not the parser's.
    collecting = gc.isenabled()
    gc.disable()
    start = time.thread_time()
    try:
        with no_code_execution(text) as violations:
            try:
                activation = parse(text)
                outcome.accepted = True
            except ExpressionError as exc:
                if not str(exc).strip():
                    outcome.problems.append("empty error message")
            except ForbiddenCall:
                pass
            except BaseException as exc:  # noqa: BLE001 - the point is to catch foreign errors
                outcome.problems.append(f"foreign {type(exc).__name__}: {exc}")
    finally:
        outcome.seconds = time.thread_time() - start
        if collecting:
            gc.enable()
    outcome.problems += [f"forbidden: {v}" for v in violations]
    if outcome.seconds > CPU_LIMIT:
        outcome.problems.append(f"took {outcome.seconds:.2f} s of CPU (limit {CPU_LIMIT} s)")
    if outcome.accepted and not outcome.problems:
        slug = slug_of(activation)
        if not (slug.isascii() and slug.isidentifier()):
            outcome.problems.append(f"slug {slug!r} is not a plain identifier")
    return outcome


def snapshot(folder: Path) -> set[Path]:
    """Every path under folder (files, folders, links)."""
    return {p for p in folder.rglob("*")}


def check_cli(argv: list[str], sandbox: Path) -> Outcome:
    """Run ``dualcalc`` in-process with the working folder ``sandbox/work/here`` and every
    generated folder inside ``sandbox``: exit 0 or 2, on failure a message on stderr without
    a traceback, and nothing written outside the output folder the arguments name."""
    from dualcalc.cli.main import main

    outcome = Outcome()
    here = sandbox / "work" / "here"
    here.mkdir(parents=True, exist_ok=True)
    before = snapshot(sandbox)
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    start = time.process_time()
    os.chdir(here)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse usage errors
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001
                outcome.problems.append(f"foreign {type(exc).__name__}: {exc}")
                code = None
    finally:
        os.chdir(previous)
    outcome.seconds = time.process_time() - start
    err = stderr.getvalue()
    if code not in (0, 2, None):
        outcome.problems.append(f"exit code {code}")
    if "Traceback" in err:
        outcome.problems.append("traceback on stderr")
    if code == 2:
        # One error message: ours ("dualcalc CMD: error: ...", possibly after per-item
        # reports of a batch command) or argparse's ("usage: ..." then "dualcalc ...: error:").
        messages = [line for line in err.splitlines() if line.startswith("dualcalc")]
        if len(messages) != 1 or ": error: " not in messages[0]:
            outcome.problems.append(f"not exactly one error message: {err[:300]!r}")
    outcome.accepted = code == 0
    allowed = _allowed_outputs(argv, here)
    for path in snapshot(sandbox) - before:
        if path.is_dir() and not path.is_symlink():
            if not any(_is_within(a, path) or _is_within(path, a) for a in allowed):
                outcome.problems.append(f"unexpected folder {path}")
            continue
        if not any(path.parent.resolve() == a.resolve() for a in allowed):
            outcome.problems.append(f"file written outside the output folder: {path}")
        elif not (path.suffix in (".py", ".json") and path.stem.isidentifier()):
            outcome.problems.append(f"unexpected file {path.name!r}")
    return outcome


def _allowed_outputs(argv: list[str], here: Path) -> list[Path]:
    """The output folders the arguments name, each with its ``_support`` package copy."""
    folders = [Path(os.environ["DUALCALC_GENERATED"])] if "DUALCALC_GENERATED" in os.environ else []
    for option in ("--out", "--dir"):
        if option in argv:
            index = argv.index(option) + 1
            if index < len(argv):
                folders.append(here / argv[index])
    return [*folders, *(folder / "_support" for folder in folders)]


def check_derivation(text: str, budget: float) -> Outcome:
    """derive(text): closed form (verified), Hermite route or a DualcalcError; finite values."""
    from dualcalc.compiler.compile import derive
    from dualcalc.compiler.verify import VERIFY_TOLERANCE

    outcome = Outcome()
    start = time.perf_counter()
    try:
        derivation = derive(text, budget=budget)
        outcome.accepted = True
    except DualcalcError:
        derivation = None
        outcome.route = "refused"
    except BaseException as exc:  # noqa: BLE001
        outcome.problems.append(f"foreign {type(exc).__name__}: {exc}")
        derivation = None
    if derivation is not None:
        budget_hit = "budget" in (derivation.reason or "")
        outcome.route = "closed form" if derivation.closed_form else "hermite"
        outcome.route += " (budget)" if budget_hit else ""
        if derivation.closed_form and not derivation.residual <= VERIFY_TOLERANCE:
            outcome.problems.append(f"closed form with residual {derivation.residual}")
        if not derivation.closed_form and not derivation.reason:
            outcome.problems.append("Hermite route without a reason")
        try:
            values = [float(derivation.kernel(q1, q2, c)) for q1, q2, c in _PROBES]
            if not all(math.isfinite(v) for v in values):
                outcome.problems.append(f"non-finite kernel values {values}")
        except DualcalcError:
            pass
        except BaseException as exc:  # noqa: BLE001
            outcome.problems.append(f"kernel raised {type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - start
    return outcome


#: (q1, q2, c) where derived kernels must be finite: rho = 0.5, 0 and -0.9, q from 0.3 to 4.
_PROBES = [(1.0, 1.0, 0.5), (0.3, 2.0, 0.0), (4.0, 1.0, -1.8)]

__all__ = [
    "CPU_LIMIT",
    "LOOKALIKES",
    "ForbiddenCall",
    "Outcome",
    "check_cli",
    "check_derivation",
    "check_parse",
    "cli_arguments",
    "expression_trees",
    "no_code_execution",
    "snapshot",
    "token_soup",
]

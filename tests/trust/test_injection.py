"""Injection corpus: code, sympy object syntax, strings, look-alike characters, NUL bytes and
shell metacharacters in expressions and in ``--out``; path tricks in output folders and in
index.json. Each case is refused with a clear message (exit code 2, no traceback) or gives
a safe, correct result; nothing runs and nothing is written outside the output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzzing import check_cli, check_parse

import dualcalc
from dualcalc.cli.main import main
from dualcalc.codegen.manifest import GeneratedModuleError, read_index
from dualcalc.errors import ExpressionError

#: (text, a fragment of the expected message)
HOSTILE = [
    ("__import__('os').system('touch pwned')", "underscores"),
    ("__import__", "underscores"),
    ("x.__class__", "attribute access"),
    ("x.__class__.__mro__", "attribute access"),
    ("().__class__", "attribute access"),
    ("x[0]", "brackets"),
    ("{x}", "brackets"),
    ("lambda: 0", "':' is not allowed"),
    ("lambda x: x", "':' is not allowed"),
    ("lambda", "lambda is not allowed"),
    ("exec('1')", "strings are not allowed"),
    ("eval('x')", "strings are not allowed"),
    ("eval(x)", "unknown name 'eval'"),
    ("Symbol('x')", "strings are not allowed"),
    ("Function('f')(x)", "strings are not allowed"),
    ("Symbol", "unknown name 'Symbol'"),
    ("sympify(x)", "unknown name 'sympify'"),
    ("open(x)", "unknown name 'open'"),
    ("'x'", "strings are not allowed"),
    ('"x"', "strings are not allowed"),
    ("x\x00", "NUL character"),
    ("\uff58", "unexpected character"),  # fullwidth x
    ("\u0445", "unexpected character"),  # Cyrillic kha
    ("\U0001d465", "unexpected character"),  # mathematical italic x
    ("x\u0301", "unexpected character"),  # combining acute accent
    ("x\u200b", "non-printable"),  # zero-width space
    ("\ufeffx", "non-printable"),  # byte-order mark
    ("\u202ex", "non-printable"),  # right-to-left override
    ("x\u00a0+ 1", "non-printable"),  # no-break space
    ("x \u2212 1", "unexpected character"),  # minus sign
    ("x; touch pwned", "';' is not allowed"),
    ("x | touch pwned", "unexpected character '|'"),
    ("$(touch pwned)", "unexpected character '$'"),
    ("`touch pwned`", "unexpected character '`'"),
    ("x && touch pwned", "unexpected character '&'"),
    ("x # comment", "unexpected character '#'"),
    ("x\ntouch pwned", "unexpected 'touch'"),
    ("x := 1", "':' is not allowed"),
    ("x = 1", "unexpected '='"),
    ("1 if x else 0", "unexpected 'if'"),
    ("relu(x, __class__=1)", "underscores"),
    ("leaky_relu(x, alpha=__import__)", "underscores"),
    ("getattr(x, 'y')", "strings are not allowed"),
    ("x" * 3000, "at most 2000"),
    ("x+" * 500_000 + "x", "at most 2000"),  # 1 MB
    ("(" * 45 + "x" + ")" * 45, "nested deeper than 40"),
    ("(" * 10_000 + "x" + ")" * 10_000, "at most 2000"),
    ("(" * 999 + "x" + ")" * 999, "nested deeper than 40"),
    ("-" * 1999 + "x", "nested deeper than 40"),
    ("9**9**9", "too large"),
    ("x**100000", "too large"),
    ("10**10**10", "too large"),
    ("1e999999", "out of range"),
    ("1" * 40, "too large"),
]


@pytest.mark.parametrize("text, fragment", HOSTILE)
def test_hostile_expression_is_refused_and_runs_nothing(text: str, fragment: str) -> None:
    outcome = check_parse(text)
    assert outcome.problems == [] and not outcome.accepted
    with pytest.raises(ExpressionError) as info:
        dualcalc.parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text", ["x\t+\n1", "  x + 1  ", "x\r\n+1"])
def test_ordinary_whitespace_gives_the_correct_result(text: str) -> None:
    assert dualcalc.parse(text).text == "x + 1"


def test_error_display_cannot_forge_lines() -> None:
    """A newline or control character in the text is shown as '?' in the message."""
    with pytest.raises(ExpressionError) as info:
        dualcalc.parse("x +\ndualcalc derive: fake line")
    lines = str(info.value).splitlines()
    assert len(lines) == 3 and not any(line.startswith("dualcalc") for line in lines)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALCALC_GENERATED", str(tmp_path / "generated"))
    return tmp_path


@pytest.mark.parametrize("text, _", HOSTILE[:20] + HOSTILE[30:37])
def test_hostile_expression_on_the_command_line(sandbox: Path, text: str, _: str) -> None:
    outcome = check_cli(["derive", text, "--out", "out"], sandbox)
    assert outcome.problems == [] and not outcome.accepted
    assert not list(sandbox.rglob("pwned"))


@pytest.mark.parametrize(
    "out",
    ["../escape", "a;b", "$(touch pwned)", "`touch pwned`", "a|b", "a && b", "..", "*", "~"],
)
def test_metacharacters_in_out_are_plain_folder_names(sandbox: Path, out: str) -> None:
    outcome = check_cli(["derive", "relu", "--out", out], sandbox)
    assert outcome.problems == [] and outcome.accepted
    written = (sandbox / "work" / "here" / out).resolve()
    assert {"index.json", "relu.py"} <= {p.name for p in written.iterdir()}
    assert not list(sandbox.rglob("pwned"))


@pytest.mark.parametrize("out", ["", "a\x00b"])
def test_unusable_out_is_refused(sandbox: Path, out: str) -> None:
    outcome = check_cli(["derive", "relu", "--out", out], sandbox)
    assert outcome.problems == [] and not outcome.accepted


def test_out_that_is_a_file_is_refused(sandbox: Path) -> None:
    (sandbox / "work" / "here").mkdir(parents=True)
    (sandbox / "work" / "here" / "file").write_text("keep")
    outcome = check_cli(["derive", "relu", "--out", "file/sub"], sandbox)
    assert outcome.problems == [] and not outcome.accepted
    assert (sandbox / "work" / "here" / "file").read_text() == "keep"


def test_planted_module_link_is_replaced_not_followed(sandbox: Path) -> None:
    """A link named like the module must not redirect the write to its target."""
    out = sandbox / "out"
    out.mkdir()
    victim = sandbox / "victim"
    victim.write_text("precious")
    (out / "relu.py").symlink_to(victim)
    assert main(["derive", "relu", "--out", str(out)]) == 0
    assert victim.read_text() == "precious"
    assert not (out / "relu.py").is_symlink()
    assert read_index(out)["relu"].slug == "relu"


def test_planted_index_link_is_refused_and_left_alone(sandbox: Path, capsys) -> None:
    """index.json linking to another file: not an index, so nothing is written anywhere."""
    out = sandbox / "out"
    out.mkdir()
    victim = sandbox / "victim"
    victim.write_text("precious")
    (out / "index.json").symlink_to(victim)
    assert main(["derive", "relu", "--out", str(out)]) == 2
    assert "not a readable JSON index" in capsys.readouterr().err
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("slug", ["../evil", "/tmp/evil", "a/b", "evil.py", "", "ev il"])
def test_index_slugs_cannot_leave_the_folder(tmp_path: Path, slug: str) -> None:
    """An edited index.json naming a path instead of a module is refused before any read."""
    (tmp_path / "index.json").write_text(
        json.dumps(
            {
                "format": 2,
                "modules": {
                    slug: {
                        "slug": slug,
                        "expression": "x*Heaviside(x)",
                        "name": "relu",
                        "closed_form": True,
                        "sha256": "0" * 64,
                        "latex": {},
                        "verified_to": None,
                    }
                },
            }
        )
    )
    with pytest.raises(GeneratedModuleError, match="plain identifier"):
        read_index(tmp_path)
    with pytest.raises(GeneratedModuleError):
        dualcalc.load("relu", directory=tmp_path)


def test_real_process_refuses_injection_and_creates_nothing(tmp_path: Path) -> None:
    """The console entry point itself (a fresh process): exit 2, one line of error."""
    env = dict(os.environ, DUALCALC_GENERATED=str(tmp_path / "generated"))
    marker = tmp_path / "pwned"
    result = subprocess.run(
        [sys.executable, "-m", "dualcalc", "derive", f"$(touch {marker})", "--out", "`id`"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("dualcalc derive: error: unexpected character '$'")
    assert "Traceback" not in result.stderr
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == []

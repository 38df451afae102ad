"""The command line: help, version, list, derive, and the exit-code policy for bad input."""

import os
import subprocess
import sys

import pytest

from dualcalc import __version__
from dualcalc.cli.main import main
from dualcalc.expression.catalogue import CATALOGUE


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dualcalc", *args], capture_output=True, text=True, timeout=300
    )


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_mentions_commands_and_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("derive", "list", "examples"):
        assert word in out


def test_list_shows_every_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in CATALOGUE:
        assert f"{name}(x" in out


def test_injection_attempt_exits_2_and_creates_nothing(tmp_path):
    marker = tmp_path / "owned"
    result = run_module("derive", f"__import__('os').system('touch {marker}')")
    assert result.returncode == 2
    assert "underscore" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert not os.path.exists("/tmp/owned")


@pytest.mark.parametrize("text", ["relux", "x +", "9**9**9", "'a'", "x.y"])
def test_bad_expression_exits_2_with_one_message(text, capsys):
    assert main(["derive", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dualcalc derive: error:")
    assert "Traceback" not in err


def test_unknown_command_exits_2():
    result = run_module("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_module_and_script_agree():
    result = run_module("list")
    assert result.returncode == 0
    assert "gelu(x)" in result.stdout

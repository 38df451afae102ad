"""Fuzzing the parser, the command line and the derivation (strategies and checks in
``support/fuzzing.py``; ``benchmarks/soak_fuzz.py`` runs the same checks tens of thousands
of times).

Parser: only ExpressionError escapes, nothing is executed (eval/exec/compile on the user's
text, sympy's string parser, processes and file writes are trapped), every input takes
under a second of CPU, and accepted inputs get a slug that stays inside its folder.
CLI: exit code 0 or 2, one error message and no traceback, no file outside the output
folder. Derivation: a verified closed form, a Hermite route with its reason, or the
project's own error, and finite kernel values.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzzing import (
    check_cli,
    check_derivation,
    check_parse,
    cli_arguments,
    expression_trees,
    token_soup,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def fuzz(examples: int) -> settings:
    """Settings for fuzz tests: no deadline (CPU time is checked instead), fixed count."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@fuzz(300)
@given(token_soup())
def test_parser_token_soup(text: str) -> None:
    assert check_parse(text).problems == []


@fuzz(100)
@given(st.text(max_size=80))
def test_parser_arbitrary_unicode(text: str) -> None:
    assert check_parse(text).problems == []


@fuzz(150)
@given(expression_trees())
def test_parser_well_formed_trees(text: str) -> None:
    assert check_parse(text).problems == []


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder holding the CLI's working folder and its default generated folder."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    previous = os.environ.get("DUALCALC_GENERATED")
    os.environ["DUALCALC_GENERATED"] = str(root / "generated")
    yield root
    if previous is None:
        del os.environ["DUALCALC_GENERATED"]
    else:
        os.environ["DUALCALC_GENERATED"] = previous


@fuzz(120)
@given(argv=cli_arguments())
def test_cli_arguments(sandbox: Path, argv: list[str]) -> None:
    assert check_cli(argv, sandbox).problems == []


@pytest.mark.slow
@fuzz(8)
@given(expression_trees(depth=3))
def test_derivation_of_random_trees(text: str) -> None:
    """Few examples (each derivation verifies against quadrature, about a second); the soak
    script runs hundreds. The budget keeps one slow symbolic search from stalling the suite."""
    assert check_derivation(text, budget=10.0).problems == []

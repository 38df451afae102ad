"""The time budget of the symbolic search: enforced on the main thread (timer) and elsewhere
(deadline checks), configurable, and ending in the Hermite route with the reason stated."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from dualcalc.cli.main import main
from dualcalc.compiler import compile as derivation_module
from dualcalc.compiler.compile import derive
from dualcalc.derivation.budget import (
    BUDGET_ENV,
    DEFAULT_BUDGET,
    SymbolicBudgetExceeded,
    check_deadline,
    resolve_budget,
    time_budget,
)
from dualcalc.errors import DerivationError

#: The activation used with a stalled engine (any expression with a Hermite route works).
TEXT = "x + 0.25*x**2 + 0.125*sin(3*x)"


@pytest.fixture
def stalled_engine(monkeypatch):
    """derive_closed_form replaced by a function that never returns by itself."""

    def install(engine):
        monkeypatch.setattr(derivation_module, "derive_closed_form", engine)
        derivation_module._derive_core.cache_clear()

    yield install
    derivation_module._derive_core.cache_clear()


def _spin_without_checks(activation):
    """Stands for one long sympy call: pure Python, no deadline checks, swallows Exception.

    Gives up after 30 s so that a broken timer fails the test instead of hanging it.
    """
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        try:
            sum(range(1000))
        except Exception:  # noqa: BLE001 - sympy has such blocks; the interrupt must pass them
            pass
    raise AssertionError("the search was not interrupted")


def _spin_with_checks(activation):
    while True:
        check_deadline()
        time.sleep(0.01)


def test_timer_interrupts_a_call_that_never_checks(stalled_engine):
    assert threading.current_thread() is threading.main_thread()
    stalled_engine(_spin_without_checks)
    start = time.perf_counter()
    result = derive(TEXT, budget=0.3)
    elapsed = time.perf_counter() - start
    assert not result.closed_form
    assert result.reason == "symbolic search exceeded its budget of 0.3 s"
    assert elapsed < 0.3 + 10  # the Hermite route itself takes about a second
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)


def test_deadline_checks_work_off_the_main_thread(stalled_engine):
    stalled_engine(_spin_with_checks)
    results = []
    worker = threading.Thread(target=lambda: results.append(derive(TEXT, budget=0.3)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert results[0].reason == "symbolic search exceeded its budget of 0.3 s"


def test_real_search_past_its_budget_falls_back_to_hermite():
    """x^5 erf(x) needs more than half a second of symbolic work (about 15 s)."""
    start = time.perf_counter()
    result = derive("x**5*erf(x)", budget=0.5)
    assert time.perf_counter() - start < 0.5 + 10
    assert not result.closed_form
    assert "exceeded its budget of 0.5 s" in result.reason
    assert result.steps[-1].rule == "hermite"


def test_budget_resolution(monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert resolve_budget(None) == DEFAULT_BUDGET
    assert resolve_budget(3) == 3.0
    monkeypatch.setenv(BUDGET_ENV, "7.5")
    assert resolve_budget(None) == 7.5
    assert resolve_budget(2) == 2.0
    monkeypatch.setenv(BUDGET_ENV, "inf")
    assert resolve_budget(None) == float("inf")
    for bad in ("soon", "-1", "0", "nan"):
        monkeypatch.setenv(BUDGET_ENV, bad)
        with pytest.raises(DerivationError, match=BUDGET_ENV):
            resolve_budget(None)
    for bad in (0, -2.0, float("nan"), "10", True):
        with pytest.raises(DerivationError, match="budget"):
            resolve_budget(bad)


def test_environment_budget_reaches_derive(monkeypatch, stalled_engine):
    stalled_engine(_spin_without_checks)
    monkeypatch.setenv(BUDGET_ENV, "0.2")
    assert derive(TEXT).reason == "symbolic search exceeded its budget of 0.2 s"


def test_no_interrupt_after_the_budget_closes():
    with time_budget(0.2):
        pass
    time.sleep(0.4)  # a stray timer would raise here
    with time_budget(float("inf")):
        check_deadline()


def test_check_deadline_raises_the_projects_error():
    with pytest.raises(SymbolicBudgetExceeded, match="budget of 0.05 s"):
        with time_budget(0.05):
            time.sleep(0.1)
            check_deadline()


def test_cli_budget_flag(stalled_engine, capsys):
    stalled_engine(_spin_without_checks)
    assert main(["derive", TEXT, "--budget", "0.2", "--no-write", "--degree", "2"]) == 0
    assert "exceeded its budget of 0.2 s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["derive", TEXT, "--budget", "-1"])
    assert info.value.code == 2
    assert "budget must be positive" in capsys.readouterr().err

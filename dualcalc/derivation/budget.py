"""Time budget of the symbolic closed-form search: a deadline, checked and enforced.

``derive`` runs the closed-form engine inside ``time_budget(seconds)``; when the budget runs
out the engine raises ``SymbolicBudgetExceeded`` and ``derive`` falls back to the Hermite
route, stating the reason. Two mechanisms enforce the deadline:

- the engine calls ``check_deadline()`` between rule applications (every cross term, every
  simplification stage, every coefficient). This works in any thread but cannot interrupt
  one long sympy call;
- on the main thread of a process with ``signal.setitimer`` (Unix), an interval timer
  interrupts the search wherever it is, also inside a sympy call. The handler raises
  ``_Interrupted``, a ``BaseException``, so the ``except Exception`` blocks inside sympy do
  not swallow it (and the timer fires again every ``RETRY_INTERVAL`` s if one does).

Off the main thread only the first mechanism applies: a single sympy call can then overrun
the budget by its own duration. A subprocess would bound even that, but forking a process
that has started JAX's threads can deadlock, and a fresh interpreter spends seconds
importing sympy for every derivation; the engine's known slow paths are fixed instead.

The budget is ``derive(..., budget=seconds)``, else ``$DUALCALC_SYMBOLIC_BUDGET``, else
``DEFAULT_BUDGET``; ``inf`` disables it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dualcalc.errors import DerivationError

#: Environment variable overriding the default budget (seconds, or "inf").
BUDGET_ENV = "DUALCALC_SYMBOLIC_BUDGET"
#: Default budget of the symbolic search in seconds.
DEFAULT_BUDGET = 20.0
#: Seconds between repeated timer interrupts once the deadline has passed.
RETRY_INTERVAL = 0.5


class SymbolicBudgetExceeded(DerivationError):
    """The closed-form search ran past its time budget."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"symbolic search exceeded its budget of {seconds:g} s")


class _Interrupted(BaseException):
    """Raised by the timer inside the search; turned into SymbolicBudgetExceeded."""


@dataclass
class _Deadline:
    seconds: float
    expires: float
    active: bool = True


_CURRENT: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "dualcalc_symbolic_deadline", default=None
)


def resolve_budget(budget: float | None) -> float:
    """The budget in seconds: ``budget``, else $DUALCALC_SYMBOLIC_BUDGET, else DEFAULT_BUDGET."""
    source = "budget"
    if budget is None:
        text = os.environ.get(BUDGET_ENV, "").strip()
        if not text:
            return DEFAULT_BUDGET
        source = f"${BUDGET_ENV}"
        try:
            budget = float(text)
        except ValueError:
            raise DerivationError(
                f"{source} must be a number of seconds or 'inf', got {text!r}"
            ) from None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise DerivationError(f"{source} must be a number of seconds, got {budget!r}")
    budget = float(budget)
    if math.isnan(budget) or budget <= 0:
        raise DerivationError(f"{source} must be a positive number of seconds, got {budget:g}")
    return budget


def check_deadline() -> None:
    """Raise SymbolicBudgetExceeded when the current budget has run out (no-op without one)."""
    deadline = _CURRENT.get()
    if deadline is not None and deadline.active and time.monotonic() > deadline.expires:
        raise SymbolicBudgetExceeded(deadline.seconds)


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Run the body under a deadline ``seconds`` from now (see the module docstring)."""
    if math.isinf(seconds):
        yield
        return
    deadline = _Deadline(seconds, time.monotonic() + seconds)
    token = _CURRENT.set(deadline)
    timer = _can_use_timer()
    previous = None

    def interrupt(signum, frame):
        if deadline.active:
            raise _Interrupted

    try:
        if timer:
            previous = signal.signal(signal.SIGALRM, interrupt)
            signal.setitimer(signal.ITIMER_REAL, seconds, RETRY_INTERVAL)
        yield
    except _Interrupted:
        raise SymbolicBudgetExceeded(seconds) from None
    finally:
        deadline.active = False
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        _CURRENT.reset(token)


def _can_use_timer() -> bool:
    """True on the main thread with setitimer, when nobody else uses SIGALRM or the timer."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        return False
    if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
        return False
    return signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)


__all__ = [
    "BUDGET_ENV",
    "DEFAULT_BUDGET",
    "SymbolicBudgetExceeded",
    "check_deadline",
    "resolve_budget",
    "time_budget",
]

"""Soak test: tens of thousands of fuzzed parser and CLI inputs, hundreds of fuzzed derivations.

The checks are the test suite's (``tests/support/fuzzing.py``): parse raises nothing but
ExpressionError, runs nothing and answers within a second of CPU; the CLI exits 0 or 2 with
one message and writes only into its output folder; every derivation of a random
well-formed expression tree (depth <= 3, the whole catalogue) ends in a verified closed
form, a Hermite route with its reason, or the project's own error, with finite kernel
values. Derivations run in a worker process that is killed and replaced when one takes
longer than ``--limit`` seconds (counted as a failure: a hang).

    .venv/bin/python benchmarks/soak_fuzz.py                 # defaults below, ~15 min
    .venv/bin/python benchmarks/soak_fuzz.py --parse 2000 --cli 200 --derive 20

Prints the counts and every failure; exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import fuzzing  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def run_strategy(strategy, examples: int, check, label: str, seed_value: int) -> tuple:
    """Run ``check`` on ``examples`` draws; (count, failures, worst seconds, accepted)."""
    failures: list[tuple[object, list[str]]] = []
    stats = {"count": 0, "worst": 0.0, "accepted": 0, "slowest": None}
    if examples <= 0:
        return 0, failures

    @seed(seed_value)
    @_settings(examples)
    @given(strategy)
    def body(value):
        outcome = check(value)
        stats["count"] += 1
        if outcome.seconds > stats["worst"]:
            stats["worst"], stats["slowest"] = outcome.seconds, value
        stats["accepted"] += outcome.accepted
        if outcome.problems:
            failures.append((value, outcome.problems))

    start = time.perf_counter()
    body()
    elapsed = time.perf_counter() - start
    print(
        f"{label:<22} {stats['count']:>6} inputs  {stats['accepted']:>5} accepted  "
        f"worst {stats['worst']:.3f} s  ({elapsed:.0f} s)  failures: {len(failures)}",
        flush=True,
    )
    if stats["slowest"] is not None:
        print(f"{'':<22} slowest input: {str(stats['slowest'])[:160]!r}", flush=True)
    return stats["count"], failures


def _derivation_worker(connection, budget: float) -> None:
    """Worker process: derive every text received, answer with the outcome."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    while True:
        text = connection.recv()
        if text is None:
            return
        outcome = fuzzing.check_derivation(text, budget)
        route = outcome.route if not outcome.problems else "failure"
        connection.send((outcome.problems, outcome.seconds, route))


class DerivationPool:
    """One worker process; a derivation that exceeds the limit kills and replaces it."""

    def __init__(self, budget: float, limit: float):
        self.budget, self.limit = budget, limit
        self.context = mp.get_context("spawn")
        self.process = None
        self._start()

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(
            target=_derivation_worker, args=(child, self.budget), daemon=True
        )
        self.process.start()

    def derive(self, text: str) -> tuple[list[str], float, str]:
        self.connection.send(text)
        if self.connection.poll(self.limit):
            return self.connection.recv()
        self.process.kill()
        self.process.join()
        self._start()
        return [f"no answer within {self.limit:g} s (hang)"], self.limit, "hang"

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=10)


def soak_derivations(count: int, budget: float, limit: float, seed_value: int) -> tuple:
    """Derive ``count`` distinct random trees in the worker; (count, failures)."""
    texts: list[str] = []
    if count <= 0:
        return 0, []

    @seed(seed_value)
    @_settings(count * 3)
    @given(fuzzing.expression_trees(depth=3))
    def collect(text):
        if len(texts) < count and text not in texts:
            texts.append(text)

    collect()
    pool = DerivationPool(budget, limit)
    failures, routes, worst = [], Counter(), 0.0
    start = time.perf_counter()
    try:
        for i, text in enumerate(texts, 1):
            problems, seconds, route = pool.derive(text)
            routes[route] += 1
            worst = max(worst, seconds)
            if problems:
                failures.append((text, problems))
            if i % 25 == 0:
                print(f"  derivations {i}/{len(texts)} ({time.perf_counter() - start:.0f} s)")
    finally:
        pool.close()
    summary = ", ".join(f"{n} {route}" for route, n in sorted(routes.items()))
    print(
        f"{'derivations':<22} {len(texts):>6} trees   worst {worst:.1f} s  "
        f"({time.perf_counter() - start:.0f} s)  [{summary}]  failures: {len(failures)}",
        flush=True,
    )
    return len(texts), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parse", type=int, default=18000, help="parser inputs (all kinds)")
    parser.add_argument("--cli", type=int, default=2500, help="command-line invocations")
    parser.add_argument("--derive", type=int, default=300, help="expression-tree derivations")
    parser.add_argument("--budget", type=float, default=20.0, help="symbolic budget (s)")
    parser.add_argument("--limit", type=float, default=120.0, help="hang limit per derivation")
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args(argv)

    sandbox = Path(tempfile.mkdtemp(prefix="dualcalc-soak-"))
    os.environ["DUALCALC_GENERATED"] = str(sandbox / "generated")
    failures: list[tuple[object, list[str]]] = []
    total = 0
    share = {"token soup": 0.6, "unicode text": 0.2, "expression trees": 0.2}
    strategies = {
        "token soup": fuzzing.token_soup(40),
        "unicode text": st.text(max_size=120),
        "expression trees": fuzzing.expression_trees(depth=3),
    }
    for i, (label, part) in enumerate(share.items()):
        count, found = run_strategy(
            strategies[label], int(args.parse * part), fuzzing.check_parse, label, args.seed + i
        )
        total, failures = total + count, failures + found
    count, found = run_strategy(
        fuzzing.cli_arguments(),
        args.cli,
        lambda argv: fuzzing.check_cli(argv, sandbox / "cli"),
        "command line",
        args.seed + 10,
    )
    total, failures = total + count, failures + found
    derived, found = soak_derivations(args.derive, args.budget, args.limit, args.seed + 20)
    failures += found
    for value, problems in failures:
        print(f"FAILURE {value!r}: {'; '.join(problems)}")
    print(f"parser/CLI inputs: {total}, derivations: {derived}, failures: {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

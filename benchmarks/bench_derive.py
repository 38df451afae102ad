"""Derivation speed: derive(EXPR) cold (first call in a fresh process) and cached, per activation.

Run:  .venv/bin/python benchmarks/bench_derive.py [EXPR ...]
Targets (issue 3): gelu under 2 s cold, under 50 ms cached.
"""

from __future__ import annotations

import json
import subprocess
import sys

DEFAULT = ["gelu", "relu", "erf", "relu(x) + 0.5*sin(x)", "elu", "tanh", "x*exp(-x**2/2)"]

_CHILD = """
import json, sys, time
import dualcalc.compiler.compile as d
text = sys.argv[1]
t0 = time.perf_counter(); r = d.derive(text); cold = time.perf_counter() - t0
t0 = time.perf_counter(); d.derive(text); cached = time.perf_counter() - t0
print(json.dumps({"cold": cold, "cached": cached, "closed_form": r.closed_form,
                  "residual": r.residual}))
"""


def measure(text: str) -> dict:
    """Time derive(text) in a fresh interpreter (imports excluded)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, text], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(texts: list[str]) -> None:
    """Print a markdown table of cold / cached derive times."""
    print("| activation | route | cold (s) | cached (ms) | residual |")
    print("|---|---|---:|---:|---:|")
    for text in texts:
        r = measure(text)
        route = "closed form" if r["closed_form"] else "Hermite"
        residual = "-" if r["residual"] is None else f"{r['residual']:.1e}"
        print(f"| `{text}` | {route} | {r['cold']:.2f} | {1e3 * r['cached']:.2f} | {residual} |")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)

"""Featurization time against the physical floor: one (n x d) @ (d x m) matrix product.

n = 10,000 rows, d = 256, m = 2048 and 4096, float32, compiled, warm (best of ``--repeats``).
Feature maps: ``features.fc(activation, depth, m=m, readout=False)`` for depth 1 and 2, NNGP and NTK
features, methods "polysketch" (degree from the tail bound), "polysketch" with the degree
fixed to 4, and "random" (a finite random network: one d x m product per layer, then m x m).
The floor is one dense product of the input with a d x m matrix, the least a dense sketch of
that shape must do. ``--unchunked`` also times each map with all rows in one chunk
(``feature_map.CHUNK_ELEMENTS`` raised), i.e. without the row chunking of ``FeatureMap.apply``.

Table: benchmarks/results/bench_featurize_floor.md; plot: bench_featurize_floor.png.

Run:  .venv/bin/python benchmarks/bench_featurize_floor.py [--quick] [--unchunked]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dualcalc import features
from dualcalc.features import feature_map

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 5.0


def best_time(fn, *args, repeats: int) -> tuple[float, float]:
    """(best warm wall time, first call time)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best, first


def time_map(activation, depth, m, method, degree, x, repeats, unchunked):
    options = dict(m=m, degree=degree, method=method, readout=False)
    fmap = features.fc(activation, depth, key=jax.random.PRNGKey(0), **options)
    params = jax.block_until_ready(fmap.params(x.shape[1:], x.dtype))
    best, first = best_time(jax.jit(fmap.apply), params, x, repeats=repeats)
    out = {"time": best, "compile": max(first - best, 0.0), "degrees": fmap.degrees}
    out["rows"] = fmap.chunk_rows(params, x)
    if unchunked:
        saved = feature_map.CHUNK_ELEMENTS
        feature_map.CHUNK_ELEMENTS = {"cpu": 1 << 62, "accelerator": 1 << 62}
        try:
            again = features.fc(activation, depth, key=jax.random.PRNGKey(0), **options)
            out["unchunked"] = best_time(jax.jit(again.apply), params, x, repeats=repeats)[0]
        finally:
            feature_map.CHUNK_ELEMENTS = saved
    return out


def plot(rows, widths, path: Path) -> None:
    """Bars: time / time of the product, per map and depth, one group per m."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = [(label, depth) for m, label, depth, _, _ in rows if m == widths[0] and depth != "-"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(widths)
    for i, m in enumerate(widths):
        ratios = {(lab, dep): r["time"] / fl for mm, lab, dep, r, fl in rows if mm == m}
        xs = np.arange(len(maps)) + i * width
        ax.bar(xs, [ratios[k] for k in maps], width, label=f"m = {m}", color=f"C{i}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(TARGET, color="r", ls=":", lw=0.8, label=f"target {TARGET:.0f}x")
    ax.set_xticks(np.arange(len(maps)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{lab}\ndepth {dep}" for lab, dep in maps], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("time / one (n x d) @ (d x m) product")
    ax.set_title("Featurization time against the matrix-product floor")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2,000, m = 2048 only")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--activation", default="gelu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unchunked", action="store_true")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    n = args.n or (2000 if args.quick else 10_000)
    widths = [2048] if args.quick else [2048, 4096]
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, args.d)), jnp.float32)
    load_before = os.getloadavg()[0]
    rows = []
    for m in widths:
        w = jnp.asarray(rng.standard_normal((args.d, m)) / math.sqrt(m), jnp.float32)
        floor, _ = best_time(jax.jit(jnp.matmul), x, w, repeats=args.repeats)
        rows.append((m, "floor: (n x d) @ (d x m)", "-", {"time": floor}, floor))
        for depth in (1, 2):
            for label, method, degree in (
                ("polysketch", "polysketch", None),
                ("polysketch p=4", "polysketch", 4),
                ("random", "random", None),
            ):
                r = time_map(args.activation, depth, m, method, degree, x, args.repeats,
                             args.unchunked)  # fmt: skip
                rows.append((m, label, depth, r, floor))
                print(f"m={m} depth {depth} {label}: {1e3 * r['time']:.0f} ms "
                      f"({r['time'] / floor:.1f}x floor)", file=sys.stderr, flush=True)  # fmt: skip
    load_after = os.getloadavg()[0]
    command = "python benchmarks/bench_featurize_floor.py " + " ".join(argv or sys.argv[1:])
    lines = [
        f"Command: {command.strip()}  (cpu: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"jax {jax.__version__}, {datetime.date.today()})",
        "",
        f"n = {n:,} rows, d = {args.d}, {args.activation}, NNGP and NTK features, float32, "
        f"compiled, warm, best of {args.repeats}; 'x floor' = time / time of the product. "
        f"1-minute load average {load_before:.1f} before and {load_after:.1f} after (other "
        "jobs share the CPUs: times are indicative).",
        "",
        "| m | map | depth | degrees | rows per chunk | ms | x floor | compile (s) "
        + ("| all rows at once: ms | x floor " if args.unchunked else "")
        + "|",
        "|---:|---|---:|---|---:|---:|---:|---:|" + ("---:|---:|" if args.unchunked else ""),
    ]
    for m, label, depth, r, floor in rows:
        degrees = ", ".join(map(str, r.get("degrees", ()))) or "-"
        cells = [
            str(m),
            label,
            str(depth),
            degrees,
            str(r.get("rows", "-")),
            f"{1e3 * r['time']:.0f}",
            f"{r['time'] / floor:.2f}",
            f"{r['compile']:.1f}" if "compile" in r else "-",
        ]
        if args.unchunked:
            u = r.get("unchunked")
            cells += ["-", "-"] if u is None else [f"{1e3 * u:.0f}", f"{u / floor:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Target: featurization within {TARGET:.0f}x of the product:", ""]
    for m, label, depth, r, floor in rows:
        if depth == "-":
            continue
        ratio = r["time"] / floor
        verdict = "met" if ratio <= TARGET else "MISSED"
        lines.append(f"- m = {m}, depth {depth}, {label}: {ratio:.1f}x ({verdict})")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_featurize_floor.md").write_text(text)
        plot(rows, widths, RESULTS / "bench_featurize_floor.png")


if __name__ == "__main__":
    main()

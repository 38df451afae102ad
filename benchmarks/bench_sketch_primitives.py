"""Sketch primitives' apply time against one dense matrix product of the same shape.

n rows of d = 256 features sketched to m = 4096 (float32, jit, warm, best of ``--repeats``):
SRHT, Gaussian, CountSketch; TensorSketch and TensorSRHT of x (x) y with x, y in R^256;
PolySketch of degree 8 (all 9 blocks, both paddings; rows in chunks of ``--chunk`` inside the
compiled function, since its output is 9 times larger). The floor is one dense
(n x d) @ (d x m) product, the work a dense sketch of this shape must do.

Second table: PolySketch's two paddings side by side, m Var of each block's inner product
<P_j(u), P_j(v)> (unit u, v with <u, v> = 0.8, d = 16, m = 64, p = 5) over ``--draws``
independent trees, with its standard error sqrt((mu4 - s^4) / K).

The tables go to benchmarks/results/bench_sketch_primitives.md (CPU) or ..._<platform>.md.

Run:  .venv/bin/python benchmarks/bench_sketch_primitives.py [--n 10000] [--repeats 5]
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

from dualcalc.sketch import (
    countsketch_apply,
    countsketch_init,
    gaussian_apply,
    gaussian_init,
    polysketch_apply,
    polysketch_init,
    srht_apply,
    srht_init,
    tensor_srht_apply,
    tensor_srht_init,
    tensorsketch_apply,
    tensorsketch_init,
)

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn, *args, repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up run (compilation)."""
    jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def cases(n: int, d: int, m: int, degree: int, chunk: int):
    """(name, map, compiled function, its arguments) for each primitive and the floor."""
    key = jax.random.key(0)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, d)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((n, d)), jnp.float32)
    dense = jnp.asarray(rng.standard_normal((d, m)) / math.sqrt(m), jnp.float32)

    def floor(x, w):
        return jnp.matmul(x, w, precision=jax.lax.Precision.HIGHEST)

    def chunked(apply):
        def run(params, x):
            blocks = jax.lax.map(lambda rows: apply(params, rows), x.reshape(-1, chunk, d))
            return blocks.reshape((n,) + blocks.shape[2:])

        return run

    f32 = jnp.float32
    yield "dense (n x d) @ (d x m)", f"R^{d} -> R^{m}", jax.jit(floor), (x, dense)
    yield "SRHT", f"R^{d} -> R^{m}", jax.jit(srht_apply), (srht_init(key, d, m, f32), x)
    yield "Gaussian", f"R^{d} -> R^{m}", jax.jit(gaussian_apply), (gaussian_init(key, d, m, f32), x)
    yield (
        "CountSketch",
        f"R^{d} -> R^{m}",
        jax.jit(countsketch_apply),
        (countsketch_init(key, d, m, f32), x),
    )
    yield (
        "TensorSketch",
        f"R^{d} (x) R^{d} -> R^{m}",
        jax.jit(tensorsketch_apply),
        (tensorsketch_init(key, d, d, m, f32), x, y),
    )
    yield (
        "TensorSRHT",
        f"R^{d} (x) R^{d} -> R^{m}",
        jax.jit(tensor_srht_apply),
        (tensor_srht_init(key, d, d, m, f32), x, y),
    )
    for padding in ("e1", "pass"):
        params = polysketch_init(key, d, m, degree, f32, padding)
        yield (
            f"PolySketch p = {degree}, padding {padding!r}",
            f"R^{d} -> {degree + 1} x R^{m}",
            jax.jit(chunked(polysketch_apply)),
            (params, x),
        )


def padding_variance(draws: int, d: int = 16, m: int = 64, degree: int = 5, cosine: float = 0.8):
    """{padding: [(m Var, its standard error, mean - <u, v>^j) for j = 1..p]} (float32)."""
    rng = np.random.default_rng(1)
    u = rng.standard_normal(d).astype(np.float32)
    u /= np.linalg.norm(u)
    w = rng.standard_normal(d)
    w -= (w @ u) * u
    v = (cosine * u + math.sqrt(1 - cosine**2) * w / np.linalg.norm(w)).astype(np.float32)
    out = {}
    for padding in ("e1", "pass"):

        def one(key, padding=padding):
            params = polysketch_init(key, d, m, degree, jnp.float32, padding)
            return jnp.sum(polysketch_apply(params, u) * polysketch_apply(params, v), axis=-1)

        keys = jax.random.split(jax.random.key(2), draws)
        est = np.asarray(jax.jit(jax.vmap(one))(keys), dtype=np.float64)
        rows = []
        for j in range(1, degree + 1):
            centred = est[:, j] - est[:, j].mean()
            s2, mu4 = np.mean(centred**2), np.mean(centred**4)
            rows.append(
                (m * s2, m * math.sqrt((mu4 - s2**2) / draws), est[:, j].mean() - cosine**j)
            )
        out[padding] = rows
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--m", type=int, default=4096)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if args.n % args.chunk:
        parser.error("--n must be a multiple of --chunk")
    load_before = os.getloadavg()[0]
    rows = []
    for name, shape, fn, fn_args in cases(args.n, args.d, args.m, args.degree, args.chunk):
        seconds = best_time(fn, *fn_args, repeats=args.repeats)
        out = jax.eval_shape(fn, *fn_args)
        rows.append((name, shape, out.shape, out.size * out.dtype.itemsize / 2**20, seconds))
        print(f"{name}: {milliseconds(seconds)} ms", flush=True)
    variances = padding_variance(args.draws)
    args.load = (load_before, os.getloadavg()[0])
    table = render(rows, args) + render_variance(variances, args.draws)
    print("\n" + table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        platform_name = jax.devices()[0].platform
        suffix = "" if platform_name == "cpu" else f"_{platform_name}"
        (RESULTS / f"bench_sketch_primitives{suffix}.md").write_text(table)


def milliseconds(seconds: float) -> str:
    """Three significant digits, without exponents."""
    ms = 1e3 * seconds
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def render(rows, args) -> str:
    device = jax.devices()[0]
    command = "benchmarks/bench_sketch_primitives.py " + " ".join(sys.argv[1:])
    lines = [
        f"Command: python {command.strip()}  ({device.platform}: "
        f"{device.device_kind}, {os.cpu_count()} CPUs, {platform.machine()}, jax "
        f"{jax.__version__}, {datetime.date.today()})",
        "",
        f"n = {args.n:,} rows, float32, jit, warm, best of {args.repeats}; "
        "'x floor' = time / time of the dense product. 1-minute load average "
        f"{args.load[0]:.1f} before and {args.load[1]:.1f} after (other jobs share the CPUs).",
        "",
        "| primitive | map | output | output MiB | ms | x floor |",
        "|---|---|---|---:|---:|---:|",
    ]
    floor = rows[0][-1]
    for name, shape, out_shape, mib, seconds in rows:
        lines.append(
            f"| {name} | {shape} | {tuple(out_shape)} | {mib:,.0f} | {milliseconds(seconds)} | "
            f"{seconds / floor:.2f} |"
        )
    return "\n".join(lines) + "\n"


def render_variance(variances, draws: int) -> str:
    lines = [
        "",
        f"PolySketch p = 5, d = 16, m = 64, <u, v> = 0.8, {draws:,} trees, float32: "
        "m Var of block j (+- standard error); mean - 0.8^j in brackets.",
        "",
        "| padding | " + " | ".join(f"j = {j}" for j in range(1, 6)) + " |",
        "|---|" + "---:|" * 5,
    ]
    for padding, rows in variances.items():
        cells = [f"{v:.2f} +- {e:.2f} [{b:+.3f}]" for v, e, b in rows]
        lines.append(f"| {padding} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

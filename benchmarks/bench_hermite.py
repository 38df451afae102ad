"""Hermite-route kernels vs Neural Tangents' numerical fallback, and coefficient speed.

On the same random (q1, q2, c) points, for tanh, silu, softplus, gelu and relu:
  * dualcalc JAX runtime (``hermite_nngp``, jit, float64, degree 64 and 128);
  * dualcalc float64 engine (``HermiteDual``: Mehler + direct quadrature near |rho| = 1);
  * Neural Tangents ``stax.ElementwiseNumerical`` (deg 25 and 50), in its own venv
    (``neural_tangents_env.py``); the column is skipped when that venv cannot be built.
Error: max |K - oracle| / sqrt(K(q1,q1,q1) K(q2,q2,q2)) over the first ``--check`` points
(the oracle is ``dualcalc.derivation.quadrature``). Time: seconds for all ``--n`` points.
NT computes full matrices, so it runs on blocks of 50 points and we read the diagonals:
its time covers 50 x n pairs (its API has no pairwise mode; n^2 at deg 50 does not fit).

Run:  .venv/bin/python benchmarks/bench_hermite.py [--n 1000] [--check 200]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from dualcalc import parse  # noqa: E402
from dualcalc.derivation.hermite import HermiteDual  # noqa: E402
from dualcalc.derivation.quadrature import dual_kernel_oracle, kernel_scale  # noqa: E402
from dualcalc.runtime._support.hermite import coefficients, hermite_nngp  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ACTIVATIONS = {
    "tanh": (jnp.tanh, (), "jnp.tanh(x)"),
    "silu": (jax.nn.silu, (), "x * jax.nn.sigmoid(x)"),
    "softplus": (jax.nn.softplus, (), "jax.nn.softplus(x)"),
    "gelu": (lambda x: jax.nn.gelu(x, approximate=False), (), "jax.nn.gelu(x, approximate=False)"),
    "relu": (jax.nn.relu, (0.0,), "jnp.maximum(x, 0.0)"),
}

NT_SNIPPET = """
import time, numpy as np, jax
jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp
from neural_tangents import stax
q1, q2, c = (np.array(PAYLOAD[k]) for k in ('q1', 'q2', 'c'))
rho = np.clip(c / np.sqrt(q1 * q2), -1, 1)
x1 = np.stack([np.sqrt(2 * q1), 0 * q1], 1)
x2 = np.stack([np.sqrt(2 * q2) * rho, np.sqrt(2 * q2) * np.sqrt(1 - rho ** 2)], 1)
out = {}
for deg in PAYLOAD['degrees']:
    fn = eval('lambda x: ' + PAYLOAD['fn'])
    _, _, kernel_fn = stax.serial(
        stax.Dense(1, W_std=1.0, b_std=0.0), stax.ElementwiseNumerical(fn, deg=deg))
    kernel_fn = jax.jit(kernel_fn, static_argnames='get')
    B = 50
    kernel_fn(x1[:B], x2[:B], 'nngp').block_until_ready()
    t = time.perf_counter()
    k = [np.diag(np.asarray(kernel_fn(x1[i:i + B], x2[i:i + B], 'nngp')))
         for i in range(0, len(q1), B)]
    out[str(deg)] = {'time': time.perf_counter() - t, 'k': np.concatenate(k).tolist()}
print(json.dumps(out))
"""


def sample_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q1, q2 log-uniform in [0.1, 10], rho uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    q1 = np.exp(rng.uniform(math.log(0.1), math.log(10.0), n))
    q2 = np.exp(rng.uniform(math.log(0.1), math.log(10.0), n))
    rho = rng.uniform(-1.0, 1.0, n)
    return q1, q2, rho * np.sqrt(q1 * q2)


def timed(fn, *args, repeats: int = 3):
    """(result, best wall time of ``repeats`` runs after one warm-up)."""
    out = fn(*args)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args)
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        best = min(best, time.perf_counter() - t)
    return np.asarray(out), best


def relative_errors(act, values, q1, q2, c, check: int) -> float:
    worst = 0.0
    for i in range(check):
        truth = dual_kernel_oracle(act, q1[i], q2[i], c[i])
        worst = max(worst, abs(values[i] - truth) / kernel_scale(act, q1[i], q2[i]))
    return worst


def nt_column(fn_text: str, q1, q2, c) -> dict | None:
    sys.path.insert(0, str(HERE))
    import neural_tangents_env as env

    try:
        payload = {"q1": q1.tolist(), "q2": q2.tolist(), "c": c.tolist(), "degrees": [25, 50]}
        return env.run_snippet(NT_SNIPPET, payload | {"fn": fn_text})
    except env.NeuralTangentsUnavailable as exc:
        print(f"[Neural Tangents column skipped: {str(exc)[:300]}]")
        return None


def coefficient_speed(n: int = 100_000, degree: int = 64) -> list[tuple[str, str, float]]:
    """Seconds for a_0..a_degree at n distinct variances (jit, warm), float64 and float32."""
    rows = []
    q = np.random.default_rng(1).uniform(0.05, 5.0, n)
    for name in ("tanh", "relu"):
        fn, kinks, _ = ACTIVATIONS[name]
        for dtype in (jnp.float64, jnp.float32):
            for nodes in (None, 256):
                run = jax.jit(lambda v, f=fn, k=kinks, m=nodes: coefficients(f, v, degree, k, m))
                _, seconds = timed(run, jnp.asarray(q, dtype))
                label = f"{np.dtype(dtype).name}, nodes={nodes or 'default'}"
                rows.append((name, label, seconds))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--check", type=int, default=200)
    parser.add_argument("--no-nt", action="store_true")
    args = parser.parse_args(argv)
    q1, q2, c = sample_points(args.n)
    check = min(args.check, args.n)
    rows = []
    for name, (fn, kinks, fn_text) in ACTIVATIONS.items():
        act = parse(name)
        row = {"activation": name}
        for degree in (64, 128):
            run = jax.jit(lambda a, b, d, f=fn, k=kinks, g=degree: hermite_nngp(f, a, b, d, g, k))
            values, seconds = timed(run, jnp.asarray(q1), jnp.asarray(q2), jnp.asarray(c))
            row[f"jax{degree}"] = (relative_errors(act, values, q1, q2, c, check), seconds)
        t = time.perf_counter()
        values = HermiteDual(act).kernel(q1, q2, c)
        row["dual"] = (relative_errors(act, values, q1, q2, c, check), time.perf_counter() - t)
        nt = None if args.no_nt else nt_column(fn_text, q1, q2, c)
        for deg in ("25", "50"):
            if nt is None:
                row[f"nt{deg}"] = None
            else:
                k = np.array(nt[deg]["k"])
                row[f"nt{deg}"] = (relative_errors(act, k, q1, q2, c, check), nt[deg]["time"])
        rows.append(row)
        print(name, row, flush=True)
    print_table(rows, args.n, check)
    speed = coefficient_speed()
    print("\nCoefficients a_0..a_64 for 100,000 distinct q (jit, warm, best of 3):\n")
    print("| activation | setting | seconds |\n|---|---|---|")
    for name, label, seconds in speed:
        print(f"| {name} | {label} | {seconds:.3f} |")
    plot(rows)


COLUMNS = [
    ("jax64", "dualcalc JAX deg 64"),
    ("jax128", "dualcalc JAX deg 128"),
    ("dual", "dualcalc HermiteDual (f64)"),
    ("nt25", "NT ElementwiseNumerical deg 25"),
    ("nt50", "NT ElementwiseNumerical deg 50"),
]


def print_table(rows, n: int, check: int) -> None:
    print(f"\nNNGP on {n} points (error: max over {check} points, relative to the CS scale)\n")
    header = "| activation | " + " | ".join(f"{t} err / s" for _, t in COLUMNS) + " |"
    print(header)
    print("|---" * (len(COLUMNS) + 1) + "|")
    for row in rows:
        cells = [
            "n/a" if row[key] is None else f"{row[key][0]:.1e} / {row[key][1]:.3f}"
            for key, _ in COLUMNS
        ]
        print(f"| {row['activation']} | " + " | ".join(cells) + " |")


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [r["activation"] for r in rows]
    width = 0.15
    for j, (key, title) in enumerate(COLUMNS):
        errs = [r[key][0] if r[key] is not None else np.nan for r in rows]
        ax.bar(np.arange(len(rows)) + j * width, np.maximum(errs, 1e-17), width, label=title)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(rows)) + 2 * width, names)
    ax.set_ylabel("max relative error vs oracle")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "bench_hermite.png", dpi=120)
    print(f"\nplot: {RESULTS / 'bench_hermite.png'}")


if __name__ == "__main__":
    main()

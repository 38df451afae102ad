"""Bias and noise of the Myrtle-5 CNTK sketch, separated over keys, as the width m grows.

Why: at degree 4 the CNTK Gram error of one key does not fall with m (first 300 digits:
0.027 at m = 256, 0.053 at 512, 0.084 at 1024, 0.077 at 2048), which no unbiased sketch
with a 1 / m variance should do. This benchmark splits the error of ``--keys`` independent
draws of ``features.myrtle(5, "relu", m=m, degree=p)`` into

- bias:  ||mean_s G_s - K|| / ||K||  (G_s = F_s F_s^T, K = ``kernel_fn`` of the same network),
- noise: sqrt(sum_s ||G_s - mean G||^2 / (keys - 1)) / ||K|| (the per-key standard deviation,
  unbiased estimate of E||G - E G||^2), which for a 1 / m variance halves when m quadruples,
- floor: sqrt((1 + n_eff) / m), n_eff = tr(K)^2 / ||K||_F^2 (MATH.md 4c),
- the diagonal ratio mean_s diag(G_s) / diag(K) (truncation at degree p lowers it).

Data: the first ``--n`` digits of ``sklearn.datasets.load_digits`` (8 x 8 x 1, / 16), float64
features (so float32 rounding is not a suspect); ``--padding`` sets PolySketch's padding
(``features.activation.PADDING``). Results: benchmarks/results/
bench_cntk_sketch_noise_<padding>.md.

Run:  .venv/bin/python benchmarks/bench_cntk_sketch_noise.py [--n 12] [--keys 6]
      [--degrees 4 8] [--widths 256 2048] [--padding pass | e1]
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import jax
import numpy as np
from sklearn.datasets import load_digits

from dualcalc import features, nn
from dualcalc.features import activation

RESULTS = Path(__file__).resolve().parent / "results"


def split_error(grams: list[np.ndarray], exact: np.ndarray) -> tuple[float, float, float]:
    """(mean per-key relative error, bias, noise) of Gram matrices against the exact one."""
    scale = np.linalg.norm(exact)
    mean = np.mean(grams, axis=0)
    per_key = np.mean([np.linalg.norm(g - exact) for g in grams]) / scale
    bias = np.linalg.norm(mean - exact) / scale
    spread = sum(np.linalg.norm(g - mean) ** 2 for g in grams) / (len(grams) - 1)
    return float(per_key), float(bias), float(np.sqrt(spread) / scale)


def floor(exact: np.ndarray, m: int) -> float:
    """sqrt((1 + n_eff) / m), n_eff = tr(K)^2 / ||K||_F^2."""
    n_eff = np.trace(exact) ** 2 / np.linalg.norm(exact) ** 2
    return float(np.sqrt((1.0 + n_eff) / m))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--keys", type=int, default=6)
    parser.add_argument("--degrees", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--padding", choices=("pass", "e1"), default=activation.PADDING)
    args = parser.parse_args()
    activation.PADDING = args.padding  # PolySketch padding of every sketched activation
    jax.config.update("jax_enable_x64", True)
    load_before = os.getloadavg()[0]
    x = load_digits().images[: args.n, ..., None] / 16.0
    net = nn.myrtle(5, "relu")
    kernels = net[2](x, None, ("nngp", "ntk"))
    exact = {"nngp": np.asarray(kernels[0]), "ntk": np.asarray(kernels[1])}
    rows = []
    start = time.perf_counter()
    for degree in args.degrees:
        for m in args.widths:
            feature_map = features.myrtle(5, "relu", m=m, key=0, degree=degree)
            apply = jax.jit(feature_map.apply)
            grams: dict[str, list] = {"nngp": [], "ntk": []}
            for seed in range(args.keys):
                params = feature_map.draw(jax.random.PRNGKey(seed), x.shape[1:], np.float64)
                out = apply(params, x)
                for name, f in zip(("nngp", "ntk"), out, strict=True):
                    grams[name].append(np.asarray(f) @ np.asarray(f).T)
            for name in ("nngp", "ntk"):
                per_key, bias, noise = split_error(grams[name], exact[name])
                diag = np.mean(np.diag(np.mean(grams[name], axis=0)) / np.diag(exact[name]))
                rows.append((name, degree, m, per_key, bias, noise, floor(exact[name], m), diag))
                print(*(f"{v:.4f}" if isinstance(v, float) else v for v in rows[-1]), flush=True)
    seconds = time.perf_counter() - start
    header = (
        f"Command: python benchmarks/bench_cntk_sketch_noise.py --n {args.n} --keys {args.keys} "
        f"--degrees {' '.join(map(str, args.degrees))} --widths "
        f"{' '.join(map(str, args.widths))} --padding {args.padding}  "
        f"({datetime.date.today()}, jax {jax.__version__}, "
        f"{seconds:.0f} s; 1-minute load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after: shared CPUs)\n\n"
        "Myrtle-5 relu on the first digits, float64 features; bias = error of the mean Gram over "
        "keys, noise = per-key standard deviation (both relative Frobenius), floor = "
        "sqrt((1 + n_eff) / m), diag = mean over points of mean-over-keys diag(G) / diag(K).\n\n"
        "| kernel | degree | m | per-key error | bias | noise | floor | noise / floor | diag |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    table = "".join(
        f"| {k} | {p} | {m} | {e:.4f} | {b:.4f} | {s:.4f} | {f:.4f} | {s / f:.2f} | {d:.3f} |\n"
        for k, p, m, e, b, s, f, d in rows
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"bench_cntk_sketch_noise_{args.padding}.md").write_text(header + table)
    print(header + table)


if __name__ == "__main__":
    main()

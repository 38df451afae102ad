"""Sketched against exact NTK ridge: time, peak memory and test error; a million rows; cost growth.

Run (default sizes, a few minutes on 2 cores):

    .venv/bin/python benchmarks/bench_scale.py

Full sizes (issue 13's benchmarks 1, 2 and 4), about an hour on the shared 2-core CPU:

    .venv/bin/python benchmarks/bench_scale.py --full

(the same as ``--compare-n 2000 5000 10000 20000 --growth-n 10000 30000 100000 300000
1000000``). ``--replot`` redraws the plots from the saved table without measuring.

Task: x ~ N(0, I_256) in float32, y = teacher(x) + noise, the teacher a random finite network
of the same activation (Dense(512), act, Dense(512), act, Dense(1), NTK parameterisation,
fixed key), the noise 0.1 x the teacher's standard deviation. Rows are drawn in fixed blocks,
so the first n rows are the same for every n. Error: test MSE / Var(y_test).

1. Compare: ``NeuralKernelRidge`` (exact NTK of the same depth-2 network, kernel blocks of 2,000
   points) against ``SketchedKernelRidge`` configurations (``--sketches``: indices into
   ``SKETCHES``). The exact model picks alpha by leave-one-out over 13 values in [1e-4, 1e2] for
   n <= ``--loo-max-n`` (one eigendecomposition of K, cubic with a large constant); at every n it
   is also refitted by Cholesky at the alpha the smallest n chose (the least an exact fit costs
   once alpha is known); the sketched models pick alpha by GCV over the same values. Each
   fit + predict (2,000 test points) runs in a fresh process (compile included; peak memory =
   its VmHWM).
2. and 4. Scale: the training rows are written to a ``numpy.memmap`` (float32, in batches);
   for each n of ``--growth-n`` a fresh process streams the first n rows through
   ``SketchedKernelRidge`` (``--scale-*`` options; alpha grid by GCV): a first fit of one batch
   (compilation), the full fit, predictions for 10,000 test points. The largest n is
   benchmark 2 (target for 10^6: under 10 minutes and 12 GB); the log-log slope of the fit
   time against n is benchmark 4.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fresh_process import load_average, measure, private_catalogue  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BLOCK = 65536  # rows per generated block (one random stream each)
ALPHAS = [float(a) for a in np.logspace(-4, 2, 13)]
COMPARE_HEADER = "| n | model | fit + predict s | peak MiB | test NMSE | speed-up | NMSE vs exact |"
GROWTH_HEADER = "| n | compile + 1 batch s | fit s | predict s | total s | peak MiB | test NMSE |"
#: Sketched configurations of the comparison: (label, method, degree, n_components).
SKETCHES = [
    ("SketchedKernelRidge, PolySketch, degree auto", "polysketch", None, 2048),
    ("SketchedKernelRidge, PolySketch, degree 2", "polysketch", 2, 2048),
    ("SketchedKernelRidge, arc-cosine features", "arccos", None, 2048),
    ("SketchedKernelRidge, arc-cosine features", "arccos", None, 4096),
]


# -- data (imported by the child processes too) ------------------------------------------------


@functools.lru_cache(maxsize=4)
def teacher(activation: str, d: int, seed: int) -> Any:
    """jit(x -> y) of a random finite network of the activation (float32 weights)."""
    import jax
    import jax.numpy as jnp

    from dualcalc import nn

    init_fn, apply_fn, _ = nn.serial(
        nn.Dense(512), nn.Activation(activation), nn.Dense(512), nn.Activation(activation),
        nn.Dense(1),
    )  # fmt: skip
    with jax.enable_x64(True):  # the same draws whether or not the caller enabled float64
        _, params = init_fn(jax.random.PRNGKey(seed), (-1, d))
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    return jax.jit(lambda x: apply_fn(params, x)[:, 0])


def rows(activation: str, d: int, seed: int, stream: int, start: int, stop: int):
    """Rows start..stop of a stream (0: training, 1: test): (x float32, y float64)."""
    f = teacher(activation, d, seed)
    scale = noise_scale(activation, d, seed)
    xs, ys = [], []
    for block in range(start // BLOCK, -(-stop // BLOCK)):
        x, noise = _block(d, seed, stream, block)
        lo, hi = max(start - block * BLOCK, 0), min(stop - block * BLOCK, BLOCK)
        x, noise = x[lo:hi], noise[lo:hi]
        xs.append(x)
        ys.append(np.asarray(f(x), np.float64) + scale * noise)
    return np.concatenate(xs), np.concatenate(ys)


@functools.lru_cache(maxsize=4)
def noise_scale(activation: str, d: int, seed: int) -> float:
    """0.1 x the teacher's standard deviation (on 4,096 rows of a third stream)."""
    x = _block(d, seed, 2, 0)[0][:4096]
    return 0.1 * float(np.std(np.asarray(teacher(activation, d, seed)(x))))


def _block(d: int, seed: int, stream: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, stream, block])
    return rng.standard_normal((BLOCK, d), dtype=np.float32), rng.standard_normal(BLOCK)


def write_memmap(folder: Path, activation: str, d: int, seed: int, n: int) -> tuple[str, str]:
    """Training rows 0..n to x.npy (float32 memmap, written block by block) and y.npy."""
    x_path, y_path = folder / "x.npy", folder / "y.npy"
    x_out = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=(n, d))
    y_out = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.float64, shape=(n,))
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        x_out[start:stop], y_out[start:stop] = rows(activation, d, seed, 0, start, stop)
    x_out.flush()
    y_out.flush()
    del x_out, y_out
    return str(x_path), str(y_path)


def nmse(prediction: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error relative to the variance of the targets."""
    return float(np.mean((prediction - y) ** 2) / np.var(y))


def make_model(spec: dict[str, Any]) -> Any:
    from dualcalc.sklearn import NeuralKernelRidge, SketchedKernelRidge

    common = dict(activation=spec["activation"], depth=2, get="ntk", alpha=spec["alpha"])
    if spec["kind"] == "exact":
        return NeuralKernelRidge(**common, batch_size=2000)
    return SketchedKernelRidge(
        **common,
        n_components=spec["m"],
        degree=spec["degree"],
        method=spec["method"],
        batch_size=spec["batch_size"],
        random_state=0,
    )


# -- child programs ----------------------------------------------------------------------------

COMPARE_CHILD = r"""
import time
import bench_scale as b
x, y = b.rows(SPEC["activation"], SPEC["d"], SPEC["seed"], 0, 0, SPEC["n"])
x_test, y_test = b.rows(SPEC["activation"], SPEC["d"], SPEC["seed"], 1, 0, SPEC["n_test"])
model = b.make_model(SPEC)
start = time.perf_counter()
model.fit(x, y)
fitted = time.perf_counter()
prediction = model.predict(x_test)
done = time.perf_counter()
RESULT.update(
    fit_s=fitted - start, seconds=done - start, nmse=b.nmse(prediction, y_test),
    alpha=model.alpha_,
)
"""

SCALE_CHILD = r"""
import time
import numpy as np
import bench_scale as b
n, batch = SPEC["n"], SPEC["batch_size"]
x = np.load(SPEC["x_path"], mmap_mode="r")[:n]
y = np.load(SPEC["y_path"], mmap_mode="r")[:n]
x_test, y_test = b.rows(SPEC["activation"], SPEC["d"], SPEC["seed"], 1, 0, SPEC["n_test"])
model = b.make_model(SPEC)
start = time.perf_counter()
model.fit(x[:batch], y[:batch])  # compiles the streaming step (one batch of work)
warm = time.perf_counter()
model.fit(x, y)
fitted = time.perf_counter()
prediction = model.predict(x_test)
done = time.perf_counter()
RESULT.update(
    compile_s=warm - start, fit_s=fitted - warm, predict_s=done - fitted, seconds=done - start,
    nmse=b.nmse(prediction, y_test), alpha=model.alpha_,
)
"""


# -- sections ----------------------------------------------------------------------------------


def compare(args: argparse.Namespace, lines: list[str]) -> None:
    base = dict(activation=args.activation, d=args.d, seed=0, n_test=2000)
    _emit(lines, "## 1. Exact NTK ridge against sketched features", "")
    _emit(
        lines,
        f"Depth-2 `{args.activation}` NTK, d = {args.d}, 2,000 test points, float32 inputs "
        "(the exact kernel is computed in float64). Every model picks its alpha from the same "
        "13 values in [1e-4, 1e2]: the exact model by leave-one-out (one eigendecomposition of "
        "K), the sketched ones by GCV (one eigendecomposition of F^T F); the second exact row "
        "refits at the alpha leave-one-out chose at the smallest n, by Cholesky: the least an "
        f"exact fit costs once alpha is known (leave-one-out runs for n <= {args.loo_max_n:,}). "
        "Fresh process per cell, compile included. Speed-up: against the Cholesky row; "
        "NMSE vs exact: relative to the Cholesky row's test NMSE.",
        "",
        COMPARE_HEADER,
        "|---:|---|---:|---:|---:|---:|---:|",
    )
    chosen = None
    for n in args.compare_n:
        exact = None
        if chosen is None or n <= args.loo_max_n:
            exact = measure(COMPARE_CHILD, dict(base, n=n, kind="exact", alpha=ALPHAS), 7200)
            _emit(lines, _compare_row(n, "NeuralKernelRidge, alpha by leave-one-out", exact, None))
            if "error" not in exact and chosen is None:
                chosen = exact["alpha"]
        if chosen is not None:
            spec = dict(base, n=n, kind="exact", alpha=chosen)
            fastest = measure(COMPARE_CHILD, spec, 7200)
            label = f"NeuralKernelRidge, alpha = {chosen:.3g} given (Cholesky)"
            _emit(lines, _compare_row(n, label, fastest, None, exact))
            if "error" not in fastest:
                exact = fastest
        for label, method, degree, m in (SKETCHES[i] for i in args.sketches):
            spec = dict(base, n=n, kind="sketched", alpha=ALPHAS, m=m, method=method)
            spec.update(degree=degree, batch_size=4096)
            result = measure(COMPARE_CHILD, spec, 7200)
            _emit(lines, _compare_row(n, f"{label}, m = {m}", result, exact))


def scale(args: argparse.Namespace, lines: list[str]) -> None:
    n_max = max(args.growth_n)
    base = dict(activation=args.activation, d=args.d, seed=0, n_test=10000)
    degree = args.scale_degree if args.scale_method == "polysketch" else None
    config = dict(
        kind="sketched", m=args.scale_m, method=args.scale_method, degree=degree,
        batch_size=args.scale_batch, alpha=ALPHAS,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        start = time.perf_counter()
        x_path, y_path = write_memmap(Path(folder), args.activation, args.d, 0, n_max)
        written = time.perf_counter() - start
        _emit(lines, "", "## 2 and 4. Streaming from a memmap: a million rows, cost growth", "")
        _emit(
            lines,
            f"SketchedKernelRidge(`{args.activation}`, depth 2, NTK, method={args.scale_method}, "
            + ("" if args.scale_method != "polysketch" else f"degree={degree or 'auto'}, ")
            + f"n_components={args.scale_m}, "
            f"batch_size={args.scale_batch}, "
            f"alpha: 13 values in [1e-4, 1e2] by GCV) on the first n rows of a float32 memmap "
            f"of {n_max:,} x {args.d} ({n_max * args.d * 4 / 2**30:.2f} GiB, written in "
            f"{written:.0f} s, not counted); 10,000 test points; fresh process per row. "
            "'compile + 1 batch' is a first fit of one batch (compilation), 'fit' the full "
            "fit after it, 'total' the three together. Peak memory (VmHWM) counts the memmap's "
            "pages read so far (file-backed, reclaimable): about n x 1 KiB on top of a constant.",
            "",
            GROWTH_HEADER,
            "|---:|---:|---:|---:|---:|---:|---:|",
        )
        for n in args.growth_n:
            spec = dict(base, **config, n=n, x_path=x_path, y_path=y_path)
            result = measure(SCALE_CHILD, spec, 7200)
            _emit(lines, _growth_row(n, result))


def _compare_row(
    n: int, label: str, result: dict, exact: dict | None, loo: dict | None = None
) -> str:
    """One row: speed-up and error against ``exact``; ``loo`` given for the Cholesky row."""
    if "error" in result:
        return f"| {n:,} | {label} | {result['error']} | | | | |"
    cells = [f"{result['seconds']:.1f}", f"{result['peak_mib']:.0f}", f"{result['nmse']:.4f}"]
    if loo is not None and "error" not in loo:
        cells += [f"1x ({loo['seconds'] / result['seconds']:.1f}x the LOO fit's speed)", ""]
    elif loo is not None or (exact is None and "alpha = " in label):
        cells += ["1x", ""]
    elif exact is None or "error" in exact:
        cells += ["", ""]
    else:
        cells.append(f"{exact['seconds'] / result['seconds']:.1f}x")
        cells.append(f"{100 * (result['nmse'] / exact['nmse'] - 1):+.1f}%")
    return f"| {n:,} | {label} | " + " | ".join(cells) + " |"


def _growth_row(n: int, result: dict) -> str:
    if "error" in result:
        return f"| {n:,} | {result['error']} | | | | | |"
    keys = ("compile_s", "fit_s", "predict_s", "seconds")
    cells = [f"{result[k]:.1f}" for k in keys]
    cells += [f"{result['peak_mib']:.0f}", f"{result['nmse']:.4f}"]
    return f"| {n:,} | " + " | ".join(cells) + " |"


def _emit(lines: list[str], *text: str) -> None:
    for line in text:
        print(line, flush=True)
        lines.append(line)


# -- plots -------------------------------------------------------------------------------------


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """The cells of each row of the table under ``header``."""
    lines = markdown.splitlines()
    if header not in lines:
        return []
    out = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def plot(markdown: str) -> list[Path]:
    """bench_scale_compare.png (time against n per model), bench_scale_growth.png (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    compare_rows = table_rows(markdown, COMPARE_HEADER)
    if compare_rows:
        fig, (ax, err) = plt.subplots(1, 2, figsize=(12, 4.5))
        by_model: dict[str, list[tuple[float, float, float]]] = {}
        for cells in compare_rows:
            try:
                point = (_number(cells[0]), float(cells[2]), float(cells[4]))
            except ValueError:
                continue
            by_model.setdefault(cells[1], []).append(point)
        for label, points in by_model.items():
            n, seconds, error = zip(*points, strict=True)
            ax.loglog(n, seconds, "o-", label=label)
            err.semilogx(n, error, "o-", label=label)
        ax.set_xlabel("training points n")
        ax.set_ylabel("fit + predict seconds (2 cores, compile included)")
        err.set_xlabel("training points n")
        err.set_ylabel("test MSE / Var(y)")
        err.legend(fontsize=7)
        for axis in (ax, err):
            axis.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = RESULTS / "bench_scale_compare.png"
        fig.savefig(path, dpi=120)
        written.append(path)
    growth_rows = table_rows(markdown, GROWTH_HEADER)
    points = []
    for cells in growth_rows:
        try:
            points.append((_number(cells[0]), float(cells[2])))
        except ValueError:
            continue
    if len(points) >= 2:
        n, seconds = (np.array(v) for v in zip(*points, strict=True))
        slope, intercept = np.polyfit(np.log(n), np.log(seconds), 1)
        fig, ax = plt.subplots(figsize=(6, 4.5))
        ax.loglog(n, seconds, "o", label="fit time (compiled)")
        grid = np.geomspace(n.min(), n.max(), 50)
        ax.loglog(grid, np.exp(intercept) * grid**slope, "-", label=f"fitted slope {slope:.2f}")
        ax.loglog(grid, seconds[0] * grid / n[0], ":", label="slope 1")
        ax.set_xlabel("training points n (streamed from a memmap)")
        ax.set_ylabel("seconds")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = RESULTS / "bench_scale_growth.png"
        fig.savefig(path, dpi=120)
        written.append(path)
    return written


def growth_slope(markdown: str) -> float | None:
    """Least-squares slope of log(fit s) against log(n)."""
    points = []
    for cells in table_rows(markdown, GROWTH_HEADER):
        try:
            points.append((math.log(_number(cells[0])), math.log(float(cells[2]))))
        except ValueError:
            continue
    if len(points) < 2:
        return None
    x, y = zip(*points, strict=True)
    return float(np.polyfit(x, y, 1)[0])


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes (about an hour)")
    parser.add_argument("--compare-n", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--growth-n", type=int, nargs="+", default=[10000, 30000, 100000])
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--scale-method", default="polysketch")
    parser.add_argument("--scale-degree", type=int, default=2)
    parser.add_argument("--scale-m", type=int, default=1024)
    parser.add_argument("--scale-batch", type=int, default=8192)
    parser.add_argument("--loo-max-n", type=int, default=5000, help="largest n of exact LOO")
    parser.add_argument("--sketches", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_scale.md")
    parser.add_argument("--replot", metavar="FILE", help="redraw the plots from a saved table")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.replot:
        print(plot(Path(args.replot).read_text()))
        return
    if args.full:
        args.compare_n = [2000, 5000, 10000, 20000]
        args.growth_n = [10000, 30000, 100000, 300000, 1000000]
    private_catalogue()
    command = " ".join(["benchmarks/bench_scale.py", *(sys.argv[1:] if argv is None else argv)])
    lines: list[str] = []
    _emit(
        lines,
        f"Command: .venv/bin/python {command}",
        "",
        f"Shared 2-core CPU (load average {load_average()} at the start: other jobs ran "
        "alongside; times are indicative), 24 GB of memory, float64 statistics.",
        "",
    )
    if not args.skip_compare:
        compare(args, lines)
    if not args.skip_scale:
        scale(args, lines)
    text = "\n".join(lines) + "\n"
    slope = growth_slope(text)
    if slope is not None:
        _emit(lines, "", f"Log-log slope of fit time against n: {slope:.2f}.")
        text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    for path in plot(text):
        print(f"plot: {path}")


if __name__ == "__main__":
    main()

"""Myrtle-5 CNTK sketch against the exact CNTK on scikit-learn's 8x8 digits.

Data: ``load_digits().images[..., None] / 16`` (1,797 images, 8 x 8 x 1). Network:
``nn.myrtle(activation, 5)`` (W_std = sqrt(2), b_std = 0). Exact: its ``kernel_fn`` (NNGP and
CNTK, float64) on the first ``--subset`` digits (default 300), timed in this run. The exact time
for all 1,797 digits: the README's network benchmark measured 461 s (relu, idle 2-core CPU,
compilation included); this run also extrapolates it on the same (shared) CPU as the features:
the compilation (first call minus a warm call at n = subset) plus a + b n^2 through warm calls
at n = subset / 2 and n = subset; ``--exact-all`` measures it instead (8 minutes idle for relu).
The speed-up target is judged against the smaller of the two.

Features: ``dualcalc.features.myrtle(activation, 5, m=m)`` (PolySketch, degree from the tail
bound: m = 2^7, 2^8; also degree 4: m = 2^7 .. 2^10; ``--full``: both 2^7 .. 2^11;
``--quick``: both 2^7, 2^8 on 100 digits), float32. Error: relative
Frobenius error of the Gram matrices on the subset (mean over ``--keys`` keys). Time: all 1,797
digits featurized in batches of ``--subset`` rows (one compiled shape), warm; the first call
(compilation) and the first draw are timed separately. Downstream: ridge classification
(``RidgeClassifierCV``, alpha by leave-one-out) on the CNTK features of a fixed split
(1,347 train / 450 test).

Tables: benchmarks/results/bench_cntk_sketch.md; plot: benchmarks/results/bench_cntk_sketch.png.

Run:  .venv/bin/python benchmarks/bench_cntk_sketch.py [--quick | --full] [--exact-all]
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
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifierCV
from sklearn.model_selection import train_test_split

from dualcalc import features, nn

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SPEEDUP = 100.0
README_EXACT_RELU = 461.0  # s, exact Myrtle-5 relu CNTK of all 1,797 digits (README, idle CPU)


def digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return d.images[..., None] / 16.0, d.target


def rel_error(f: np.ndarray, exact: np.ndarray) -> float:
    f = np.asarray(f, np.float64)
    return float(np.linalg.norm(f @ f.T - exact) / np.linalg.norm(exact))


def exact_kernels(activation: str, x: np.ndarray, warm: bool = False) -> tuple[dict, float, float]:
    """NNGP and CNTK of Myrtle-5 on x (float64), the first call's wall time and (``warm``)
    a second call's (nan otherwise)."""
    kernel_fn = nn.myrtle(activation, 5)[2]
    times = []
    for _ in range(2 if warm else 1):
        start = time.perf_counter()
        nngp, ntk = kernel_fn(x, None, ("nngp", "ntk"))
        nngp, ntk = np.asarray(nngp), np.asarray(ntk)
        times.append(time.perf_counter() - start)
    return {"nngp": nngp, "ntk": ntk}, times[0], times[1] if warm else math.nan


def exact_time_all(activation: str, x_all: np.ndarray, subset: int, first: float, warm: float,
                   full: bool):  # fmt: skip
    """(seconds for all digits, how it was obtained)."""
    n_all = len(x_all)
    if full:
        _, t, _ = exact_kernels(activation, x_all)
        return t, "measured (compile included)"
    small = max(subset // 2, 10)
    _, _, t_small = exact_kernels(activation, x_all[:small], warm=True)
    b = max((warm - t_small) / (subset**2 - small**2), 0.0)
    a = max(warm - b * subset**2, 0.0)
    compile_s = max(first - warm, 0.0)
    return (
        compile_s + a + b * n_all**2,
        f"extrapolated: compile {compile_s:.0f} s + a + b n^2 through warm n = {small} "
        f"({t_small:.1f} s), {subset} ({warm:.1f} s)",
    )


def featurize(apply, params, x: np.ndarray, rows: int):
    """Features of all rows of x in batches of ``rows`` (the last one zero-padded)."""
    parts = []
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        padded = np.concatenate([block, np.zeros((rows - len(block),) + x.shape[1:], x.dtype)])
        out = apply(params, padded)
        parts.append([np.asarray(f)[: len(block)] for f in out])
    return [np.concatenate([p[i] for p in parts]) for i in range(2)]


def sketch_run(activation, m, degree, x_all, y_all, subset, exact, keys):
    """Errors on the subset, featurization time of all digits, downstream accuracy."""
    x32 = x_all.astype(np.float32)
    fmap = features.myrtle(activation, 5, m=m, key=jax.random.PRNGKey(0), degree=degree)
    apply = jax.jit(fmap.apply)
    start = time.perf_counter()
    params = jax.block_until_ready(fmap.draw(jax.random.PRNGKey(0), x32.shape[1:], x32.dtype))
    draw = time.perf_counter() - start
    start = time.perf_counter()
    featurize(apply, params, x32[:subset], subset)
    first = time.perf_counter() - start
    errors = []
    for key in range(keys):
        if key:
            params = fmap.draw(jax.random.PRNGKey(key), x32.shape[1:], x32.dtype)
        start = time.perf_counter()
        nngp, ntk = featurize(apply, params, x32[:subset], subset)
        warm_subset = time.perf_counter() - start
        errors.append((rel_error(nngp, exact["nngp"]), rel_error(ntk, exact["ntk"])))
    start = time.perf_counter()
    _, ntk_all = featurize(apply, params, x32, subset)
    warm_all = time.perf_counter() - start
    accuracy = downstream(ntk_all, y_all)
    mean = np.mean(errors, axis=0)
    return {
        "nngp": float(mean[0]),
        "ntk": float(mean[1]),
        "time_all": warm_all,
        "compile": max(first - warm_subset, 0.0),
        "draw": draw,
        "accuracy": accuracy,
        "degrees": fmap.degrees,
    }


def downstream(feats: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of ridge classification on the features (fixed 75 / 25 split)."""
    train_x, test_x, train_y, test_y = train_test_split(
        np.asarray(feats, np.float64), y, test_size=0.25, random_state=0, stratify=y
    )
    model = RidgeClassifierCV(alphas=np.logspace(-6, 2, 17)).fit(train_x, train_y)
    return float(model.score(test_x, test_y))


def n_eff(k: np.ndarray) -> float:
    return float(np.trace(k) ** 2 / np.sum(k * k))


def gaussian_floor(k: np.ndarray, m: int) -> float:
    frob2 = float(np.sum(k * k))
    return math.sqrt((np.trace(k) ** 2 + frob2) / (m * frob2))


def plot(results, exact_all, widths, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, ((act, label), rows) in enumerate(results.items()):
        ms = [m for m in widths if m in rows]
        left.loglog(
            ms, [rows[m]["ntk"] for m in ms], "o-", color=f"C{i}", ms=3, label=f"{act} {label}"
        )
        right.loglog(
            [rows[m]["time_all"] for m in ms],
            [rows[m]["ntk"] for m in ms],
            "o-",
            color=f"C{i}",
            ms=3,
            label=f"{act} {label}",
        )
    for act, (t, _) in exact_all.items():
        right.axvline(t, color="k", ls=":", lw=0.8)
        right.axvline(t / TARGET_SPEEDUP, color="r", ls=":", lw=0.8)
        right.text(t, right.get_ylim()[1], f" exact {act}", fontsize=7, va="top", rotation=90)
    left.set_xlabel("m")
    left.set_ylabel("CNTK relative Frobenius error")
    left.set_title("Myrtle-5 CNTK sketch on digits: error against m")
    right.set_xlabel("featurization of all 1,797 digits (s, warm)")
    right.set_title("error against time (black: exact CNTK, red: exact / 100)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subset 100, m = 2^7, 2^8")
    parser.add_argument("--full", action="store_true", help="m up to 2^11")
    parser.add_argument("--exact-all", action="store_true", help="exact CNTK of all digits")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--activations", default="relu")
    parser.add_argument("--keys", type=int, default=1)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    subset = args.subset or (100 if args.quick else 300)
    top = 8 if args.quick else (11 if args.full else 10)
    widths = [2**k for k in range(7, top + 1)]
    auto_widths = widths if (args.quick or args.full) else [2**7, 2**8]  # degree 16: slow
    x_all, y_all = digits()
    load_before = os.getloadavg()[0]
    results, exact_all, exact_info = {}, {}, {}
    for act in [a.strip() for a in args.activations.split(",") if a.strip()]:
        exact, t_subset, t_warm = exact_kernels(act, x_all[:subset], warm=True)
        t_all, how = exact_time_all(act, x_all, subset, t_subset, t_warm, args.exact_all)
        if act == "relu":  # the README's measurement (idle CPU) when it is the smaller
            how = (
                f"smaller of the README's {README_EXACT_RELU:.0f} s (idle CPU, compile "
                f"included) and this run's {t_all:.0f} s ({how})"
            )
            t_all = min(t_all, README_EXACT_RELU)
        exact_all[act] = (t_all, how)
        exact_info[act] = (t_subset, n_eff(exact["ntk"]), exact["ntk"])
        print(
            f"{act}: exact {subset} digits {t_subset:.1f} s; all: {t_all:.0f} s ({how})",
            file=sys.stderr,
            flush=True,
        )
        for label, degree in (("auto degree", None), ("degree 4", 4)):
            rows = {}
            for m in auto_widths if degree is None else widths:
                start = time.perf_counter()
                rows[m] = r = sketch_run(act, m, degree, x_all, y_all, subset, exact, args.keys)
                print(
                    f"  {label} m={m}: NTK {r['ntk']:.3f} all {r['time_all']:.1f} s "
                    f"({time.perf_counter() - start:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            results[act, label] = rows
    load_after = os.getloadavg()[0]
    command = "python benchmarks/bench_cntk_sketch.py " + " ".join(argv or sys.argv[1:])
    lines = [
        f"Command: {command.strip()}  (cpu: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"jax {jax.__version__}, {datetime.date.today()})",
        "",
        f"Myrtle-5 on digits (8x8x1, / 16). Exact kernels on the first {subset} digits; "
        f"features float32, {args.keys} key(s); 1-minute load average {load_before:.1f} "
        f"before and {load_after:.1f} after (other jobs share the CPUs: times are indicative).",
        "",
        "| activation | exact CNTK, subset (s) | exact CNTK, all 1,797 (s) | how "
        "| n_eff (subset) |",
        "|---|---:|---:|---|---:|",
    ]
    for act, (t_all, how) in exact_all.items():
        t_sub, ne, _ = exact_info[act]
        lines.append(f"| {act} | {t_sub:.1f} | {t_all:.0f} | {how} | {ne:.1f} |")
    lines += [
        "",
        "Error on the subset (NNGP / CNTK relative Frobenius error), featurization of all 1,797 "
        "digits (s, warm), speed-up = exact all / featurization (in brackets: with the first "
        "call's compilation and the first draw added), ridge test accuracy on the CNTK "
        "features (450 test digits). Floor: Gaussian sketch of exact CNTK features.",
        "",
        "| activation | degree | m | degrees | NNGP / CNTK error | floor | featurize all (s) "
        "| compile + draw (s) | speed-up | test accuracy |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (act, label), rows in results.items():
        t_all = exact_all[act][0]
        k = exact_info[act][2]
        for m, r in rows.items():
            cold = r["time_all"] + r["compile"] + r["draw"]
            lines.append(
                f"| {act} | {label} | {m} | {', '.join(map(str, r['degrees']))} | "
                f"{r['nngp']:.3f} / {r['ntk']:.3f} | {gaussian_floor(k, m):.3f} | "
                f"{r['time_all']:.1f} | {r['compile']:.0f} + {r['draw']:.0f} | "
                f"{t_all / r['time_all']:.0f}x ({t_all / cold:.0f}x) | {r['accuracy']:.4f} |"
            )
    lines += ["", f"Target: >= {TARGET_SPEEDUP:.0f}x faster than the exact CNTK (all digits):", ""]
    for (act, label), rows in results.items():
        t_all = exact_all[act][0]
        best = max(rows, key=lambda m: t_all / rows[m]["time_all"])
        fast = [m for m in rows if t_all / rows[m]["time_all"] >= TARGET_SPEEDUP]
        if fast:
            m = max(fast)
            verdict = (
                f"met for m <= {m} (warm featurization; CNTK error {rows[m]['ntk']:.3f}, "
                f"{t_all / rows[m]['time_all']:.0f}x)"
            )
        else:
            verdict = (
                f"MISSED: best {t_all / rows[best]['time_all']:.0f}x at m = {best} "
                f"(CNTK error {rows[best]['ntk']:.3f})"
            )
        lines.append(f"- {act}, {label}: {verdict}")
    if "relu" in exact_all:
        lines.append(
            f"- For reference, the README's network benchmark measured the exact relu CNTK of "
            f"all 1,797 digits at {README_EXACT_RELU:.0f} s (compile included)."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_cntk_sketch.md").write_text(text)
        plot(results, exact_all, widths, RESULTS / "bench_cntk_sketch.png")


if __name__ == "__main__":
    main()

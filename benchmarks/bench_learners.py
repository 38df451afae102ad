"""Activations compared as exact neural kernels on scikit-learn's bundled data sets.

Run:  .venv/bin/python benchmarks/bench_learners.py [--depth 2] [--out PATH]

Data (shipped with scikit-learn, no download): digits (1797 x 64, 10 classes), breast_cancer
(569 x 30, 2 classes), wine (178 x 13, 3 classes), diabetes (442 x 10, regression). Each is split
75 / 25 (stratified for classes, fixed seed), inputs standardised on the training part (and the
diabetes targets centred and scaled, since kernel ridge has no intercept). Models:
NeuralKernelClassifier / NeuralKernelRidge with depth hidden layers, alpha chosen by exact
leave-one-out on a grid of 25 values (one eigendecomposition), NTK and NNGP, for relu, gelu,
tanh, silu, erf and a custom activation; a linear ridge with the same alpha grid
(RidgeClassifierCV / RidgeCV) as the baseline. Metric: test accuracy (classes) or test R^2.

Sketched rows: the same kernels through ``n_components`` PolySketch features (degree chosen per
layer; the network and feature map of ``NeuralKernelFeatures``), then ``RidgeClassifierCV`` /
``RidgeCV`` without intercept (efficient leave-one-out over the same alphas). ``--exact-from
FILE`` reuses the exact rows of a saved table instead of recomputing them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from fresh_process import load_average, private_catalogue
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from dualcalc.learn.sketched import FCSketch
from dualcalc.sklearn import NeuralKernelClassifier, NeuralKernelRidge

ACTIVATIONS = ["relu", "gelu", "tanh", "silu", "erf", "x*exp(-x**2/2)"]
KERNELS = ["ntk", "nngp"]
ALPHAS = np.logspace(-5, 3, 25)
DATASETS = {
    "digits": (load_digits, "classification"),
    "breast_cancer": (load_breast_cancer, "classification"),
    "wine": (load_wine, "classification"),
    "diabetes": (load_diabetes, "regression"),
}
RESULTS = Path(__file__).parent / "results" / "bench_learners.md"


def split(name: str) -> tuple[np.ndarray, ...]:
    """Standardised 75 / 25 split (targets standardised too for regression)."""
    loader, task = DATASETS[name]
    x, y = loader(return_X_y=True)
    stratify = y if task == "classification" else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=stratify
    )
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    if task == "regression":
        mean, std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mean) / std, (y_te - mean) / std
    return x_tr, x_te, y_tr, y_te


def score(model, data: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
    """(test score, chosen alpha, fit + predict seconds)."""
    x_tr, x_te, y_tr, y_te = data
    start = time.perf_counter()
    model.fit(x_tr, y_tr)
    value = model.score(x_te, y_te)
    return value, float(model.alpha_), time.perf_counter() - start


def exact_rows(name: str, depth: int) -> list[tuple[str, list[str]]]:
    """One row per kernel: the score of each activation (alpha chosen by leave-one-out)."""
    data = split(name)
    task = DATASETS[name][1]
    estimator = NeuralKernelClassifier if task == "classification" else NeuralKernelRidge
    rows = []
    for kernel in KERNELS:
        cells = []
        for activation in ACTIVATIONS:
            model = estimator(activation, depth=depth, get=kernel, alpha=ALPHAS)
            value, alpha, seconds = score(model, data)
            cells.append(f"{value:.3f} ({seconds:.0f} s)")
            print(f"{name} {kernel} {activation}: {value:.4f} alpha={alpha:.2g} {seconds:.1f}s")
        rows.append((f"{kernel.upper()} exact", cells))
    return rows


def sketched_rows(name: str, depth: int, m: int) -> list[tuple[str, list[str]]]:
    """One row per kernel: the score of each activation through m sketched features.

    One PolySketch pass per activation gives both the NNGP and the NTK features (the network
    and draws of ``NeuralKernelFeatures(activation, depth, n_components=m)``); each kernel's
    time is that pass plus its own ridge.
    """
    x_tr, x_te, y_tr, y_te = split(name)
    task = DATASETS[name][1]
    cells: dict[str, list[str]] = {kernel: [] for kernel in KERNELS}
    for activation in ACTIVATIONS:
        sketch = FCSketch(activation, depth, 1.0, 0.0, m)
        start = time.perf_counter()
        both = np.concatenate([x_tr, x_te])
        found = sketch.feature_map()(both, batch_size=1024, progress=False, get=tuple(KERNELS))
        phi = dict(zip(KERNELS, found, strict=True))
        feature_s = time.perf_counter() - start
        for kernel in KERNELS:
            f = phi[kernel]
            start = time.perf_counter()
            if task == "classification":
                model = RidgeClassifierCV(alphas=ALPHAS, fit_intercept=False)
            else:
                model = RidgeCV(alphas=ALPHAS, fit_intercept=False)
            value = model.fit(f[: len(x_tr)], y_tr).score(f[len(x_tr) :], y_te)
            seconds = feature_s + time.perf_counter() - start
            cells[kernel].append(f"{value:.3f} ({seconds:.0f} s)")
            print(f"{name} sketched {kernel} {activation}: {value:.4f} {seconds:.1f}s", flush=True)
    return [(f"{kernel.upper()} sketched, m = {m}", cells[kernel]) for kernel in KERNELS]


def saved_rows(path: Path, name: str) -> list[tuple[str, list[str]]]:
    """The exact rows of data set ``name`` from a saved table, numbers rounded as here."""
    section = path.read_text().split(f"### {name}:")[1].split("###")[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[0].endswith("exact"):
            rows.append((cells[0], [_rounded(c) for c in cells[1:] if c]))
    return rows


def _rounded(cell: str) -> str:
    value, seconds = cell.replace("(", "").replace(" s)", "").split()
    return f"{float(value):.3f} ({float(seconds):.0f} s)"


def baseline_row(name: str) -> list[tuple[str, list[str]]]:
    """Linear ridge with the same alpha grid."""
    data = split(name)
    task = DATASETS[name][1]
    linear = RidgeClassifierCV(alphas=ALPHAS) if task == "classification" else RidgeCV(ALPHAS)
    value, _, seconds = score(linear, data)
    return [("linear ridge (baseline, any activation)", [f"{value:.3f} ({seconds:.0f} s)"])]


def table(name: str, rows: list[tuple[str, list[str]]]) -> str:
    metric = "accuracy" if DATASETS[name][1] == "classification" else "R^2"
    head = "| model | " + " | ".join(f"`{a}`" for a in ACTIVATIONS) + " |"
    lines = [f"### {name}: test {metric} (fit + predict time)", "", head]
    lines.append("|---|" + "---:|" * len(ACTIVATIONS))
    for label, cells in rows:
        cells = cells + [""] * (len(ACTIVATIONS) - len(cells))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(markdown: str, path: Path) -> Path:
    """One panel per data set: grouped bars per activation, one bar per model row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = markdown.split("### ")[1:]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    for ax, section in zip(axes.flat, sections, strict=False):
        title = section.splitlines()[0]
        rows = [r for r in section.splitlines() if r.startswith("| ") and "---" not in r][1:]
        models = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
        bars = [m for m in models if not m[0].startswith("linear")]
        width = 0.8 / len(bars)
        for i, cells in enumerate(bars):
            values = [float(c.split()[0]) if c else np.nan for c in cells[1:]]
            x = np.arange(len(values)) + (i - (len(bars) - 1) / 2) * width
            ax.bar(x, values, width, label=cells[0])
        for cells in models:
            if cells[0].startswith("linear"):
                ax.axhline(float(cells[1].split()[0]), color="k", ls=":", label="linear ridge")
        finite = [float(c.split()[0]) for m in models for c in m[1:] if c]
        ax.set_ylim(min(finite) - 0.02, max(finite) + 0.01)
        ax.set_xticks(np.arange(len(ACTIVATIONS)), ACTIVATIONS, fontsize=7)
        ax.set_title(title.split(" (")[0], fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--n-components", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--exact-from", type=Path, help="reuse the exact rows of a saved table")
    parser.add_argument("--replot", type=Path, help="redraw the plot from a saved table")
    args = parser.parse_args()
    if args.replot:
        print(plot(args.replot.read_text(), args.replot.with_suffix(".png")))
        return
    private_catalogue()
    sections = [
        f"Command: .venv/bin/python benchmarks/bench_learners.py --depth {args.depth} "
        f"--n-components {args.n_components}"
        + (f" --exact-from {args.exact_from}" if args.exact_from else ""),
        "",
        f"Shared 2-core CPU, load average {load_average()} at the start (other jobs ran "
        "alongside: times are indicative and include compilation).",
        "",
        f"Kernels of depth-{args.depth} fully connected networks, exact (alpha by leave-one-out "
        "over 25 values in [1e-5, 1e3]) and sketched (PolySketch, degree chosen per layer, "
        f"m = {args.n_components} features, the same alpha grid)."
        + (" Exact rows: from the saved table (same code and data)." if args.exact_from else ""),
    ]
    for name in DATASETS:
        if args.exact_from:
            rows = saved_rows(args.exact_from, name)
        else:
            rows = exact_rows(name, args.depth)
        rows += sketched_rows(name, args.depth, args.n_components)
        sections += ["", table(name, rows + baseline_row(name))]
    text = "\n".join(sections) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"plot: {plot(text, args.out.with_suffix('.png'))}")


if __name__ == "__main__":
    main()

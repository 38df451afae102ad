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

Sketched kernels (issue 13's NeuralKernelFeatures / SketchedKernelRidge) are not here yet:
they add one table per data set of the same layout, "sketched, n_components = ...", beside the
exact one, plus time columns; they go where ``main`` marks it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

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
            model = estimator(activation, depth=depth, kernel=kernel, alpha=ALPHAS)
            value, alpha, seconds = score(model, data)
            cells.append(f"{value:.4f} ({seconds:.1f} s)")
            print(f"{name} {kernel} {activation}: {value:.4f} alpha={alpha:.2g} {seconds:.1f}s")
        rows.append((f"{kernel.upper()} exact", cells))
    linear = RidgeClassifierCV(alphas=ALPHAS) if task == "classification" else RidgeCV(ALPHAS)
    value, _, seconds = score(linear, data)
    rows.append(("linear ridge (baseline, any activation)", [f"{value:.4f} ({seconds:.1f} s)"]))
    return rows


def table(name: str, rows: list[tuple[str, list[str]]]) -> str:
    metric = "accuracy" if DATASETS[name][1] == "classification" else "R^2"
    head = "| model | " + " | ".join(f"`{a}`" for a in ACTIVATIONS) + " |"
    lines = [f"### {name}: test {metric} (fit + predict time)", "", head]
    lines.append("|---|" + "---:|" * len(ACTIVATIONS))
    for label, cells in rows:
        cells = cells + [""] * (len(ACTIVATIONS) - len(cells))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sections = [
        f"Command: .venv/bin/python benchmarks/bench_learners.py --depth {args.depth} "
        "(2-core shared CPU; times include compilation)",
        "",
        f"Exact kernels of depth-{args.depth} fully connected networks, alpha by leave-one-out "
        "over 25 values in [1e-5, 1e3]. Sketched columns: to come (SketchedKernelRidge).",
    ]
    for name in DATASETS:
        rows = exact_rows(name, args.depth)
        # Sketched rows (SketchedKernelRidge, NTK and NNGP, same activations) are appended here
        # once dualcalc.features lands.
        sections += ["", table(name, rows)]
    text = "\n".join(sections) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()

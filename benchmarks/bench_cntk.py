"""Digits with the Myrtle-5 CNTK: exact kernel ridge against ridge on sketched features.

Run (all 1,797 digits: the exact CNTK alone takes about 8 minutes on 2 idle cores):

    .venv/bin/python benchmarks/bench_cntk.py [--n 1797] [--m 1024 4096] [--batch 32]

The sketched features of a batch hold every pixel's Hermite blocks (a batch of 32 images at
m = 1,024 peaks near 6 GB): keep ``--batch`` small for large m.

Data: the first ``--n`` scikit-learn digits as 8 x 8 x 1 images (pixels / 16), split 75 / 25
(stratified, fixed seed). Models, each in a fresh process (compile included, peak memory = its
VmHWM): the exact Myrtle-5 ReLU CNTK (``nn.myrtle("relu", 5)``, blocks of 64 images) of all
points, then kernel ridge on one-hot +-1 targets with alpha chosen by exact leave-one-out
(``dualcalc.learn.ridge_path.fit_ridge``, one eigendecomposition); and PolySketch NTK features
(``features.myrtle("relu", 5, m=m)``, degree chosen per layer) followed by
``RidgeClassifierCV(fit_intercept=False)`` (efficient leave-one-out) over the same 25 alphas.
Writes ``--out`` (default ``results/bench_cntk.md``) and the plot beside it (``.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fresh_process import load_average, measure, private_catalogue  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HEADER = "| model | n_train / n_test | accuracy | fit + predict s | peak MiB | speed-up | lost |"

CHILD = r"""
import time
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
digits = load_digits()
x = (digits.images[: SPEC["n"]] / 16.0)[..., None]
y = digits.target[: SPEC["n"]]
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
alphas = np.logspace(-5, 3, 25)
start = time.perf_counter()
if SPEC["kind"] == "exact":
    from dualcalc import nn
    from dualcalc.learn.ridge_path import fit_ridge
    kernel_fn = nn.myrtle("relu", 5)[2]
    both = np.concatenate([x_tr, x_te])
    k = np.asarray(kernel_fn(both, None, "ntk", batch_size=64))
    kernel_s = time.perf_counter() - start
    n = len(x_tr)
    targets = np.where(y_tr[:, None] == np.arange(10), 1.0, -1.0)
    fit = fit_ridge(k[:n, :n], targets, alphas)
    predicted = np.argmax(k[n:, :n] @ fit.dual_coef, axis=1)
    alpha = fit.alpha
else:
    import jax
    from sklearn.linear_model import RidgeClassifierCV
    from dualcalc import features
    feature_map = features.myrtle("relu", 5, m=SPEC["m"], key=jax.random.PRNGKey(0))
    both = np.concatenate([x_tr, x_te])
    f = feature_map(both, batch_size=SPEC["batch"], progress=False, get="ntk")
    kernel_s = time.perf_counter() - start
    model = RidgeClassifierCV(alphas=alphas, fit_intercept=False).fit(f[: len(x_tr)], y_tr)
    predicted = model.predict(f[len(x_tr):])
    alpha = model.alpha_
RESULT.update(
    seconds=time.perf_counter() - start, kernel_s=kernel_s, alpha=float(alpha),
    accuracy=float(np.mean(predicted == y_te)), n_train=len(x_tr), n_test=len(x_te),
)
"""


def row(label: str, result: dict, exact: dict | None) -> str:
    if "error" in result:
        return f"| {label} | | {result['error']} | | | | |"
    cells = [
        f"{result['n_train']} / {result['n_test']}",
        f"{result['accuracy']:.3f}",
        f"{result['seconds']:.0f} (kernel or features: {result['kernel_s']:.0f})",
        f"{result['peak_mib']:.0f}",
    ]
    if exact is result:
        cells += ["1x", ""]
    elif exact is None or "error" in exact:
        cells += ["", ""]
    else:
        ratio = exact["seconds"] / result["seconds"]
        cells.append(f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x")
        cells.append(f"{100 * (exact['accuracy'] - result['accuracy']):+.1f} points")
    return f"| {label} | " + " | ".join(cells) + " |"


def plot(results: list[tuple[str, dict]], path: Path) -> Path:
    """Accuracy against fit + predict seconds, one point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, result in results:
        if "error" not in result:
            ax.semilogx(result["seconds"], result["accuracy"], "o", label=label)
    ax.set_xlabel("fit + predict seconds (2 shared cores, compile included)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Digits, Myrtle-5 ReLU CNTK: exact against sketched")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1797, help="first n digits (at most 1797)")
    parser.add_argument("--m", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--batch", type=int, default=32, help="images per feature batch")
    parser.add_argument("--skip-exact", action="store_true", help="sketched rows only")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_cntk.md")
    args = parser.parse_args(argv)
    private_catalogue()
    command = " ".join(["benchmarks/bench_cntk.py", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        f"Command: .venv/bin/python {command}",
        "",
        f"Shared 2-core CPU, load average {load_average()} at the start (other jobs ran "
        f"alongside: times are indicative). First {args.n} scikit-learn digits, 8 x 8 images, "
        "75 / 25 stratified split; fresh process per model, compile included. Speed-up and "
        "accuracy lost: against the exact row.",
        "",
        HEADER,
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    results = []
    exact = None
    if not args.skip_exact:
        exact = measure(CHILD, dict(kind="exact", n=args.n), 7200)
        results.append(("exact CNTK, kernel ridge (LOO alpha)", exact))
        lines.append(row(results[0][0], exact, exact))
        print(lines[-1], flush=True)
    for m in args.m:
        label = f"PolySketch CNTK features, m = {m}, ridge (LOO alpha)"
        spec = dict(kind="sketched", n=args.n, m=m, batch=args.batch)
        result = measure(CHILD, spec, 7200)
        results.append((label, result))
        lines.append(row(label, result, exact))
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"plot: {plot(results, args.out.with_suffix('.png'))}")


if __name__ == "__main__":
    main()

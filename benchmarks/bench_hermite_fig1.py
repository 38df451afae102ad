"""Han et al. 2022, Fig. 1: truncated Hermite dual kernels against Monte Carlo random features.

Data: n = 1000 points in d = 256, x ~ N(0, I / d) ("unit": norms about 1), and the same
directions with norms spread uniformly over [0.3, 3] ("spread"). Kernel: the dual activation
K(x, y) = E_w[s(<w, x>) s(<w, y>)], w ~ N(0, I_d), i.e. K(q_x, q_y, c) with q_x = |x|^2 and
c = <x, y> (one Dense(W_std = sqrt(d)) -> Activation layer).

- Exact: the generated module's ``nngp`` (closed form), or for the Hermite-route activations
  (tanh, silu) Mehler's series at the module's degree (128) with each point's own
  coefficients and the 1-D quadrature ``nngp_edges`` on the diagonal. A few entries per
  activation are checked against the independent 2-D quadrature oracle
  (``dualcalc.derivation.quadrature.dual_kernel_oracle``); the largest deviation is printed.
- Hermite (degree p = 1..20): K_p(x, y) = sum_(k <= p) a_k(q_x) a_k(q_y) rho^k with the exact
  per-variance coefficients ``module.hermite(q, p)``. Timed: the Gram matrix X X^T, the
  coefficients of all n variances and the sum (Horner in rho), float64, one compiled function
  per degree (compilation timed separately).
- Monte Carlo (widths m = 2^5 .. 2^16): K ~ (1/m) s(X W) s(X W)^T, W ~ N(0, 1) (d x m), drawn
  inside the timed function; float32 (its fastest setting; its errors are far above float32
  rounding).

Error: relative Frobenius error ||K_approx - K|| / ||K||. "Equal time": the Monte Carlo error
interpolated (log-log) at the time the Hermite sum of degree 20 takes; when that time is below
the fastest Monte Carlo run, the fastest run's error is used (which favours Monte Carlo).

Tables: benchmarks/results/bench_hermite_fig1.md; plot: benchmarks/results/bench_hermite_fig1.png.

Run:  .venv/bin/python benchmarks/bench_hermite_fig1.py            (n = 1000, widths to 2^16)
      .venv/bin/python benchmarks/bench_hermite_fig1.py --quick    (n = 300, widths to 2^12)
"""

from __future__ import annotations

import argparse
import datetime
import functools
import math
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import dualcalc
from dualcalc.derivation.quadrature import dual_kernel_oracle
from dualcalc.expression.parser import parse

jax.config.update("jax_enable_x64", True)

RESULTS = Path(__file__).resolve().parent / "results"
ACTIVATIONS = ("relu", "abs", "sin", "gaussian", "erf", "gelu", "tanh", "silu")
DEGREES = tuple(range(1, 21))
SHOWN_DEGREES = (1, 2, 4, 8, 12, 16, 20)
TARGET_DEGREE_ERROR = 1e-6  # at degree 20, for gelu, gaussian and sin (the target)
TARGET_RATIO = 10.0  # Monte Carlo error / Hermite error at equal time


def data(n: int, d: int, spread: bool, seed: int = 0) -> np.ndarray:
    """x ~ N(0, I / d); with ``spread`` the same directions with norms uniform on [0.3, 3]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) / math.sqrt(d)
    if spread:
        x = x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.3, 3.0, (n, 1))
    return x


def rel_error(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def timed(fn, *args, repeats: int) -> tuple[float, float, object]:
    """(best wall time of ``repeats`` warm runs, first-call time (compilation), result)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best, first, out


def exact_kernel(module, x: np.ndarray) -> np.ndarray:
    """K(q_x, q_y, <x, y>) on all pairs, float64 (see the module docstring)."""
    gram = x @ x.T
    q = np.diag(gram).copy()
    if module.CLOSED_FORM:
        return np.asarray(module.nngp(q[:, None], q[None, :], gram))
    a = np.asarray(module.hermite(q))  # the module's own degree (128)
    rho = np.clip(gram / np.sqrt(np.outer(q, q)), -1.0, 1.0)
    k = np.zeros_like(gram)
    for j in range(a.shape[1] - 1, -1, -1):  # Horner in rho
        k = k * rho + np.outer(a[:, j], a[:, j])
    np.fill_diagonal(k, np.asarray(module.nngp_edges(q)[0]))
    return k


def oracle_deviation(name: str, x: np.ndarray, exact: np.ndarray, pairs: int) -> float:
    """Largest relative deviation of ``exact`` from 2-D quadrature on ``pairs`` entries
    (the first two on the diagonal), relative to sqrt(K(x, x) K(y, y))."""
    act = parse(name)
    rng = np.random.default_rng(1)
    n = len(x)
    worst = 0.0
    for t in range(pairs):
        i, j = (int(v) for v in rng.integers(0, n, 2))
        if t < 2:
            j = i
        qi, qj, c = float(x[i] @ x[i]), float(x[j] @ x[j]), float(x[i] @ x[j])
        scale = math.sqrt(abs(exact[i, i] * exact[j, j]))
        worst = max(worst, abs(dual_kernel_oracle(act, qi, qj, c) - exact[i, j]) / scale)
    return worst


@functools.partial(jax.jit, static_argnums=(0, 2))
def hermite_kernel(hermite, x, degree: int):
    """sum_(k <= degree) a_k(q_x) a_k(q_y) rho^k from the inputs (Gram, coefficients, sum)."""
    gram = x @ x.T
    q = jnp.diagonal(gram)
    a = hermite(q, degree)
    root = jnp.sqrt(q)
    rho = jnp.clip(gram / (root[:, None] * root[None, :]), -1.0, 1.0)
    k = jnp.outer(a[:, degree], a[:, degree])
    for j in range(degree - 1, -1, -1):
        k = k * rho + jnp.outer(a[:, j], a[:, j])
    return k


@functools.partial(jax.jit, static_argnums=(0, 3))
def monte_carlo_kernel(activation, key, x, width: int):
    """(1 / m) s(X W) s(X W)^T, W ~ N(0, 1) of shape (d, m) drawn here."""
    w = jax.random.normal(key, (x.shape[1], width), x.dtype)
    f = activation(x @ w)
    return (f @ f.T) / width


def run_activation(name: str, x: np.ndarray, widths, pairs: int, repeats: int) -> dict:
    module = dualcalc.load(name)
    exact = exact_kernel(module, x)
    deviation = oracle_deviation(name, x, exact, pairs) if pairs else float("nan")
    hermite = {}
    compile_h = 0.0
    xj = jnp.asarray(x)
    for p in DEGREES:
        best, first, k = timed(hermite_kernel, module.hermite, xj, p, repeats=2 * repeats)
        hermite[p] = (rel_error(np.asarray(k), exact), best)
        compile_h += first - best
    mc = {}
    compile_mc = 0.0
    x32 = jnp.asarray(x, jnp.float32)
    for m in widths:
        key = jax.random.PRNGKey(m)
        reps = repeats if m <= 2**13 else 1
        best, first, k = timed(monte_carlo_kernel, module.activation, key, x32, m, repeats=reps)
        mc[m] = (rel_error(np.asarray(k, np.float64), exact), best)
        compile_mc += max(first - best, 0.0)
    return {
        "hermite": hermite,
        "mc": mc,
        "deviation": deviation,
        "compile": (compile_h, compile_mc),
    }


def mc_error_at(mc: dict, t: float) -> float:
    """Monte Carlo error at wall time t: log-log interpolation on its (time, error) points
    (the fastest run's error when t is below every Monte Carlo time)."""
    points = sorted((time_, err) for err, time_ in mc.values())
    times = np.log([p[0] for p in points])
    errors = np.log([p[1] for p in points])
    if t <= points[0][0]:
        return points[0][1]
    order = np.argsort(times)
    return float(np.exp(np.interp(math.log(t), times[order], errors[order])))


def tables(results: dict, widths, label: str) -> list[str]:
    top = max(DEGREES)
    lines = [
        f"**{label}**: relative Frobenius error of the Hermite sum (degree p) and of Monte "
        "Carlo (width m); times are warm wall times.",
        "",
        "| activation | "
        + " | ".join(f"p = {p}" for p in SHOWN_DEGREES)
        + f" | time p = {top} (ms) | MC m = 2^{int(math.log2(widths[-1]))} | its time (s) "
        f"| MC at p = {top}'s time | ratio |",
        "|---|" + "---:|" * (len(SHOWN_DEGREES) + 5),
    ]
    for name, r in results.items():
        h, mc = r["hermite"], r["mc"]
        err_top, t_top = h[top]
        mc_same = mc_error_at(mc, t_top)
        cells = [f"{h[p][0]:.1e}" for p in SHOWN_DEGREES]
        last_err, last_t = mc[widths[-1]]
        cells += [
            f"{1e3 * t_top:.1f}",
            f"{last_err:.1e}",
            f"{last_t:.2f}",
            f"{mc_same:.1e}",
            f"{mc_same / err_top:.1e}",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Monte Carlo, {label}: error / warm time (ms) per width.",
        "",
        "| activation | " + " | ".join(f"2^{int(math.log2(m))}" for m in widths) + " |",
        "|---|" + "---:|" * len(widths),
    ]
    for name, r in results.items():
        cells = [f"{r['mc'][m][0]:.1e} / {1e3 * r['mc'][m][1]:.3g}" for m in widths]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Hermite, {label}: warm time (ms) per degree; exact kernel checked against 2-D "
        "quadrature (max deviation relative to sqrt(K(x,x) K(y,y))); compilation (s) of the "
        "20 Hermite functions / of the Monte Carlo functions (measured on the first data set; "
        "the second reuses them).",
        "",
        "| activation | " + " | ".join(f"p = {p}" for p in SHOWN_DEGREES) + " | oracle dev. "
        "| compile H / MC (s) |",
        "|---|" + "---:|" * (len(SHOWN_DEGREES) + 2),
    ]
    for name, r in results.items():
        cells = [f"{1e3 * r['hermite'][p][1]:.2f}" for p in SHOWN_DEGREES]
        ch, cm = r["compile"]
        compiled = f"{ch:.1f} / {cm:.1f}" if ch > 0.5 else "(reused)"
        cells += [f"{r['deviation']:.1e}", compiled]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def targets(all_results: dict) -> list[str]:
    top = max(DEGREES)
    unit = all_results["unit"]
    lines = ["Targets:", ""]
    for name in ("gelu", "gaussian", "sin"):
        err = unit[name]["hermite"][top][0]
        ok = "met" if err <= TARGET_DEGREE_ERROR else "MISSED"
        spread = all_results.get("spread", {}).get(name)
        extra = f" (spread norms: {spread['hermite'][top][0]:.1e})" if spread else ""
        lines.append(
            f"- Hermite error <= {TARGET_DEGREE_ERROR:.0e} at degree {top}, {name}: "
            f"{err:.1e}{extra}: {ok}"
        )
    for label, results in all_results.items():
        ratios = {}
        for name, r in results.items():
            err_top, t_top = r["hermite"][top]
            ratios[name] = mc_error_at(r["mc"], t_top) / err_top
        worst = min(ratios, key=ratios.get)
        ok = "met" if ratios[worst] >= TARGET_RATIO else "MISSED"
        lines.append(
            f"- {label}: Monte Carlo error / Hermite error at equal time (degree {top}) >= "
            f"{TARGET_RATIO:.0f} for all eight: smallest {ratios[worst]:.1e} ({worst}): {ok}"
        )
    return lines


def plot(all_results: dict, widths, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(all_results), 2, figsize=(12, 4.6 * len(all_results)))
    axes = np.atleast_2d(axes)
    colors = plt.get_cmap("tab10")
    for row, (label, results) in enumerate(all_results.items()):
        left, right = axes[row]
        for i, (name, r) in enumerate(results.items()):
            c = colors(i)
            errs = [max(r["hermite"][p][0], 1e-17) for p in DEGREES]
            left.semilogy(DEGREES, errs, "o-", color=c, ms=3, label=name)
            times = [r["hermite"][p][1] for p in DEGREES]
            right.loglog(times, errs, "o", color=c, ms=3, label=f"{name} Hermite")
            mc_t = [r["mc"][m][1] for m in widths]
            mc_e = [r["mc"][m][0] for m in widths]
            right.loglog(mc_t, mc_e, "s--", color=c, ms=3, alpha=0.8)
        left.set_xlabel("Hermite degree p")
        left.set_ylabel("relative Frobenius error")
        left.set_title(f"{label}: truncated Hermite dual kernel")
        left.grid(True, which="major", alpha=0.3)
        left.legend(fontsize=7, ncol=2)
        right.set_xlabel("wall time (s)")
        right.set_ylabel("relative Frobenius error")
        right.set_title(f"{label}: Hermite (dots, p = 1..20) vs Monte Carlo (dashed)")
        right.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 300, widths 2^5..2^12")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--max-width-log2", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--check", type=int, default=6, help="oracle entries per activation")
    parser.add_argument("--activations", default=",".join(ACTIVATIONS))
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 1000)
    top_width = args.max_width_log2 or (12 if args.quick else 16)
    widths = [2**k for k in range(5, top_width + 1)]
    names = [a.strip() for a in args.activations.split(",") if a.strip()]
    load_before = os.getloadavg()[0]
    all_results = {}
    for label, spread in (("unit", False), ("spread", True)):
        x = data(n, args.d, spread)
        results = {}
        for name in names:
            start = time.perf_counter()
            results[name] = run_activation(name, x, widths, args.check, args.repeats)
            print(f"[{label}] {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        all_results[label] = results
    load_after = os.getloadavg()[0]
    command = "python benchmarks/bench_hermite_fig1.py " + " ".join(argv or sys.argv[1:])
    header = [
        f"Command: {command.strip()}  (cpu: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"jax {jax.__version__}, {datetime.date.today()})",
        "",
        f"n = {n}, d = {args.d}; 'unit': x ~ N(0, I/d); 'spread': the same directions with "
        f"norms uniform on [0.3, 3]. Hermite in float64, best of {2 * args.repeats} warm runs; "
        f"Monte Carlo in float32, best of {args.repeats} (1 for widths above 2^13). "
        f"1-minute load average "
        f"{load_before:.1f} before and {load_after:.1f} after (other jobs share the CPUs).",
        "",
    ]
    body = []
    labels = {"unit": "unit norms", "spread": "norms in [0.3, 3]"}
    for label, results in all_results.items():
        body += tables(results, widths, labels[label]) + [""]
    if set(("gelu", "gaussian", "sin")) <= set(names):
        body += targets(all_results)
    text = "\n".join(header + body) + "\n"
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_hermite_fig1.md").write_text(text)
        plot(all_results, widths, RESULTS / "bench_hermite_fig1.png")


if __name__ == "__main__":
    main()

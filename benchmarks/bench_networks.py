"""Exact network kernels, dualcalc.nn vs Neural Tangents: agreement, then time and peak memory.

Run (quick sizes, a few minutes on 2 cores):

    .venv/bin/python benchmarks/bench_networks.py --quick

The cost of explicit padding (dualcalc's convolutions never use XLA's implicit padding):

    .venv/bin/python benchmarks/bench_networks.py --padding-cost --no-nt --digits-n 256

Full sizes (issue 6): fully connected NTK for n = 10,000, d = 256 and the Myrtle-5 CNTK of all
1,797 scikit-learn digits (8 x 8):

    .venv/bin/python benchmarks/bench_networks.py --fc-n 10000 --digits-n 1797

Neural Tangents runs in its own virtual environment (``benchmarks/neural_tangents_env.py``
builds it; ``--nt-python PATH`` points at any python with ``neural_tangents`` importable).
Without one its columns say "n/a". Every measurement runs in a fresh subprocess, so the peak
memory (max RSS) belongs to that computation alone. Both libraries compute the same blocks of
``--fc-batch`` / ``--myrtle-batch`` points (upper triangle only, mirrored), in each of
``--dtypes`` (float64 and float32); each row also gets its floor (``floor_seconds``).

The printed tables are also written to ``benchmarks/results/bench_networks.md`` and the times
plotted to ``benchmarks/results/bench_networks.png``; ``--replot FILE`` redraws the plot from
a saved table without measuring again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SPEED_HEADER = (
    "| computation | activation | dtype | dualcalc s | dualcalc MiB | NT s | NT MiB | agree "
    "| floor s | dualcalc of floor | NT of floor |"
)
AGREEMENT_ACTIVATIONS = {  # dualcalc text -> Neural Tangents stax layer (name, args, kwargs)
    "relu": ("Relu", [], {}),
    "erf": ("Erf", [], {}),
    "gelu": ("Gelu", [], {"approximate": False}),
    "sin": ("Sin", [], {}),
    "abrelu(x, -0.5, 1.5)": ("ABRelu", [-0.5, 1.5], {}),
    "exp": ("Exp", [], {}),
    "gaussian": ("Gaussian", [], {"a": 1.0, "b": -0.5}),
}

# One script for both libraries: ``LIB`` selects the layer namespace; the rest is shared.
CHILD = r"""
import json, resource, sys, time
import numpy as np
spec = json.loads(sys.argv[1])
import jax
jax.config.update("jax_enable_x64", spec.get("dtype", "float64") == "float64")
if spec["lib"] == "nt":
    from neural_tangents import stax
    def act(name):
        layer, args, kwargs = spec["nt_activations"][name]
        return getattr(stax, layer)(*args, **kwargs)
    gap = stax.GlobalAvgPool
else:
    from dualcalc import nn as stax
    if spec.get("implicit_padding"):  # the pre-fix form: XLA folds the pad into the window op
        import jax.numpy as jnp
        from dualcalc.runtime import spatial
        spatial.zero_padded = lambda arr, pads: jnp.pad(arr, [tuple(p) for p in pads])
    def act(name):
        return stax.Activation(name)
    gap = stax.GlobalAvgPool

def network(spec):
    w, b = spec["W_std"], spec["b_std"]
    if spec["kind"] == "fc":
        layers = []
        for _ in range(spec["depth"]):
            layers += [stax.Dense(512, W_std=w, b_std=b), act(spec["activation"])]
        return stax.serial(*layers, stax.Dense(1, W_std=w, b_std=b))
    if spec["kind"] == "conv":
        return stax.serial(
            stax.Conv(16, (3, 3), padding="SAME", W_std=w, b_std=b), act(spec["activation"]),
            stax.AvgPool((2, 2), strides=(2, 2)),
            stax.Conv(16, (3, 3), padding="VALID", W_std=w, b_std=b), act(spec["activation"]),
            gap(), stax.Dense(1, W_std=w, b_std=b))
    layers = []
    for stage, convs in enumerate((2, 1, 1)):  # Myrtle-5
        for _ in range(convs):
            layers += [stax.Conv(64, (3, 3), padding="SAME", W_std=w, b_std=b),
                       act(spec["activation"])]
        if stage < 2:
            layers.append(stax.AvgPool((2, 2), strides=(2, 2)))
    return stax.serial(*layers, gap(), stax.Dense(10, W_std=w, b_std=b))

x = np.load(spec["inputs"]).astype(spec.get("dtype", "float64"))
kernel_fn = network(spec)[2]
get = tuple(spec["get"])
start = time.perf_counter()
if spec["lib"] == "nt":
    fn = jax.jit(lambda a, b: kernel_fn(a, b, get))
    n, size = len(x), min(spec["batch"] or len(x), len(x))
    out = {g: np.empty((n, n), x.dtype) for g in get}
    for i in range(0, n, size):
        rows = np.resize(x[i:i + size], (size,) + x.shape[1:])  # pad by repeating real rows
        for j in range(i, n, size):
            cols = np.resize(x[j:j + size], (size,) + x.shape[1:])
            ra, rb = min(size, n - i), min(size, n - j)
            res = fn(rows, cols)
            for g in get:
                block = np.asarray(getattr(res, g))[:ra, :rb]
                out[g][i:i + ra, j:j + rb] = block
                out[g][j:j + rb, i:i + ra] = block.T
else:
    res = kernel_fn(x, None, get, batch_size=spec["batch"])
    out = dict(zip(get, res))
seconds = time.perf_counter() - start
np.savez(spec["outputs"], **out)
# VmHWM belongs to this program's memory map; ru_maxrss would include the parent's peak,
# which Linux carries across fork and exec.
try:
    with open("/proc/self/status") as status:
        hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    peak = float(hwm[0]) / 1024.0
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
result = {"seconds": seconds, "peak_mib": peak}
if spec.get("floor"):
    from bench_networks import floor_seconds
    result["floor_s"] = floor_seconds(spec, x)
print(json.dumps(result))
"""


def nt_python(explicit: str | None) -> str | None:
    """A python interpreter that imports neural_tangents, or None (see neural_tangents_env)."""
    sys.path.insert(0, str(HERE))
    import neural_tangents_env

    return neural_tangents_env.find_python(explicit)


def run(python: str, lib: str, spec: dict, x: np.ndarray) -> tuple[dict, dict] | None:
    """Run one kernel computation in a fresh process; (timings, kernels) or None on failure."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = os.path.join(tmp, "x.npy"), os.path.join(tmp, "k.npz")
        np.save(inputs, x)
        full = dict(spec, lib=lib, inputs=inputs, outputs=outputs)
        full["nt_activations"] = AGREEMENT_ACTIVATIONS
        # A copy of the catalogue, so activations derived here (abrelu with arguments)
        # never land in the committed generated/ folder.
        catalogue = os.path.join(tmp, "generated")
        shutil.copytree(HERE.parent / "generated", catalogue)
        env = dict(os.environ, JAX_PLATFORMS="cpu", DUALCALC_GENERATED=catalogue)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        if spec.get("xla_flags"):
            env["XLA_FLAGS"] = spec["xla_flags"]
        proc = subprocess.run(
            [python, "-c", CHILD, json.dumps(full)], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            print(f"[{lib} failed on {spec}]\n{proc.stderr[-2000:]}", file=sys.stderr)
            return None
        timing = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(outputs) as data:
            kernels = {k: data[k] for k in data.files}
    return timing, kernels


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| (the kernel's own scale)."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def agreement(nt: str | None, rng: np.random.Generator) -> None:
    """Fully connected depth 1..4 x activations, a small CNN and Myrtle-5 (relu), float64."""
    print("\n## Agreement with Neural Tangents (float64, max |a - b| / max |b|)\n")
    if nt is None:
        print("Neural Tangents unavailable: skipped.")
        return
    print("| network | activation | NNGP | NTK | NTK off the diagonal |")
    print("|---|---|---:|---:|---:|")
    flat = rng.normal(size=(8, 16))
    images = rng.normal(size=(4, 8, 8, 3))
    cases = []
    for name in AGREEMENT_ACTIVATIONS:
        w = 0.5 if name == "exp" else 1.3  # exp kernels grow like exp(exp(...))
        for depth in (1, 2, 3, 4):
            spec = dict(kind="fc", depth=depth, activation=name, W_std=w, b_std=0.2)
            cases.append((f"FC depth {depth}", spec, flat))
    cases.append(("CNN (conv, pool, conv, GAP)", dict(kind="conv", activation="relu"), images))
    cases.append(("Myrtle-5", dict(kind="myrtle", activation="relu"), images))
    for label, spec, x in cases:
        spec = {"W_std": 2.0**0.5, "b_std": 0.0, **spec, "get": ["nngp", "ntk"], "batch": None}
        ours, theirs = run(sys.executable, "dualcalc", spec, x), run(nt, "nt", spec, x)
        if ours is None or theirs is None:
            print(f"| {label} | `{spec['activation']}` | failed | failed | failed |")
            continue
        errors = [relative(ours[1][g], theirs[1][g]) for g in ("nngp", "ntk")]
        off = ~np.eye(len(x), dtype=bool)
        errors.append(relative(ours[1]["ntk"][off], theirs[1]["ntk"][off]))
        cells = " | ".join(f"{e:.1e}" for e in errors)
        print(f"| {label} | `{spec['activation']}` | {cells} |")


def speed(nt: str | None, args: argparse.Namespace, rng: np.random.Generator) -> None:
    """Time and peak memory, side by side, same inputs, same blocks; the floor per row."""
    print("\n## Time and peak memory (CPU, fresh process each, compile included)\n")
    print(f"1-minute load average before: {os.getloadavg()[0]:.1f} (2 cores, shared).\n")
    print(SPEED_HEADER)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    flat = rng.normal(size=(args.fc_n, args.fc_d)) / np.sqrt(args.fc_d)
    digits = _digits(args.digits_n)
    jobs = []
    for name in args.fc_activations:
        spec = dict(kind="fc", depth=3, activation=name, W_std=1.4, b_std=0.1)
        jobs.append((f"FC depth 3 NTK, n={args.fc_n}, d={args.fc_d}", spec, flat))
    for name in args.myrtle_activations:
        spec = dict(kind="myrtle", activation=name, W_std=2.0**0.5, b_std=0.0)
        jobs.append((f"Myrtle-5 CNTK, {len(digits)} digits 8x8", spec, digits))
    for label, spec, x in jobs:
        for dtype in args.dtypes:
            batch = args.fc_batch if spec["kind"] == "fc" else args.myrtle_batch
            print(_speed_row(nt, label, dict(spec, get=["ntk"], batch=batch, dtype=dtype), x))
    print(f"\n1-minute load average after: {os.getloadavg()[0]:.1f}")


def _speed_row(nt: str | None, label: str, spec: dict, x: np.ndarray) -> str:
    """One table row: both libraries on the same inputs, and the floor (see floor_seconds)."""
    ours = run(sys.executable, "dualcalc", dict(spec, floor=True), x)
    supported = spec["activation"] in AGREEMENT_ACTIVATIONS
    theirs = run(nt, "nt", spec, x) if nt and supported else None
    cells = [f"{ours[0]['seconds']:.1f}", f"{ours[0]['peak_mib']:.0f}"] if ours else ["-"] * 2
    if theirs:
        cells += [f"{theirs[0]['seconds']:.1f}", f"{theirs[0]['peak_mib']:.0f}"]
        cells.append(f"{relative(ours[1]['ntk'], theirs[1]['ntk']):.0e}" if ours else "-")
    else:
        cells += ["n/a" if supported else "no kernel"] * 2 + ["-"]
    floor = ours[0].get("floor_s") if ours else None
    cells.append("-" if floor is None else f"{floor:.2g}")
    for result in (ours, theirs):
        fraction = floor / result[0]["seconds"] if floor and result else None
        cells.append("-" if fraction is None else f"{fraction:.2g}")
    return f"| {label} | `{spec['activation']}` | {spec['dtype']} | " + " | ".join(cells) + " |"


#: Myrtle-5's convolutions: (spatial size of the 8 x 8 digits at that stage, count).
MYRTLE_STAGES = ((8, 2), (4, 1), (2, 1))


def floor_seconds(spec: dict, x: np.ndarray) -> float:
    """The least time the computation can take on this machine (run in the child process).

    Work: the upper blocks actually computed (``spec["batch"]``), per entry the Gram product
    (2 d flops; FC) and per layer the flops of the activation's printed K and K' (XLA's cost
    analysis of the generated nngp and dnngp on a vector, guards included) plus the affine
    updates; a CNTK adds per pixel pair the separable 3 x 3 window sums of K and Theta.
    Rates measured here: a GEMM for the Gram product, a long fused elementwise polynomial
    for the rest (the machine's vector throughput, bandwidth not binding at these sizes).
    """
    import jax
    import jax.numpy as jnp

    from dualcalc import load

    n = len(x)
    size = min(spec["batch"] or n, n)
    blocks = sum(1 for i in range(0, n, size) for _ in range(i, n, size))
    entries = blocks * size * size
    module = load(spec["activation"])
    probe = jnp.linspace(0.1, 0.9, 1 << 16, dtype=x.dtype)
    pair = jax.jit(lambda c: (module.nngp(1.0, 1.0, c), module.dnngp(1.0, 1.0, c)))
    cost = pair.lower(probe).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    per_pair = cost["flops"] / probe.size + 6  # + affine K, Theta updates
    if spec["kind"] == "fc":
        gram = entries * 2.0 * x.shape[1]
        other = entries * spec["depth"] * per_pair
    else:
        gram = entries * 2.0 * x.shape[-1] * x.shape[1] ** 4
        window_sums = 2 * 2 * 3 * 2  # K and Theta, 2 axes, 3 taps, multiply-add
        other = entries * sum(c * s**4 * (per_pair + window_sums) for s, c in MYRTLE_STAGES)
    return gram / _gemm_rate(x.dtype) + other / _vector_rate(x.dtype)


def _best(fn, args, repeats: int = 5) -> float:
    """Least wall time of fn(*args) over a few runs (compiled and warmed up first)."""
    import jax

    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _gemm_rate(dtype) -> float:
    """flop/s of a 2000 x 256 x 2000 matrix product (the Gram product of one FC block)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2000, 256), dtype)
    return 2 * 2000 * 256 * 2000 / _best(jax.jit(lambda u: u @ u.T), (a,))


def _vector_rate(dtype, steps: int = 64) -> float:
    """flop/s of a fused elementwise Horner polynomial (2 flops per step) on 2^20 entries."""
    import jax
    import jax.numpy as jnp

    def horner(u):
        acc = u
        for k in range(steps):
            acc = acc * u + (0.5 + k / steps)
        return acc

    a = jnp.linspace(0.0, 1.0, 1 << 20, dtype=dtype)
    return 2 * steps * a.size / _best(jax.jit(horner), (a,))


#: AVX2 code for both forms: the implicitly padded float64 convolution can fault on AVX-512.
AVX2 = "--xla_cpu_max_isa=AVX2"


def padding_cost(args: argparse.Namespace) -> None:
    """Myrtle-5 CNTK with explicit padding behind an optimization barrier (dualcalc's form)
    against XLA's implicit padding (the pad folded into the convolution), same inputs."""
    print("\n## Cost of explicit padding (Myrtle-5 CNTK, float64, fresh process each)\n")
    print(f"Both forms compiled with `XLA_FLAGS={AVX2}` (the implicit form can read before its")
    print("input buffer on AVX-512); the last column is the explicit form with default flags.")
    print(f"1-minute load average before: {os.getloadavg()[0]:.1f} (the CPU may be shared).\n")
    print(
        "| activation | digits | implicit s | explicit s | explicit / implicit "
        "| explicit, default ISA s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    digits = _digits(args.digits_n)
    for name in args.myrtle_activations:
        base = dict(kind="myrtle", activation=name, W_std=2.0**0.5, b_std=0.0, get=["ntk"])
        base["batch"] = args.myrtle_batch
        times = []
        for extra in ({"implicit_padding": True, "xla_flags": AVX2}, {"xla_flags": AVX2}, {}):
            result = run(sys.executable, "dualcalc", dict(base, **extra), digits)
            times.append(None if result is None else result[0]["seconds"])
        cells = ["-" if t is None else f"{t:.1f}" for t in times]
        ratio = "-" if None in times[:2] else f"{times[1] / times[0]:.2f}"
        print(f"| `{name}` | {len(digits)} | {cells[0]} | {cells[1]} | {ratio} | {cells[2]} |")
    print(f"\n1-minute load average after: {os.getloadavg()[0]:.1f}")


def speed_rows(markdown: str) -> list[tuple[str, float | None, float | None]]:
    """(label, dualcalc seconds, NT seconds) from a saved speed table (None: not measured)."""

    def seconds(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    lines = markdown.splitlines()
    if SPEED_HEADER not in lines:
        return []
    rows = []
    for line in lines[lines.index(SPEED_HEADER) + 2 :]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 11:
            break
        label = f"{cells[0]}\n{cells[1].strip('`')}, {cells[2]}"
        rows.append((label, seconds(cells[3]), seconds(cells[5])))
    return rows


def plot(rows: list[tuple[str, float | None, float | None]], path: Path) -> None:
    """Horizontal bars: dualcalc and Neural Tangents seconds per computation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.9 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ours = [np.nan if r[1] is None else r[1] for r in rows]
    theirs = [np.nan if r[2] is None else r[2] for r in rows]
    ax.barh(y - 0.2, ours, height=0.4, label="dualcalc")
    ax.barh(y + 0.2, theirs, height=0.4, label="Neural Tangents (no bar: no kernel)")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds, log scale (CPU, compile included)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nplot: {path}")


class _Tee:
    """Writes to stdout and keeps a copy (the results file)."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _digits(n: int) -> np.ndarray:
    """The first n scikit-learn digits as (n, 8, 8, 1) images scaled to unit pixel range."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:n] / 16.0
    return images[..., None]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, 2 cores)")
    parser.add_argument("--fc-n", type=int, default=10000)
    parser.add_argument("--fc-d", type=int, default=256)
    parser.add_argument("--digits-n", type=int, default=1797)
    parser.add_argument("--fc-batch", type=int, default=2000, help="FC block size")
    parser.add_argument("--myrtle-batch", type=int, default=64, help="Myrtle block size")
    parser.add_argument("--fc-activations", nargs="+", default=["relu", "gelu", "tanh"])
    parser.add_argument("--myrtle-activations", nargs="+", default=["relu", "tanh"])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--nt-python", default=None, help="python with neural_tangents")
    parser.add_argument("--no-nt", action="store_true", help="skip Neural Tangents")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--padding-cost", action="store_true", help="only explicit vs implicit padding"
    )
    parser.add_argument("--replot", metavar="FILE", help="redraw the plot from a saved table")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.replot:
        plot(speed_rows(Path(args.replot).read_text()), RESULTS / "bench_networks.png")
        return
    if args.quick:
        args.fc_n, args.digits_n = min(args.fc_n, 2000), min(args.digits_n, 128)
    nt = None if args.no_nt else nt_python(args.nt_python)
    print(f"Neural Tangents: {nt or 'unavailable'}")
    rng = np.random.default_rng(0)
    tee, stdout = _Tee(sys.stdout), sys.stdout
    sys.stdout = tee
    try:
        print(f"Command: {' '.join(['benchmarks/bench_networks.py', *(argv or sys.argv[1:])])}")
        if args.padding_cost:
            padding_cost(args)
        else:
            if not args.skip_agreement:
                agreement(nt, rng)
            if not args.skip_speed:
                speed(nt, args, rng)
    finally:
        sys.stdout = stdout
    table = "".join(tee.parts)
    if args.padding_cost:
        (RESULTS / "bench_networks_padding.md").write_text(table)
        return
    (RESULTS / "bench_networks.md").write_text(table)
    rows = speed_rows(table)
    if rows:
        plot(rows, RESULTS / "bench_networks.png")


if __name__ == "__main__":
    main()

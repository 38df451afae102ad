"""Generated ``nngp`` against Neural Tangents' hand-written kernels on an n x n grid.

Both sides compute the same thing in float64 on the CPU, jit-compiled: a Dense layer
(K0 = x1 x2^T / d, q = |x|^2 / d) followed by the activation's NNGP map, for gelu (exact),
erf and relu. Ours: ``dualcalc.load(name).nngp``; Neural Tangents: ``stax.serial(
stax.Dense(1), stax.Gelu(approximate=False) | stax.Erf() | stax.Relu())``. Each side runs in
a fresh subprocess (Neural Tangents in its own virtual environment, built by
``benchmarks/neural_tangents_env.py`` into ``benchmarks/.nt-venv``; without it that column
says n/a). Timings: median of the repeats after one warm-up call (compile excluded).

Run:  .venv/bin/python benchmarks/bench_codegen.py [--n 2000] [--d 16] [--repeats 5]
Goal (issue 5): ours within 1.5x of Neural Tangents.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ACTIVATIONS = ("gelu", "erf", "relu")

CHILD = r"""
import json, sys, time
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp

spec = json.loads(sys.argv[1])
x1, x2 = (jnp.asarray(np.load(spec[k])) for k in ("x1", "x2"))
d = x1.shape[1]
if spec["lib"] == "dualcalc":
    import dualcalc
    module = dualcalc.load(spec["activation"])

    def kernel(a, b):
        return module.nngp(
            jnp.sum(a * a, axis=1)[:, None] / d, jnp.sum(b * b, axis=1)[None, :] / d, a @ b.T / d
        )
else:
    from neural_tangents import stax
    layer = {"gelu": lambda: stax.Gelu(approximate=False), "erf": stax.Erf, "relu": stax.Relu}
    _, _, kernel_fn = stax.serial(stax.Dense(1), layer[spec["activation"]]())

    def kernel(a, b):
        return kernel_fn(a, b, "nngp")

fn = jax.jit(kernel)
out = fn(x1, x2).block_until_ready()
times = []
for _ in range(spec["repeats"]):
    t0 = time.perf_counter()
    fn(x1, x2).block_until_ready()
    times.append(time.perf_counter() - t0)
np.save(spec["out"], np.asarray(out))
print(json.dumps({"seconds": float(np.median(times)), "jax": jax.__version__}))
"""


def nt_python(explicit: str | None) -> str | None:
    """A python interpreter that imports neural_tangents, or None (see neural_tangents_env)."""
    sys.path.insert(0, str(HERE))
    import neural_tangents_env

    return neural_tangents_env.find_python(explicit)


def measure(python: str, lib: str, activation: str, files: dict, repeats: int, tmp: str):
    """(median seconds, jax version, output array) of one side, or None when it fails."""
    out = os.path.join(tmp, f"{lib}-{activation}.npy")
    spec = dict(files, lib=lib, activation=activation, repeats=repeats, out=out)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [python, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        print(f"[{lib} {activation} failed]\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], result["jax"], np.load(out)


def main(argv: list[str] | None = None) -> None:
    """Print a markdown table: ours vs Neural Tangents, time and agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="grid side (n x n kernel)")
    parser.add_argument("--d", type=int, default=16, help="input dimension")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nt-python", default=None, help="interpreter with neural_tangents")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    nt = nt_python(args.nt_python)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for key in ("x1", "x2"):
            files[key] = os.path.join(tmp, f"{key}.npy")
            np.save(files[key], rng.normal(size=(args.n, args.d)))
        print(f"n = {args.n}, d = {args.d}, float64, CPU, jit, median of {args.repeats}")
        print("| activation | dualcalc (ms) | Neural Tangents (ms) | ratio | max rel. diff |")
        print("|---|---:|---:|---:|---:|")
        for activation in ACTIVATIONS:
            ours = measure(sys.executable, "dualcalc", activation, files, args.repeats, tmp)
            theirs = measure(nt, "nt", activation, files, args.repeats, tmp) if nt else None
            ours_ms = f"{1e3 * ours[0]:.1f}" if ours else "failed"
            if ours and theirs:
                ratio = f"{ours[0] / theirs[0]:.2f}x"
                diff = np.max(np.abs(ours[2] - theirs[2])) / np.max(np.abs(theirs[2]))
                row = (f"{1e3 * theirs[0]:.1f}", ratio, f"{diff:.1e}")
            else:
                row = ("n/a", "n/a", "n/a")
            print(f"| {activation} | {ours_ms} | {' | '.join(row)} |")
    if nt is None:
        print("\nNeural Tangents column: n/a (no benchmarks/.nt-venv; see neural_tangents_env.py)")


if __name__ == "__main__":
    main()

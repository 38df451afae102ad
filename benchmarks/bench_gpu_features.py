"""Sketched features and exact kernels on whatever device JAX finds (a GPU when present).

    .venv/bin/python benchmarks/bench_gpu_features.py            # full sizes (a GPU: ~2 min)
    .venv/bin/python benchmarks/bench_gpu_features.py --quick    # small sizes (CPU: ~1 min)

Rows: (1) FC depth-2 gelu NTK features (PolySketch, degree 4 and the tail-bound degree, and
random features) of n x 256 float32 rows, warm, against one (n x 256) @ (256 x m) product on
the same device (the floor); (2) Myrtle-5 relu CNTK features of the 1,797 scikit-learn digits
against the exact CNTK of the same digits (float64), both timed warm after one compile, and
the features' relative Frobenius error on the first 300 digits.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from dualcalc import features, nn  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    """Best warm wall time of fn() (one call first to compile), results blocked on."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def fc_rows(n: int, m: int) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, 256)) / 16.0).astype(np.float32)
    w = jax.device_put(rng.standard_normal((256, m)).astype(np.float32))
    xd = jax.device_put(x)
    product = jax.jit(lambda a: a @ w)
    floor = timed(lambda: product(xd))
    print(f"\n## FC depth-2 gelu NTK features, n = {n:,}, d = 256, m = {m}, float32, warm\n")
    print("| map | ms | x floor |")
    print("|---|---:|---:|")
    print(f"| one {n} x 256 x {m} product (floor) | {1e3 * floor:.1f} | 1.0 |")
    from dualcalc.features import feature_map

    default = dict(feature_map.CHUNK_ELEMENTS)
    cpu_sized = {"cpu": default["cpu"], "accelerator": default["cpu"]}
    for label, method, degree, chunks in (
        ("polysketch, degree 4", "polysketch", 4, default),
        ("polysketch, degree 4, CPU-sized row chunks", "polysketch", 4, cpu_sized),
        ("polysketch, tail-bound degree", "polysketch", None, default),
        ("random features", "random", None, default),
    ):
        feature_map.CHUNK_ELEMENTS = chunks
        fmap = features.fc(
            "gelu", 2, m=m, key=jax.random.PRNGKey(0), degree=degree, method=method, readout=False
        )
        params = fmap.params(x.shape[1:], x.dtype)
        apply = jax.jit(fmap.apply)
        seconds = timed(lambda apply=apply, params=params: apply(params, xd))
        print(f"| {label} | {1e3 * seconds:.1f} | {seconds / floor:.1f} |")
    feature_map.CHUNK_ELEMENTS = default


def myrtle_rows(n: int, m: int, subset: int) -> None:
    from sklearn.datasets import load_digits

    x = (load_digits().images[:n] / 16.0)[..., None]
    _, _, kernel_fn = nn.myrtle("relu", 5)
    fmap = features.myrtle("relu", 5, m=m, key=jax.random.PRNGKey(0), degree=4)
    x32 = x.astype(np.float32)
    params = fmap.params(x32.shape[1:], x32.dtype)
    apply = jax.jit(fmap.apply)
    xd = jax.device_put(x32)
    t_features = timed(lambda: apply(params, xd))
    t_exact = timed(lambda: kernel_fn(x, None, "ntk", batch_size=256), repeat=1)
    phi = np.asarray(apply(params, jax.device_put(x32[:subset])).ntk, np.float64)
    exact = np.asarray(kernel_fn(x[:subset], None, "ntk"))
    error = np.linalg.norm(phi @ phi.T - exact) / np.linalg.norm(exact)
    print(f"\n## Myrtle-5 relu CNTK of {n:,} digits: PolySketch degree 4, m = {m}, warm\n")
    print("| computation | s | speed-up |")
    print("|---|---:|---:|")
    print(f"| exact CNTK (float64, blocks of 256) | {t_exact:.2f} | 1x |")
    print(f"| features (float32) | {t_features:.3f} | {t_exact / t_features:.0f}x |")
    print(
        f"\nCNTK relative Frobenius error of the features on the first {subset} digits: "
        f"{error:.2f} (one key)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(
        f"Device: {device.platform} ({device.device_kind}), jax {jax.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if args.quick:
        fc_rows(2_000, 1024)
        myrtle_rows(128, 128, 64)
    else:
        fc_rows(100_000, 4096)
        myrtle_rows(1797, 256, 300)


if __name__ == "__main__":
    main()

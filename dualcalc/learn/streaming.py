"""Ridge regression in feature space, streamed over the data: memory independent of n.

One pass over (X, Y) in batches accumulates the sufficient statistics in float64:
F^T F (m x m), F^T Y (m x k) and y^T y per output, with F = featurizer(X) computed batch by
batch (X may be any array-like, a ``numpy.memmap`` included: only one batch is read at a time).
Then w = (F^T F + alpha I)^-1 F^T Y by Cholesky. A grid of alphas is resolved by generalised
cross-validation (Golub, Heath and Wahba 1979) from one eigendecomposition F^T F = V diag(s)
V^T, b = V^T F^T Y, which needs nothing but the statistics (exact leave-one-out would need a
second pass over the data for the leverages):

    RSS(alpha) = y^T y - sum_j b_j^2 (s_j + 2 alpha) / (s_j + alpha)^2
    df(alpha)  = sum_j s_j / (s_j + alpha)
    GCV(alpha) = RSS(alpha) / (n k) / (1 - df(alpha) / n)^2     (summed over the k outputs)

Devices: each batch is laid out over the ``data`` axis of a ``jax.sharding.Mesh`` (the rows
split across devices) and the jitted accumulation step is partitioned by XLA's SPMD engine:
every device featurizes its rows, and the contraction over rows in F^T F becomes a local
product plus an all-reduce. On several hosts, call ``jax.distributed.initialize()`` first,
build the mesh over ``jax.devices()`` (all hosts) and give each process its own rows: the
batches are assembled with ``jax.make_array_from_process_local_data`` and the statistics
(replicated) are the sums over every process's rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from dualcalc.errors import DualcalcError
from dualcalc.learn.ridge_path import check_alphas
from dualcalc.learn.spectral import eigen_spectrum, plus_diagonal

DATA_AXIS = "data"
Featurizer = Callable[[Any], Any]


class GramStatistics(NamedTuple):
    """Sufficient statistics of ridge in feature space (float64 numpy)."""

    ftf: np.ndarray
    fty: np.ndarray
    yty: np.ndarray
    n_samples: int


class FeatureRidgeFit(NamedTuple):
    """Weights w (m,) or (m, k) at the chosen alpha; GCV error per grid alpha (None for one)."""

    coef: np.ndarray
    alpha: float
    gcv_errors: np.ndarray | None


def data_mesh(devices: Any = None) -> Mesh:
    """A one-axis mesh named ``data`` over the given devices (default: all, every host)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (DATA_AXIS,))


def accumulate(
    featurizer: Featurizer,
    X: Any,
    Y: Any,
    *,
    batch_size: int = 1024,
    mesh: Mesh | None = None,
    progress: bool | None = False,
) -> GramStatistics:
    """F^T F, F^T Y and y^T y over all rows of (X, Y), one batch of rows at a time.

    ``featurizer`` maps a (b, d) batch to (b, m) features and must be jit-able; a
    ``jax.tree_util.Partial`` keeps its arrays as arguments of the compiled step (any other
    callable is compiled in as constants). Rows are padded to full batches and masked out, so
    one compiled step serves every batch. ``batch_size`` counts rows per process and is
    rounded up to a multiple of the mesh's local devices. Y: shape (n,) or (n, k).
    """
    mesh = data_mesh() if mesh is None else mesh
    y_ndim = np.ndim(Y)
    if y_ndim not in (1, 2) or len(Y) != len(X):
        raise DualcalcError(
            f"Y must have shape ({len(X)},) or ({len(X)}, k) to match X, got {np.shape(Y)}"
        )
    local = _local_batch(batch_size, mesh)
    n_local = len(X)
    batches = _global_batch_count(-(-n_local // local))
    step = _accumulation_step(mesh)
    fn = as_partial(featurizer)
    with jax.enable_x64(True):
        replicated = NamedSharding(mesh, PartitionSpec())
        fn = jax.device_put(fn, replicated)
        state = None
        rows = _batches(X, Y, local, batches, mesh)
        for x, y, mask in tqdm(rows, total=batches, disable=_hidden(progress), desc="features"):
            if state is None:
                state = _zero_state(jax.eval_shape(fn, x).shape[-1], y.shape[-1], replicated)
            state = step(state, fn, x, y, mask)
        ftf, fty, yty, count = (np.array(a, dtype=np.float64) for a in state)
    fty = fty if y_ndim == 2 else fty[:, 0]
    yty = yty if y_ndim == 2 else yty[:1]
    return GramStatistics(ftf, fty, yty, int(round(float(count))))


def transform(
    featurizer: Featurizer,
    X: Any,
    *,
    batch_size: int = 1024,
    mesh: Mesh | None = None,
    progress: bool | None = False,
) -> np.ndarray:
    """featurizer(X) for this process's rows, batch by batch: (n, m) in the featurizer's dtype."""
    return _map_rows(featurizer, None, X, batch_size, mesh, progress)


def predict(
    featurizer: Featurizer,
    coef: np.ndarray,
    X: Any,
    *,
    batch_size: int = 1024,
    mesh: Mesh | None = None,
    progress: bool | None = False,
) -> np.ndarray:
    """featurizer(X) @ coef batch by batch (features never stored): (n,) or (n, k) float64."""
    coef = np.asarray(coef, dtype=np.float64)
    out = _map_rows(featurizer, coef.reshape(len(coef), -1), X, batch_size, mesh, progress)
    return out if coef.ndim == 2 else out[:, 0]


def fit_ridge(statistics: GramStatistics, alpha: Any) -> FeatureRidgeFit:
    """w = (F^T F + alpha I)^-1 F^T Y; a grid picks the alpha of least GCV error."""
    grid, is_grid = check_alphas(alpha)
    errors = gcv_errors(statistics, grid) if is_grid else None
    best = float(grid[int(np.argmin(errors))]) if is_grid else float(grid[0])
    return FeatureRidgeFit(solve(statistics, best), best, errors)


def gcv_errors(statistics: GramStatistics, alphas: np.ndarray) -> np.ndarray:
    """GCV(alpha) = RSS / (n k) / (1 - df / n)^2 from one eigendecomposition of F^T F."""
    spectrum = eigen_spectrum(statistics.ftf)
    s = spectrum.values[None, :]
    a = np.asarray(alphas, dtype=np.float64)[:, None]
    b2 = np.sum((spectrum.vectors.T @ statistics.fty.reshape(len(s[0]), -1)) ** 2, axis=1)
    rss = statistics.yty.sum() - np.sum(b2[None, :] * (s + 2 * a) / (s + a) ** 2, axis=1)
    rss = np.maximum(rss, 0.0)
    df = np.sum(s / (s + a), axis=1)
    n, k = statistics.n_samples, statistics.yty.size
    return rss / (n * k) / (1.0 - df / n) ** 2


def solve(statistics: GramStatistics, alpha: float) -> np.ndarray:
    """(F^T F + alpha I)^-1 F^T Y by Cholesky (eigendecomposition if rounding defeats it)."""
    ftf = statistics.ftf
    try:
        factor = scipy.linalg.cho_factor(plus_diagonal(ftf, alpha), lower=True, overwrite_a=True)
    except np.linalg.LinAlgError:
        spectrum = eigen_spectrum(ftf)
        u = spectrum.vectors
        flat = statistics.fty.reshape(len(ftf), -1)
        coef = u @ ((u.T @ flat) / (spectrum.values + alpha)[:, None])
        return coef.reshape(statistics.fty.shape)
    return scipy.linalg.cho_solve(factor, statistics.fty)


def as_partial(featurizer: Featurizer) -> jax.tree_util.Partial:
    """The featurizer as a pytree: a Partial as is, any other callable as a static Partial."""
    if isinstance(featurizer, jax.tree_util.Partial):
        return featurizer
    if not callable(featurizer):
        raise DualcalcError(f"featurizer must be callable, got {type(featurizer).__name__}")
    return jax.tree_util.Partial(featurizer)


def _local_batch(batch_size: int, mesh: Mesh) -> int:
    """Rows per process, a multiple of this process's devices in the mesh."""
    local_devices = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
    return -(-int(batch_size) // local_devices) * local_devices


def _global_batch_count(local_count: int) -> int:
    """Every process must run the same number of steps: the largest count over processes."""
    if jax.process_count() == 1:
        return local_count
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.array(local_count))))


def _batches(
    X: Any, Y: Any, local: int, batches: int, mesh: Mesh
) -> Iterator[tuple[Any, Any, Any]]:
    """(x, y, mask) global arrays sharded over the data axis; padding rows have mask 0."""
    rows = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    processes = jax.process_count()
    for i in range(batches):
        x = _padded_rows(X, i * local, local)
        valid = max(0, min(local, len(X) - i * local))
        mask = (np.arange(local) < valid).astype(np.float64)
        y = None if Y is None else _padded_rows(Y, i * local, local).reshape(local, -1)
        yield tuple(
            None
            if part is None
            else jax.make_array_from_process_local_data(
                rows, part, (processes * local,) + part.shape[1:]
            )
            for part in (x, None if y is None else y.astype(np.float64), mask)
        )


def _padded_rows(A: Any, start: int, rows: int) -> np.ndarray:
    """rows rows of A from start (only those are read), zero-padded past the end."""
    part = np.asarray(A[start : start + rows])
    if part.dtype.kind != "f":
        part = part.astype(np.float64)
    if len(part) == rows:
        return part
    pad = np.zeros((rows - len(part),) + np.shape(A)[1:], part.dtype)
    return np.concatenate([part, pad])


def _zero_state(m: int, k: int, sharding: NamedSharding) -> tuple[Any, ...]:
    zeros = (
        jnp.zeros((m, m), jnp.float64),
        jnp.zeros((m, k), jnp.float64),
        jnp.zeros((k,), jnp.float64),
        jnp.zeros((), jnp.float64),
    )
    return jax.device_put(zeros, sharding)


@functools.lru_cache(maxsize=16)
def _accumulation_step(mesh: Mesh) -> Callable[..., Any]:
    """jit(state, featurizer, x, y, mask) -> state + this batch's statistics, SPMD over mesh."""
    replicated = NamedSharding(mesh, PartitionSpec())
    rows = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

    def step(state: Any, featurizer: Any, x: Any, y: Any, mask: Any) -> Any:
        ftf, fty, yty, count = state
        f = featurizer(x).astype(jnp.float64) * mask[:, None]
        y = y * mask[:, None]
        return (ftf + f.T @ f, fty + f.T @ y, yty + jnp.sum(y * y, axis=0), count + mask.sum())

    return jax.jit(
        step,
        in_shardings=(replicated, replicated, rows, rows, rows),
        out_shardings=replicated,
        donate_argnums=0,
    )


def _hidden(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: progress None shows a bar only on a terminal (tqdm's own None)."""
    return None if progress is None else not progress


def _map_rows(
    featurizer: Featurizer,
    coef: np.ndarray | None,
    X: Any,
    batch_size: int,
    mesh: Mesh | None,
    progress: bool | None,
) -> np.ndarray:
    """featurizer(x) (coef None) or featurizer(x) @ coef on every batch, stacked (this process)."""
    mesh = data_mesh(jax.local_devices()) if mesh is None else mesh
    local = _local_batch(batch_size, mesh)
    batches = -(-len(X) // local)
    step = _map_step(mesh)
    replicated = NamedSharding(mesh, PartitionSpec())
    outputs = []
    with jax.enable_x64(True):
        fn = jax.device_put(as_partial(featurizer), replicated)
        weights = None if coef is None else jax.device_put(coef, replicated)
        rows = _batches(X, None, local, batches, mesh)
        for i, (x, _, _) in enumerate(tqdm(rows, total=batches, disable=_hidden(progress))):
            valid = min(local, len(X) - i * local)
            outputs.append(np.asarray(step(fn, weights, x))[:valid])
    return np.concatenate(outputs)


@functools.lru_cache(maxsize=16)
def _map_step(mesh: Mesh) -> Callable[..., Any]:
    """jit(featurizer, coef, x) -> features (coef None) or features @ coef, rows sharded."""
    replicated = NamedSharding(mesh, PartitionSpec())
    rows = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

    def step(featurizer: Any, coef: Any, x: Any) -> Any:
        f = featurizer(x)
        return f if coef is None else f.astype(jnp.float64) @ coef

    return jax.jit(step, in_shardings=(replicated, replicated, rows), out_shardings=rows)

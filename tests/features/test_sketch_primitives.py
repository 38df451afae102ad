"""Sketch primitives (Hartley, SRHT, Gaussian, CountSketch, TensorSketch, TensorSRHT).

Oracles: dense numpy matrices built from the stored randomness (Hartley from cos + sin);
exact expectations by enumerating every draw of tiny sketches (all signs, rows and hashes);
closed-form variances (derived in support/sketch_oracles.py); and, for the random draws of
``*_init``, averages over K independent keys with 5-sigma tolerances from the sample's own
standard errors (see support/sketch_oracles.py).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sketch_oracles import (
    assert_unbiased,
    assert_variance,
    assert_variance_times_m_constant,
    countsketch_variance,
    gaussian_variance,
    hartley_matrix,
    srht_variance,
    tensor_srht_variance,
    unit_pair,
)

from dualcalc.errors import DualcalcError
from dualcalc.sketch import (
    CountSketchParams,
    SRHTParams,
    TensorSketchParams,
    TensorSRHTParams,
    countsketch_apply,
    countsketch_init,
    gaussian_apply,
    gaussian_init,
    hartley,
    hartley_rows,
    srht_apply,
    srht_init,
    tensor_srht_apply,
    tensor_srht_combine,
    tensor_srht_init,
    tensorsketch_apply,
    tensorsketch_combine,
    tensorsketch_init,
)

K = 2000  # independent keys per statistical check
M_GRID = (64, 256, 1024)
D = 12


def _estimates(init, apply, seed, left, right, **dims) -> dict[int, np.ndarray]:
    """{m: <S left, S right> for K keys, S = init(key, **dims, m=m)} for m in M_GRID (float64),
    fresh keys for each m, all in one compiled function."""

    def one(key, m):
        params = init(key, **dims, m=m, dtype=jnp.float64)
        return jnp.sum(apply(params, *left) * apply(params, *right), axis=-1)

    def grid(keys):
        return tuple(jax.vmap(lambda k, m=m: one(k, m))(keys[i]) for i, m in enumerate(M_GRID))

    keys = jax.random.split(jax.random.key(seed), (len(M_GRID), K))
    return dict(zip(M_GRID, map(np.asarray, jax.jit(grid)(keys)), strict=True))


# --- Hartley transform ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 12, 97, 256])
def test_hartley_matches_dense_matrix_and_is_orthogonal(d):
    rng = np.random.default_rng(d)
    x = rng.standard_normal((3, d))
    dense = hartley_matrix(d)
    np.testing.assert_allclose(hartley(jnp.asarray(x)), x @ dense.T, rtol=0, atol=1e-12)
    matrix = np.asarray(hartley(jnp.eye(d)))  # row j is H e_j, so this is H^T = H
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(d), rtol=0, atol=1e-12)
    np.testing.assert_allclose(hartley(hartley(jnp.asarray(x))), x, rtol=0, atol=1e-12)


def test_hartley_rows_select_rows_with_repeats_and_per_stack_rows():
    d = 10
    dense = hartley_matrix(d)
    x = np.random.default_rng(0).standard_normal((2, 3, d))
    rows = np.array([0, 9, 9, 5, 1, 0, 6])
    np.testing.assert_allclose(
        hartley_rows(jnp.asarray(x), jnp.asarray(rows)), x @ dense[rows].T, atol=1e-12
    )
    stacked_rows = np.array([[0, 1, 2, 3], [9, 9, 4, 5], [7, 0, 0, 2]])  # one row set per slot
    got = hartley_rows(jnp.asarray(x), jnp.asarray(stacked_rows))
    want = np.einsum("bsj,srj->bsr", x, dense[stacked_rows])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_hartley_float32_stays_float32():
    x = np.random.default_rng(1).standard_normal((4, 300)).astype(np.float32)
    out = hartley(jnp.asarray(x))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, x.astype(np.float64) @ hartley_matrix(300).T, atol=2e-5)


# --- dense oracles: the stored randomness defines the map exactly ---------------------------


def test_srht_matches_dense_definition():
    d, m = 7, 11
    params = srht_init(jax.random.key(0), d, m)
    signs, rows = np.asarray(params.signs), np.asarray(params.rows)
    assert set(np.unique(signs)) <= {-1.0, 1.0} and rows.min() >= 0 and rows.max() < d
    dense = math.sqrt(d / m) * hartley_matrix(d)[rows] * signs  # sqrt(d/m) [H D]_P
    x = np.random.default_rng(0).standard_normal((5, d))
    np.testing.assert_allclose(srht_apply(params, jnp.asarray(x)), x @ dense.T, atol=1e-12)


def test_gaussian_matches_dense_definition():
    params = gaussian_init(jax.random.key(0), 6, 9)
    x = np.random.default_rng(0).standard_normal((5, 6))
    np.testing.assert_allclose(
        gaussian_apply(params, jnp.asarray(x)), x @ np.asarray(params.weights), atol=1e-12
    )


def _countsketch_matrix(params: CountSketchParams) -> np.ndarray:
    buckets, signs = np.asarray(params.buckets), np.asarray(params.signs)
    matrix = np.zeros((params.width.shape[-1], buckets.size))
    matrix[buckets, np.arange(buckets.size)] = signs
    return matrix


def test_countsketch_matches_dense_definition():
    params = countsketch_init(jax.random.key(0), 9, 4)
    x = np.random.default_rng(0).standard_normal((5, 9))
    np.testing.assert_allclose(
        countsketch_apply(params, jnp.asarray(x)), x @ _countsketch_matrix(params).T, atol=1e-12
    )


def test_tensorsketch_is_the_countsketch_of_the_outer_product():
    """Oracle: hash (h1(a) + h2(b)) mod m and sign s1(a) s2(b) applied to x (x) y directly."""
    d1, d2, m = 4, 5, 6
    params = tensorsketch_init(jax.random.key(0), d1, d2, m)
    h1, s1 = np.asarray(params.left.buckets), np.asarray(params.left.signs)
    h2, s2 = np.asarray(params.right.buckets), np.asarray(params.right.signs)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(d1), rng.standard_normal(d2)
    want = np.zeros(m)
    for a, b in itertools.product(range(d1), range(d2)):
        want[(h1[a] + h2[b]) % m] += s1[a] * s2[b] * x[a] * y[b]
    np.testing.assert_allclose(tensorsketch_apply(params, x, y), want, atol=1e-12)


def test_tensor_srht_matches_dense_definition_and_combine():
    d1, d2, m = 5, 6, 8
    params = tensor_srht_init(jax.random.key(0), d1, d2, m)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, d1)), rng.standard_normal((3, d2))
    left = math.sqrt(d1) * hartley_matrix(d1)[np.asarray(params.left.rows)] * params.left.signs
    right = math.sqrt(d2) * hartley_matrix(d2)[np.asarray(params.right.rows)] * params.right.signs
    want = (x @ left.T) * (y @ right.T) / math.sqrt(m)
    np.testing.assert_allclose(tensor_srht_apply(params, x, y), want, atol=1e-12)
    sx, sy = srht_apply(params.left, x), srht_apply(params.right, y)
    np.testing.assert_allclose(tensor_srht_combine(sx, sy), want, atol=1e-12)


# --- exact expectations by enumerating every draw of a tiny sketch --------------------------


def _all_signs(d: int) -> np.ndarray:
    return np.array(list(itertools.product([-1.0, 1.0], repeat=d)))


def _all_tuples(values: int, length: int) -> np.ndarray:
    return np.array(list(itertools.product(range(values), repeat=length)), dtype=np.int32)


def _grid(*arrays):
    """Every combination of the rows of the given arrays (one output per array)."""
    index = np.array(list(itertools.product(*(range(len(a)) for a in arrays))))
    return [a[index[:, i]] for i, a in enumerate(arrays)]


def test_srht_exact_mean_and_variance_over_all_draws():
    """d = 3, m = 2: all 8 sign vectors x 9 row pairs, each with probability 1/72."""
    d, m = 3, 2
    x, y = unit_pair(d, 0.3, seed=1)
    signs, rows = _grid(_all_signs(d), _all_tuples(d, m))
    est = jax.vmap(lambda p: srht_apply(p, x) @ srht_apply(p, y))(SRHTParams(signs, rows))
    np.testing.assert_allclose(np.mean(est), x @ y, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.var(est), srht_variance(x, y, m), rtol=1e-12)


def test_countsketch_exact_mean_and_variance_over_all_draws():
    """d = 3, m = 3: all 27 hashes x 8 sign vectors."""
    d, m = 3, 3
    x, y = unit_pair(d, -0.4, seed=2)
    buckets, signs = _grid(_all_tuples(m, d), _all_signs(d))
    params = CountSketchParams(buckets, signs, jnp.zeros((len(signs), 0, m)))
    est = jax.vmap(lambda p: countsketch_apply(p, x) @ countsketch_apply(p, y))(params)
    np.testing.assert_allclose(np.mean(est), x @ y, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.var(est), countsketch_variance(x, y, m), rtol=1e-12)


def test_tensor_srht_exact_mean_and_variance_over_all_draws():
    """d1 = d2 = 2, m = 2: all 4 x 4 sign pairs and 4 x 4 row pairs."""
    d, m = 2, 2
    x, x2 = unit_pair(d, 0.5, seed=3)
    y, y2 = unit_pair(d, -0.7, seed=4)
    s1, r1, s2, r2 = _grid(_all_signs(d), _all_tuples(d, m), _all_signs(d), _all_tuples(d, m))
    params = TensorSRHTParams(SRHTParams(s1, r1), SRHTParams(s2, r2))
    est = jax.vmap(lambda p: tensor_srht_apply(p, x, y) @ tensor_srht_apply(p, x2, y2))(params)
    exact = (x @ x2) * (y @ y2)
    np.testing.assert_allclose(np.mean(est), exact, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.var(est), tensor_srht_variance(x, x2, y, y2, m), rtol=1e-12)


def test_tensorsketch_exact_mean_over_all_draws():
    """d1 = d2 = 2, m = 3: all 9 x 9 hash pairs and 4 x 4 sign pairs."""
    d, m = 2, 3
    x, x2 = unit_pair(d, 0.5, seed=5)
    y, y2 = unit_pair(d, -0.7, seed=6)
    h1, s1, h2, s2 = _grid(_all_tuples(m, d), _all_signs(d), _all_tuples(m, d), _all_signs(d))
    width = jnp.zeros((len(h1), 0, m))
    params = TensorSketchParams(CountSketchParams(h1, s1, width), CountSketchParams(h2, s2, width))
    est = jax.vmap(lambda p: tensorsketch_apply(p, x, y) @ tensorsketch_apply(p, x2, y2))(params)
    np.testing.assert_allclose(np.mean(est), (x @ x2) * (y @ y2), rtol=0, atol=1e-14)


# --- the random draws of init: unbiased, variance as derived, error ~ 1 / sqrt(m) -----------


@pytest.mark.parametrize(
    "init, apply, variance",
    [
        (srht_init, srht_apply, srht_variance),
        (gaussian_init, gaussian_apply, gaussian_variance),
        (countsketch_init, countsketch_apply, countsketch_variance),
    ],
    ids=["srht", "gaussian", "countsketch"],
)
def test_sketch_unbiased_with_variance_c_over_m(init, apply, variance):
    x, y = unit_pair(D, 0.6, seed=7)
    x = x * 1.5  # not unit norm: the identity is <x, y>, not a cosine
    by_m = _estimates(init, apply, 10, (x,), (y,), d=D)
    for m, est in by_m.items():
        assert_unbiased(est, x @ y, f"m = {m}")
        assert_variance(est, variance(x, y, m), f"m = {m}")
    assert_variance_times_m_constant(by_m)


def test_tensor_srht_unbiased_with_variance_c_over_m():
    x, x2 = unit_pair(D, 0.6, seed=8)
    y, y2 = unit_pair(7, -0.5, seed=9)
    by_m = _estimates(tensor_srht_init, tensor_srht_apply, 20, (x, y), (x2, y2), d1=D, d2=7)
    for m, est in by_m.items():
        assert_unbiased(est, (x @ x2) * (y @ y2), f"m = {m}")
        assert_variance(est, tensor_srht_variance(x, x2, y, y2, m), f"m = {m}")
    assert_variance_times_m_constant(by_m)


def test_tensorsketch_unbiased_and_variance_shrinks_like_one_over_m():
    """No closed-form variance here (hash sums are not independent across pairs); the 1 / m^2
    part of Var is checked to be below the resolution of K draws by the m Var comparison."""
    x, x2 = unit_pair(D, 0.6, seed=10)
    y, y2 = unit_pair(7, -0.5, seed=11)
    by_m = _estimates(tensorsketch_init, tensorsketch_apply, 30, (x, y), (x2, y2), d1=D, d2=7)
    for m, est in by_m.items():
        assert_unbiased(est, (x @ x2) * (y @ y2), f"m = {m}")
    assert_variance_times_m_constant(by_m)


def test_srht_init_draws_uniform_rows_and_fair_signs():
    """Each of the d rows has frequency 1/d (binomial, 5 sigma), the signs mean 0."""
    d, m = 5, 40_000
    params = srht_init(jax.random.key(40), d, m)
    freq = np.bincount(np.asarray(params.rows), minlength=d) / m
    assert np.all(np.abs(freq - 1 / d) <= 5 * math.sqrt((1 / d) * (1 - 1 / d) / m))
    signs = np.asarray(srht_init(jax.random.key(41), m, 1).signs)
    assert set(np.unique(signs)) == {-1.0, 1.0} and abs(signs.mean()) <= 5 / math.sqrt(m)


# --- shapes, dtypes, keys, jit, batch axes ----------------------------------------------------


def _single(name):
    """(init(key, dtype), apply(params, *inputs), input dims) for each primitive."""
    return {
        "srht": (lambda k, dt: srht_init(k, 6, 10, dt), srht_apply, (6,)),
        "gaussian": (lambda k, dt: gaussian_init(k, 6, 10, dt), gaussian_apply, (6,)),
        "countsketch": (lambda k, dt: countsketch_init(k, 6, 10, dt), countsketch_apply, (6,)),
        "tensorsketch": (
            lambda k, dt: tensorsketch_init(k, 6, 3, 10, dt),
            tensorsketch_apply,
            (6, 3),
        ),
        "tensor_srht": (
            lambda k, dt: tensor_srht_init(k, 6, 3, 10, dt),
            tensor_srht_apply,
            (6, 3),
        ),
    }[name]


PRIMITIVES = ["srht", "gaussian", "countsketch", "tensorsketch", "tensor_srht"]


def _inputs(dims, lead=(2, 3), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(lead + (d,)).astype(dtype)) for d in dims]


@pytest.mark.parametrize("name", PRIMITIVES)
def test_shapes_batch_axes_jit_and_keys(name):
    init, apply, dims = _single(name)
    params = init(jax.random.key(0), None)
    inputs = _inputs(dims)
    out = apply(params, *inputs)
    assert out.shape == (2, 3, 10) and out.dtype == jnp.float64
    row = apply(params, *[x[1, 2] for x in inputs])  # batch axes act row by row
    np.testing.assert_allclose(out[1, 2], row, atol=1e-13)
    np.testing.assert_allclose(jax.jit(apply)(params, *inputs), out, atol=1e-13)
    again = init(jax.random.key(0), None)  # same key, same sketch
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other = apply(init(jax.random.key(1), None), *inputs)
    assert not np.allclose(other, out)
    jitted_init = jax.jit(init, static_argnums=1)(jax.random.key(0), None)
    np.testing.assert_allclose(apply(jitted_init, *inputs), out, atol=1e-13)


@pytest.mark.parametrize("name", PRIMITIVES)
def test_float32_in_float32_out(name):
    init, apply, dims = _single(name)
    params32 = init(jax.random.key(0), jnp.float32)
    assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in jax.tree.leaves(params32)), (
        "params keep the dtype given to init"
    )
    x32 = _inputs(dims, dtype=np.float32)
    out32 = apply(params32, *x32)
    assert out32.dtype == jnp.float32
    x64 = [x.astype(jnp.float64) for x in x32]
    out64 = apply(params32, *x64)  # float32 params are cast to the input's float64
    assert out64.dtype == jnp.float64
    scale = float(jnp.max(jnp.abs(out64)))
    np.testing.assert_allclose(out32, out64, rtol=0, atol=1e-5 * scale)


def test_tensor_factors_broadcast_leading_axes():
    params = tensor_srht_init(jax.random.key(0), 4, 5, 8)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 1, 4)), rng.standard_normal((1, 3, 5))
    out = tensor_srht_apply(params, x, y)
    assert out.shape == (2, 3, 8)
    np.testing.assert_allclose(out[1, 2], tensor_srht_apply(params, x[1, 0], y[0, 2]), atol=1e-13)
    ts = tensorsketch_init(jax.random.key(0), 4, 5, 8)
    out = tensorsketch_apply(ts, x, y)
    assert out.shape == (2, 3, 8)
    np.testing.assert_allclose(out[1, 2], tensorsketch_apply(ts, x[1, 0], y[0, 2]), atol=1e-13)


def test_combine_accepts_already_transformed_factors():
    """One S1 x reused against several y: combine equals the full apply."""
    params = tensor_srht_init(jax.random.key(3), 4, 5, 16)
    rng = np.random.default_rng(0)
    x, ys = rng.standard_normal(4), rng.standard_normal((6, 5))
    sx = srht_apply(params.left, x)
    np.testing.assert_allclose(
        tensor_srht_combine(sx, srht_apply(params.right, ys)),
        tensor_srht_apply(params, x, ys),
        atol=1e-13,
    )
    ts = tensorsketch_init(jax.random.key(3), 4, 5, 16)
    cx = countsketch_apply(ts.left, x)
    np.testing.assert_allclose(
        tensorsketch_combine(cx, countsketch_apply(ts.right, ys)),
        tensorsketch_apply(ts, x, ys),
        atol=1e-13,
    )


def test_vmap_over_keys_gives_independent_sketches():
    params = jax.vmap(lambda k: srht_init(k, 6, 10))(jax.random.split(jax.random.key(0), 4))
    assert params.signs.shape == (4, 6) and params.rows.shape == (4, 10)
    x = jnp.ones(6)
    out = jax.vmap(srht_apply, in_axes=(0, None))(params, x)
    np.testing.assert_allclose(out[2], srht_apply(SRHTParams(params.signs[2], params.rows[2]), x))
    assert len({tuple(np.round(np.asarray(o), 12)) for o in out}) == 4


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d": 0, "m": 4}, "d must be a positive integer, got 0"),
        ({"d": 4, "m": 0}, "m must be a positive integer, got 0"),
        ({"d": 4, "m": -3}, "m must be a positive integer, got -3"),
        ({"d": 2.5, "m": 4}, "d must be a positive integer, got 2.5"),
        ({"d": 4, "m": True}, "m must be a positive integer, got the bool True"),
        ({"d": 4, "m": 4, "dtype": jnp.int32}, "dtype must be float32 or float64, got int32"),
        ({"d": 4, "m": 4, "dtype": "float16"}, "dtype must be float32 or float64, got float16"),
    ],
)
@pytest.mark.parametrize("init", [srht_init, gaussian_init, countsketch_init])
def test_bad_init_arguments(init, kwargs, message):
    with pytest.raises(DualcalcError, match=message):
        init(jax.random.key(0), **kwargs)


def test_bad_tensor_init_arguments():
    with pytest.raises(DualcalcError, match="d2 must be a positive integer, got 0"):
        tensor_srht_init(jax.random.key(0), 3, 0, 4)
    with pytest.raises(DualcalcError, match="d1 must be a positive integer"):
        tensorsketch_init(jax.random.key(0), "3", 2, 4)


@pytest.mark.parametrize("init, apply", [(srht_init, srht_apply), (gaussian_init, gaussian_apply)])
def test_bad_apply_inputs(init, apply):
    params = init(jax.random.key(0), 4, 8)
    with pytest.raises(DualcalcError, match=r"x has 5 features .* drawn for d = 4"):
        apply(params, jnp.ones((3, 5)))
    with pytest.raises(DualcalcError, match="non-floating dtype int32"):
        apply(params, jnp.ones((3, 4), dtype=jnp.int32))
    with pytest.raises(DualcalcError, match="non-floating dtype complex128"):
        apply(params, np.ones((3, 4), dtype=np.complex128))
    with pytest.raises(DualcalcError, match="at least one axis"):
        apply(params, jnp.float64(1.0))
    with pytest.raises(DualcalcError, match=r"x has 5 features"):
        jax.jit(apply)(params, jnp.ones((3, 5)))  # the checks are static: they run under jit


def test_bad_tensor_inputs():
    params = tensor_srht_init(jax.random.key(0), 4, 5, 8)
    with pytest.raises(DualcalcError, match=r"x has 5 features .* d = 4"):
        tensor_srht_apply(params, jnp.ones(5), jnp.ones(5))
    with pytest.raises(DualcalcError, match="one width m .* got 8 and 7"):
        tensor_srht_combine(jnp.ones(8), jnp.ones(7))
    with pytest.raises(DualcalcError, match="one width m .* got 8 and 7"):
        tensorsketch_combine(jnp.ones(8), jnp.ones(7))

"""PolySketch: every block j = 0..p unbiased for <u, u'>^j, structure, work, shapes, errors.

Oracles: a naive evaluation of the tree, degree by degree and node by node through the public
SRHT / TensorSRHT maps (O(p^2) work, no shared subtrees); the exact expectation over every
draw of a degree-2 tree with d = m = 2; the closed form <u, u'>^j for averages over K keys
(5-sigma tolerances from the sample's standard errors, see support/sketch_oracles.py); the FFTs
in the traced program for the work count.
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
    assert_variance_times_m_constant,
    hartley_matrix,
    unit_pair,
)

from dualcalc.errors import DualcalcError
from dualcalc.sketch import (
    PolySketchParams,
    SRHTParams,
    TensorSRHTParams,
    polysketch_apply,
    polysketch_init,
    polysketch_transform_count,
    srht_apply,
)

PADDINGS = ("e1", "pass")
D, M = 5, 16  # one size for the deterministic tests: init compiles once per tree size


def _srht_np(signs, rows, x):
    """SRHT from its definition, sqrt(d / m) [H D x]_P with the dense Hartley matrix; signs
    (..., d), rows (..., m) and x (..., d) may carry matching leading axes."""
    signs, rows = np.asarray(signs), np.asarray(rows)
    d, m = signs.shape[-1], rows.shape[-1]
    picked = hartley_matrix(d)[rows]  # (..., m, d)
    return math.sqrt(d / m) * np.einsum("...rj,...j->...r", picked, signs * x)


def _combine_np(a, b):
    """TensorSRHT of two transformed factors: sqrt(m) a * b."""
    return math.sqrt(a.shape[-1]) * a * b


def _naive(params: PolySketchParams, u: np.ndarray, degree: int, padding: str) -> np.ndarray:
    """Each block from its own walk of the tree (numpy): leaves j..L-1 are padding, whose
    subtrees are params.e1_right (right SRHT already applied) for "e1", skipped for "pass"."""
    m = params.leaves.rows.shape[-1]
    n_leaves = 1 << max(degree - 1, 0).bit_length()
    left, right = params.nodes.left, params.nodes.right
    first_node = [0]  # index of the first node of each level, level 1 first
    while len(first_node) < n_leaves.bit_length():
        first_node.append(first_node[-1] + (n_leaves >> len(first_node)))

    def value(level, i, j):  # node i of level, fed u at leaves < j; never all padding
        if level == 0:
            return _srht_np(params.leaves.signs[i], params.leaves.rows[i], u)
        node = first_node[level - 1] + i
        a = value(level - 1, 2 * i, j)
        if (2 * i + 1) << (level - 1) >= j:  # the right subtree is all padding
            if padding == "pass":
                return a
            b = np.asarray(params.e1_right[node])
        else:
            b = _srht_np(right.signs[node], right.rows[node], value(level - 1, 2 * i + 1, j))
        return _combine_np(_srht_np(left.signs[node], left.rows[node], a), b)

    top = n_leaves.bit_length() - 1
    return np.stack([np.eye(m)[0]] + [value(top, 0, j) for j in range(1, degree + 1)])


def _as_pass(params: PolySketchParams) -> PolySketchParams:
    """The "pass" tree with the same draws: the paddings differ only in e1_right."""
    return params._replace(
        e1_right=jnp.zeros(params.e1_right.shape[:-2] + (0,) + params.e1_right.shape[-1:])
    )


def test_padding_changes_only_the_e1_subtrees():
    e1 = polysketch_init(jax.random.key(3), D, M, 5, padding="e1")
    passed = polysketch_init(jax.random.key(3), D, M, 5, padding="pass")
    for a, b in zip(jax.tree.leaves(_as_pass(e1)), jax.tree.leaves(passed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_matches_naive_tree_walk_for_every_degree():
    u = np.random.default_rng(0).standard_normal(D)
    apply = jax.jit(polysketch_apply)
    for degree in [3, 4, 5, 7, 8, 11]:  # trees of 4, 8 and 16 leaves
        params = polysketch_init(jax.random.key(degree), D, M, degree, padding="e1")
        for padding, p in (("e1", params), ("pass", _as_pass(params))):
            np.testing.assert_allclose(
                apply(p, u), _naive(p, u, degree, padding), rtol=0, atol=1e-12, err_msg=padding
            )


@pytest.mark.parametrize("degree", [4, 8])
def test_e1_subtrees_are_the_tree_fed_e1(degree):
    """With p a power of two every leaf is stored, so the all-e_1 subtrees can be rebuilt."""
    d = D
    params = polysketch_init(jax.random.key(1), D, M, degree)
    left, right = params.nodes.left, params.nodes.right
    e1 = np.eye(d)[0]
    value = [_srht_np(s, r, e1) for s, r in zip(*params.leaves, strict=True)]
    node, expected = 0, []
    while len(value) > 1:
        nxt = []
        for i in range(len(value) // 2):
            a = _srht_np(left.signs[node], left.rows[node], value[2 * i])
            b = _srht_np(right.signs[node], right.rows[node], value[2 * i + 1])
            expected.append(b)
            nxt.append(_combine_np(a, b))
            node += 1
        value = nxt
    np.testing.assert_allclose(params.e1_right, np.stack(expected), rtol=0, atol=1e-12)


def _all_srht(d: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    draws = list(
        itertools.product(
            itertools.product([-1.0, 1.0], repeat=d), itertools.product(range(d), repeat=m)
        )
    )
    return np.array([s for s, _ in draws]), np.array([r for _, r in draws], dtype=np.int32)


@pytest.mark.parametrize("padding", PADDINGS)
def test_degree_two_exact_mean_over_all_draws(padding):
    """d = m = 2, p = 2: 16 draws per SRHT, four SRHTs: all 65,536 trees, equally likely."""
    d = m = 2
    u, v = unit_pair(d, 0.35, seed=1)
    signs, rows = _all_srht(d, m)
    index = np.array(list(itertools.product(range(len(signs)), repeat=4)))
    leaves = SRHTParams(signs[index[:, :2]], rows[index[:, :2]])
    left = SRHTParams(signs[index[:, 2:3]], rows[index[:, 2:3]])
    right = SRHTParams(signs[index[:, 3:]], rows[index[:, 3:]])
    if padding == "e1":  # the root's right SRHT of leaf 1 fed e_1
        leaf1 = _srht_np(leaves.signs[:, 1], leaves.rows[:, 1], np.eye(d)[0])
        e1_right = _srht_np(right.signs[:, 0], right.rows[:, 0], leaf1)[:, None]
    else:
        e1_right = np.zeros((len(index), 0, m))
    params = PolySketchParams(leaves, TensorSRHTParams(left, right), e1_right)

    def inner(p):
        return jnp.sum(polysketch_apply(p, u) * polysketch_apply(p, v), axis=-1)

    mean = np.mean(jax.jit(jax.vmap(inner))(params), axis=0)
    np.testing.assert_allclose(mean, [1.0, u @ v, (u @ v) ** 2], rtol=0, atol=1e-13)


def test_every_block_unbiased_and_error_shrinks_like_one_over_sqrt_m():
    """p = 5, not a power of two: 3 of the 8 leaves only ever see padding. For each m and each
    padding, every block's mean over K keys is within 5 sigma of <u, v>^j; m Var of each block
    agrees across m (Var ~ c / m; the tree's O(1 / m^2) terms are below the resolution of
    K = 1000). Both paddings use the same draws (they differ only in e1_right)."""
    d, degree, count = 8, 5, 1000
    u, v = unit_pair(d, 0.8, seed=2)
    u = 1.1 * u  # not unit norm: block j estimates <u, v>^j = 0.88^j

    def one(key, m):
        params = polysketch_init(key, d, m, degree, jnp.float64, "e1")
        return tuple(
            jnp.sum(polysketch_apply(p, u) * polysketch_apply(p, v), axis=-1)
            for p in (params, _as_pass(params))
        )

    by_m = {}
    for m in (64, 256, 1024):
        keys = jax.random.split(jax.random.key(m), count)
        e1, passed = jax.jit(jax.vmap(lambda k, m=m: one(k, m)))(keys)
        by_m[m] = {"e1": np.asarray(e1), "pass": np.asarray(passed)}
    for padding in PADDINGS:
        for m, est in by_m.items():
            np.testing.assert_array_equal(est[padding][:, 0], 1.0)  # block 0: e_1, always
            for j in range(1, degree + 1):
                label = f"{padding}, m = {m}, block {j}"
                assert_unbiased(est[padding][:, j], float(u @ v) ** j, label)
        for j in range(1, degree + 1):
            assert_variance_times_m_constant(
                {m: e[padding][:, j] for m, e in by_m.items()}, f"{padding}, block {j}"
            )


def _fft_vectors(jaxpr) -> int:
    """Vectors transformed by the FFTs of a traced program (batch size of each fft op),
    including those inside nested programs (jit, custom rules)."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "fft":
            shape = eqn.invars[0].aval.shape
            total += math.prod(shape[: len(shape) - len(eqn.params["fft_lengths"])])
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += _fft_vectors(inner)
    return total


@pytest.mark.parametrize("padding", PADDINGS)
def test_work_is_order_p_log_p(padding):
    """One input costs at most p (log2 L + 1) SRHTs (p leaves, at most p per level); one tree
    per degree would cost p (3L - 2) (L leaves and 2 (L - 1) node transforms per degree)."""
    d, m = 4, 8
    for degree in [1, 2, 3, 5, 8, 13, 16, 32]:
        params = jax.eval_shape(  # shapes suffice to trace apply
            lambda k, degree=degree: polysketch_init(k, d, m, degree, padding=padding),
            jax.random.key(0),
        )
        traced = jax.make_jaxpr(polysketch_apply)(params, jnp.ones(d))
        counted = _fft_vectors(traced.jaxpr)
        n_leaves = 1 << max(degree - 1, 0).bit_length()
        assert counted == polysketch_transform_count(degree, padding)
        assert counted <= degree * (math.log2(n_leaves) + 1)
        if degree >= 8:
            assert counted <= 0.25 * degree * (3 * n_leaves - 2)


def test_shapes_dtypes_keys_jit_and_batch_axes():
    degree = 5
    params = polysketch_init(jax.random.key(0), D, M, degree)
    assert params.leaves.signs.shape == (degree, D) and params.nodes.left.rows.shape == (7, M)
    assert params.e1_right.shape == (7, M)
    assert polysketch_init(jax.random.key(0), D, M, degree, padding="pass").e1_right.shape == (
        0,
        M,
    )
    u = np.random.default_rng(0).standard_normal((2, 3, D))
    apply = jax.jit(polysketch_apply)
    out = apply(params, u)
    assert out.shape == (2, 3, degree + 1, M) and out.dtype == jnp.float64
    np.testing.assert_array_equal(out[..., 0, :], np.broadcast_to(np.eye(M)[0], (2, 3, M)))
    np.testing.assert_allclose(out[1, 2], apply(params, u[1, 2]), atol=1e-13)
    np.testing.assert_allclose(polysketch_apply(params, u[:1, :1]), out[:1, :1], atol=1e-13)
    again = polysketch_init(jax.random.key(0), D, M, degree)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other = apply(polysketch_init(jax.random.key(1), D, M, degree), u)
    assert not np.allclose(other[..., 1:, :], out[..., 1:, :])
    params32 = polysketch_init(jax.random.key(0), D, M, degree, jnp.float32)
    assert params32.leaves.signs.dtype == params32.e1_right.dtype == jnp.float32
    out32 = apply(params32, u.astype(np.float32))
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(out32, out, rtol=0, atol=1e-4 * float(np.max(np.abs(out))))
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), params, again)  # a stack of trees
    out = jax.vmap(apply, in_axes=(0, None))(stacked, u[0, 0])
    assert out.shape == (2, degree + 1, M)
    np.testing.assert_allclose(out[1], apply(again, u[0, 0]), atol=1e-13)


def test_degree_zero_and_one():
    params = polysketch_init(jax.random.key(0), 3, 4, 0)
    out = polysketch_apply(params, np.ones((2, 3)))
    np.testing.assert_array_equal(out, np.broadcast_to(np.eye(4)[:1], (2, 1, 4)))
    params = polysketch_init(jax.random.key(0), 3, 4, 1)
    leaf = SRHTParams(params.leaves.signs[0], params.leaves.rows[0])
    np.testing.assert_allclose(
        polysketch_apply(params, np.ones(3))[1], srht_apply(leaf, np.ones(3))
    )


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((4, 8, -1), {}, "degree must be a non-negative integer, got -1"),
        ((4, 8, 2.0), {}, "degree must be a non-negative integer, got 2.0"),
        ((4, 8, True), {}, "degree must be a non-negative integer, got the bool True"),
        ((4, 8, "3"), {}, "degree must be a non-negative integer, got '3'"),
        ((4, 0, 3), {}, "m must be a positive integer, got 0"),
        ((0, 8, 3), {}, "d must be a positive integer, got 0"),
        ((4, 8, 3), {"padding": "zero"}, r"padding must be one of \('e1', 'pass'\), got 'zero'"),
        ((4, 8, 3), {"dtype": np.int64}, "dtype must be float32 or float64, got int64"),
    ],
)
def test_bad_init_arguments(args, kwargs, message):
    with pytest.raises(DualcalcError, match=message):
        polysketch_init(jax.random.key(0), *args, **kwargs)


def test_bad_inputs():
    params = polysketch_init(jax.random.key(0), D, M, 3)
    with pytest.raises(DualcalcError, match=rf"u has 4 features .* drawn for d = {D}"):
        polysketch_apply(params, np.ones((2, 4)))
    with pytest.raises(DualcalcError, match="u must be a float32 or float64 array"):
        polysketch_apply(params, np.ones((2, D), dtype=np.int32))
    with pytest.raises(DualcalcError, match="degree must be a non-negative integer"):
        polysketch_transform_count(-2)

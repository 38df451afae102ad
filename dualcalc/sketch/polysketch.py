"""PolySketch (Ahle et al. 2020, "Oblivious sketching of high-degree polynomial kernels"):
sketches of u^(tensor j) for every degree j = 0..p from one binary tree of TensorSRHTs,

    E <P_j(u), P_j(u')> = <u, u'>^j        for each j = 0..p.

The tree has L = 2^ceil(log2 p) leaves, each an independent SRHT R^d -> R^m
(:mod:`dualcalc.sketch.srht`), and L - 1 internal nodes, each an independent TensorSRHT
R^m x R^m -> R^m (:mod:`dualcalc.sketch.tensor_srht`) of its two children. Fed the vectors
v_1..v_L at the leaves, the root sketches v_1 (x) ... (x) v_L: by induction each node is
unbiased for the product of its children's inner products, because the node's randomness
is independent of its children's. Degree j feeds u to the first j leaves; the other leaves
are padding, handled in one of two ways (``padding``):

- ``"e1"`` (Ahle et al.): the padding leaves get the unit vector e_1, so the root sketches
  u^(tensor j) (x) e_1^(tensor L-j), whose inner products are <u, u'>^j <e_1, e_1>^(L-j).
  The all-e_1 subtrees do not depend on the data: ``polysketch_init`` computes them, already
  transformed by their parent's right SRHT.
- ``"pass"``: a node whose right subtree holds only padding returns its left child unchanged
  (the identity is trivially unbiased); so block j is the same tree pruned to its first j
  leaves. Same unbiasedness, fewer transforms, and a much smaller variance for the low
  degrees, because each padding TensorSRHT multiplies every coordinate by the square of a
  Gaussian-like factor. Measured (benchmarks/bench_sketch_primitives.py: <u, v> = 0.8,
  d = 16, m = 64, p = 5, 4,000 trees), m Var of blocks j = 1..5: 55, 58, 44, 29, 22 with
  ``"e1"`` against 1.4, 6.2, 9.0, 10.3, 9.5 with ``"pass"``.

Sharing: all degrees use the same tree, so the blocks are correlated, but each block on its
own is exactly the output of one tree of independent SRHTs and TensorSRHTs (pruned, for
"pass") on its own input, hence unbiased: the expectation of one block never involves another
block. (Sums of blocks, as in sum_j a_j^2 <P_j(u), P_j(u')>, stay unbiased; their variance
includes the blocks' covariances.) Block 0, the sketch of the empty
tensor, is returned as the exact unit vector e_1 of R^m (inner product exactly 1, no variance).

Work per input: for degree j the nodes left of the path from leaf j to the root see only u.
Those all-u subtrees are computed once for all degrees; what remains is at most one transform
per level for each degree on its path, so one input costs at most p leaf SRHTs (length d) and
p log2 L node SRHTs (length m): O(p log p) node evaluations, not the O(p^2) of one tree per
degree (p (3L - 2) transforms; at p = 64 the tree does 3.7 % of that with "e1", 2.6 % with
"pass"). The transforms of one level run as one stacked FFT.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from dualcalc.errors import DualcalcError
from dualcalc.sketch.srht import SRHTParams, draw_srht, srht_transform
from dualcalc.sketch.tensor_srht import TensorSRHTParams
from dualcalc.sketch.validation import check_degree, check_dtype, check_input, check_size

PADDINGS = ("e1", "pass")


class PolySketchParams(NamedTuple):
    """One PolySketch tree for degrees 0..p; d, m, p and the padding are read from shapes.

    Internal nodes are stored level by level from the leaves up (level 1: L / 2 nodes, ...,
    the root last), each as a TensorSRHT with a left and a right SRHT.
    """

    leaves: SRHTParams  # signs (p, d), rows (p, m): the leaves that ever see u
    nodes: TensorSRHTParams  # left / right SRHTs, signs and rows (L - 1, m) each
    e1_right: jax.Array  # "e1": (L - 1, m), each node's right SRHT of its all-e_1 right
    #                      child; "pass": (0, m)


class _Level(NamedTuple):
    """Static index plan of one tree level (numpy int arrays, built once per degree)."""

    inputs: np.ndarray  # (J,) values of the previous level to transform
    params: np.ndarray  # (J,) SRHT of each transform: node index, + (L - 1) for the right side
    data_pairs: np.ndarray  # (A, 2) products transformed x transformed
    e1_pairs: np.ndarray  # (B, 2) transformed value x e1_right[node] ("e1" padding)
    passed: np.ndarray  # (C,) values of the previous level passed on unchanged ("pass")


class _Plan(NamedTuple):
    levels: tuple[_Level, ...]
    output: np.ndarray  # (p,) index of degree j = 1..p in the last level's values


def polysketch_init(
    key: jax.Array,
    d: int,
    m: int,
    degree: int,
    dtype: DTypeLike | None = None,
    padding: Literal["e1", "pass"] = "e1",
) -> PolySketchParams:
    """Draw the tree's leaf SRHTs and L - 1 TensorSRHTs from ``key`` (any degree >= 0: the
    tree is rounded up to a power of two leaves); for "e1" padding, precompute the all-e_1
    subtrees."""
    d, m = check_size(d, "d"), check_size(m, "m")
    degree, dtype = check_degree(degree), check_dtype(dtype)
    if padding not in PADDINGS:
        raise DualcalcError(f"padding must be one of {PADDINGS}, got {padding!r}")
    n_leaves = _leaf_count(degree)
    key_leaves, key_nodes = jax.random.split(key)
    leaves = draw_srht(key_leaves, (n_leaves,), d, m, dtype)
    nodes = draw_srht(key_nodes, (2, n_leaves - 1), m, m, dtype)
    left, right = (SRHTParams(nodes.signs[side], nodes.rows[side]) for side in (0, 1))
    used = SRHTParams(leaves.signs[:degree], leaves.rows[:degree])
    if padding == "pass" or n_leaves == 1:
        return PolySketchParams(used, TensorSRHTParams(left, right), jnp.zeros((0, m), dtype))
    e1 = jnp.zeros((d,), dtype).at[0].set(1)
    value = srht_transform(leaves.signs, leaves.rows, e1)  # all-e_1 values of one level
    e1_right, start = [], 0
    while value.shape[0] > 1:
        level = slice(start, start + value.shape[0] // 2)
        t_left = srht_transform(left.signs[level], left.rows[level], value[0::2])
        t_right = srht_transform(right.signs[level], right.rows[level], value[1::2])
        e1_right.append(t_right)
        value, start = t_left * t_right * jnp.asarray(math.sqrt(m), dtype), level.stop
    return PolySketchParams(used, TensorSRHTParams(left, right), jnp.concatenate(e1_right))


def polysketch_apply(params: PolySketchParams, u: jax.Array) -> jax.Array:
    """Sketches of u^(tensor j), j = 0..p, on the last axis: (..., d) -> (..., p + 1, m).

    Block j satisfies E <P_j(u), P_j(u')> = <u, u'>^j; block 0 is e_1 for every u.
    ``params`` is one draw (stacks of draws: ``jax.vmap``).
    """
    u = check_input(u, params.leaves.signs.shape[-1], "u")
    degree, m = params.leaves.signs.shape[-2], params.leaves.rows.shape[-1]
    dtype = u.dtype
    constant = jnp.broadcast_to(jnp.zeros((m,), dtype).at[0].set(1), u.shape[:-1] + (1, m))
    if degree == 0:
        return constant
    plan = _plan(degree, "pass" if params.e1_right.shape[-2] == 0 else "e1")
    signs = jnp.concatenate([params.nodes.left.signs, params.nodes.right.signs])
    rows = jnp.concatenate([params.nodes.left.rows, params.nodes.right.rows])
    e1_right = params.e1_right.astype(dtype)
    scale = jnp.asarray(math.sqrt(m), dtype)
    values = srht_transform(params.leaves.signs, params.leaves.rows, u[..., None, :])
    for level in plan.levels:
        transformed = srht_transform(
            signs[level.params], rows[level.params], values[..., level.inputs, :]
        )
        parts = []
        if len(level.data_pairs):
            left, right = level.data_pairs[:, 0], level.data_pairs[:, 1]
            parts.append(transformed[..., left, :] * transformed[..., right, :] * scale)
        if len(level.e1_pairs):
            left, node = level.e1_pairs[:, 0], level.e1_pairs[:, 1]
            parts.append(transformed[..., left, :] * e1_right[node] * scale)
        if len(level.passed):
            parts.append(values[..., level.passed, :])
        values = jnp.concatenate(parts, axis=-2)
    return jnp.concatenate([constant, values[..., plan.output, :]], axis=-2)


def polysketch_transform_count(degree: int, padding: Literal["e1", "pass"] = "e1") -> int:
    """SRHTs that ``polysketch_apply`` runs per input (leaves and nodes), at most p (log2 L + 1)."""
    degree = check_degree(degree)
    if padding not in PADDINGS:
        raise DualcalcError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if degree == 0:
        return 0
    return degree + sum(len(level.inputs) for level in _plan(degree, padding).levels)


def _leaf_count(degree: int) -> int:
    """L = 2^ceil(log2 degree) leaves (one for degrees 0 and 1)."""
    return 1 << max(degree - 1, 0).bit_length()


@lru_cache(maxsize=64)
def _plan(degree: int, padding: str) -> _Plan:
    """Which values each level transforms, multiplies or passes on, for degrees 1..p.

    Values are named ("u", l, i) for node i of level l fed only u (level 0: the leaves), and
    ("mix", l, j) for the node of level l on degree j's path when it also covers padding.
    Transforms are named (value, node, side) and deduplicated, so a shared all-u child is
    transformed once per parent side whatever the number of degrees that use it.
    """
    n_leaves = _leaf_count(degree)
    names = [("u", 0, i) for i in range(degree)]
    levels, offset, level = [], 0, 0
    while (1 << level) < n_leaves:
        level += 1
        index = {name: k for k, name in enumerate(names)}
        transforms: dict[tuple, int] = {}
        data_pairs, data_names, e1_pairs, e1_names, passed, passed_names = ([] for _ in range(6))
        for i in range(degree >> level):  # all-u nodes
            left = _intern(transforms, (("u", level - 1, 2 * i), offset + i, 0))
            right = _intern(transforms, (("u", level - 1, 2 * i + 1), offset + i, 1))
            data_pairs.append((left, right))
            data_names.append(("u", level, i))
        for j in range(1, degree + 1):  # degree j's path node, when it covers padding
            if j % (1 << level) == 0:
                continue
            i, child = (j - 1) >> level, (j - 1) >> (level - 1)
            node, below = offset + i, _path(level - 1, j)
            if child % 2:  # left child all-u, right child on the path
                left = _intern(transforms, (("u", level - 1, 2 * i), node, 0))
                data_pairs.append((left, _intern(transforms, (below, node, 1))))
                data_names.append(("mix", level, j))
            elif padding == "e1":  # left child on the path, right child all-e_1
                e1_pairs.append((_intern(transforms, (below, node, 0)), node))
                e1_names.append(("mix", level, j))
            else:  # left child on the path, right child all padding: pass it on
                passed.append(index[below])
                passed_names.append(("mix", level, j))
        order = sorted(transforms, key=transforms.get)
        levels.append(
            _Level(
                inputs=np.array([index[value] for value, _, _ in order], dtype=np.int32),
                params=np.array(
                    [node + side * (n_leaves - 1) for _, node, side in order], dtype=np.int32
                ),
                data_pairs=np.array(data_pairs, dtype=np.int32).reshape(-1, 2),
                e1_pairs=np.array(e1_pairs, dtype=np.int32).reshape(-1, 2),
                passed=np.array(passed, dtype=np.int32),
            )
        )
        names = data_names + e1_names + passed_names  # the order apply concatenates them in
        offset += n_leaves >> level
    index = {name: k for k, name in enumerate(names)}
    top = len(levels)
    output = [index[_path(top, j)] for j in range(1, degree + 1)]
    return _Plan(tuple(levels), np.array(output, dtype=np.int32))


def _intern(table: dict, key: tuple) -> int:
    """The index of ``key`` in ``table``, adding it at the end when new."""
    return table.setdefault(key, len(table))


def _path(level: int, j: int) -> tuple:
    """Name of degree j's path node at ``level``: all-u when j fills it exactly."""
    if j % (1 << level) == 0:
        return ("u", level, j // (1 << level) - 1)
    return ("mix", level, j)

"""Pure-JAX Hermite route: coefficients a_k(q) for many variances, Mehler sums, edge moments.

Generated modules and the network runtime call these with a JAX-callable activation.
No sympy here. For a variance q (one per data point),

    a_k(q) = E[s(sqrt(q) z) h_k(z)] = int s(sqrt(q) z) sqrt(phi(z)) psi_k(z) dz,

with psi_k = h_k sqrt(phi) the Hermite functions (bounded, computed by their stable
three-term recurrence). Quadrature: composite Gauss-Legendre on |z| <= 12. Kinks
(``breakpoints`` in x) at 0 are panel edges shared by every q, so the rule is one matrix
product; a kink r != 0 sits at z = r / sqrt(q), different for each q, so those rules
are built per q. Mehler sums are float32-safe: rho is clipped, divisions are guarded
(no NaN value or gradient at rho = +-1, q = 0 or large q).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

#: Half-width of the z-domain: P(|z| > 12) = 3.6e-33, so the truncation is below 1e-16 ||s||.
Z_LIMIT = 12.0
#: Gauss-Legendre nodes per panel.
PANEL_NODES = 8


def default_nodes(degree: int) -> int:
    """Quadrature nodes sized to the degree: the panels resolve psi_degree's oscillation."""
    return int(max(192, 16 * math.ceil((4 * degree + 128) / 16)))


def _hermite_functions_np(z: np.ndarray, degree: int) -> np.ndarray:
    """psi_k(z), k = 0..degree, on the last axis (float64 numpy, for static rules)."""
    out = np.empty(z.shape + (degree + 1,))
    prev = np.zeros_like(z)
    cur = np.exp(-0.25 * z * z) / (2.0 * math.pi) ** 0.25
    for k in range(degree + 1):
        out[..., k] = cur
        prev, cur = cur, (z * cur - math.sqrt(k) * prev) / math.sqrt(k + 1)
    return out


@lru_cache(maxsize=32)
def _static_rule(nodes: int, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Positive half of the shared rule: (z > 0, w sqrt(phi(z)), psi matrix, panel width).

    An even number of equal panels on [-12, 12], so 0 is an edge and the rule is
    symmetric: psi_k(-z) = (-1)^k psi_k(z) halves the work.
    """
    panels = max(2, 2 * round(nodes / (2 * PANEL_NODES)))
    edges = np.linspace(0.0, Z_LIMIT, panels // 2 + 1)
    x, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    half = 0.5 * np.diff(edges)
    z = ((0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * x).ravel()
    weights = (half[:, None] * w).ravel() * np.exp(-0.25 * z * z) / (2.0 * math.pi) ** 0.25
    return z, weights, _hermite_functions_np(z, degree), 2.0 * Z_LIMIT / panels


@lru_cache(maxsize=32)
def _unit_rule() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre rule on [0, 1] with PANEL_NODES nodes."""
    x, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    return 0.5 * (x + 1.0), 0.5 * w


def _check(degree: int, breakpoints: Sequence[float]) -> tuple[float, ...]:
    if not isinstance(degree, (int, np.integer)) or not 0 <= degree <= 400:
        raise ValueError(f"degree must be an integer from 0 to 400, got {degree!r}")
    points = tuple(sorted(float(b) for b in breakpoints))
    if any(not math.isfinite(b) for b in points):
        raise ValueError("breakpoints must be finite numbers")
    return points


def coefficients(
    fn: Callable[[jax.Array], jax.Array],
    q: jax.Array,
    degree: int,
    breakpoints: Sequence[float] = (),
    nodes: int | None = None,
) -> jax.Array:
    """a_0..a_degree of fn at every variance in q: shape q.shape + (degree + 1,). jit-able.

    ``fn`` is an elementwise JAX function, ``breakpoints`` the x where it is not smooth,
    ``nodes`` the quadrature size per segment (default ``default_nodes(degree)``).
    """
    points = _check(degree, breakpoints)
    nodes = default_nodes(degree) if nodes is None else int(nodes)
    q = jnp.asarray(q)
    dtype = q.dtype if jnp.issubdtype(q.dtype, jnp.floating) else jnp.result_type(float)
    q = q.astype(dtype)
    positive = q > 0
    # Safe square root: value 0 and a finite (zero) gradient at q = 0.
    root = jnp.where(positive, jnp.sqrt(jnp.where(positive, q, 1.0)), 0.0)
    z, weights, psi, width = _static_rule(nodes, degree)
    x = root[..., None] * jnp.asarray(z, dtype)
    w = jnp.asarray(weights, dtype)
    right, left = fn(x) * w, fn(-x) * w
    even = (right + left) @ jnp.asarray(psi[:, 0::2], dtype)
    odd = (right - left) @ jnp.asarray(psi[:, 1::2], dtype)
    out = jnp.zeros(q.shape + (degree + 1,), dtype)
    out = out.at[..., 0::2].set(even).at[..., 1::2].set(odd)
    moving = tuple(b for b in points if b != 0.0)
    if moving:
        out = out + _kink_corrections(fn, root, degree, points, moving, width, dtype)
    return out


def _kink_corrections(fn, root, degree, points, moving, width, dtype) -> jax.Array:
    """Re-integrate each static panel that holds a kink z = r / sqrt(q), split at the kinks.

    For each moving kink the panel containing it is integrated again in pieces between
    all kinks inside it, minus the panel's plain rule; a panel holding several kinks is
    corrected once (by its first kink).
    """
    u, w = (jnp.asarray(v, dtype) for v in _unit_rule())
    safe = jnp.where(root > 0, root, 1.0)
    cuts = jnp.stack(
        [
            jnp.where(root > 0, jnp.clip(b / safe, -Z_LIMIT, Z_LIMIT), math.copysign(Z_LIMIT, b))
            for b in points
        ],
        axis=-1,
    )  # q.shape + (kinks,)
    panels = round(2 * Z_LIMIT / width)
    moving_cuts = jnp.stack([cuts[..., points.index(b)] for b in moving], axis=-1)
    index = jnp.clip(jnp.floor((moving_cuts + Z_LIMIT) / width), 0, panels - 1)
    lo = -Z_LIMIT + index * width
    hi = lo + width
    owner = jnp.ones(index.shape, bool)
    for i in range(1, len(moving)):
        first = jnp.all(index[..., i : i + 1] != index[..., :i], axis=-1)
        owner = owner.at[..., i].set(first)
    inside = jnp.sort(jnp.clip(cuts[..., None, :], lo[..., None], hi[..., None]), axis=-1)
    bounds = jnp.concatenate([lo[..., None], inside, hi[..., None]], axis=-1)
    seg_lo, seg_width = bounds[..., :-1], jnp.diff(bounds, axis=-1)
    z_new = seg_lo[..., None] + seg_width[..., None] * u  # (..., moving, segments, nodes)
    w_new = seg_width[..., None] * w
    z_old = lo[..., None] + width * u  # (..., moving, nodes)
    w_old = jnp.broadcast_to(-width * w, z_old.shape)
    z_all = jnp.concatenate([z_new.reshape(*z_new.shape[:-2], -1), z_old], axis=-1)
    w_all = jnp.concatenate([w_new.reshape(*w_new.shape[:-2], -1), w_old], axis=-1)
    w_all = w_all * owner[..., None]
    values = fn(root[..., None, None] * z_all) * w_all * _psi0(z_all)
    return _project(values, z_all, degree)


def _psi0(z: jax.Array) -> jax.Array:
    return jnp.exp(-0.25 * z * z) * (2.0 * math.pi) ** -0.25


def _project(values: jax.Array, z: jax.Array, degree: int) -> jax.Array:
    """sum over the last two axes of values * psi_k(z), k = 0..degree (recurrence in a scan)."""
    sqrt_k = jnp.sqrt(jnp.arange(degree + 1, dtype=z.dtype))
    sqrt_k1 = jnp.sqrt(jnp.arange(1, degree + 2, dtype=z.dtype))

    def step(carry, k):
        prev, cur = carry  # psi_(k-1)(z), psi_k(z)
        total = jnp.sum(values * cur, axis=(-2, -1))
        nxt = (z * cur - sqrt_k[k] * prev) / sqrt_k1[k]
        return (cur, nxt), total

    init = (jnp.zeros_like(z), _psi0(z))
    _, out = jax.lax.scan(step, init, jnp.arange(degree + 1))
    return jnp.moveaxis(out, 0, -1)


def _clip_rho(rho: jax.Array) -> jax.Array:
    return jnp.clip(rho, -1.0, 1.0)


def _horner(products: jax.Array, rho: jax.Array) -> jax.Array:
    """sum_k products[..., k] rho^k (Horner, over the last axis)."""
    products = jnp.moveaxis(products, -1, 0)[::-1]

    def step(acc, p):
        return acc * rho + p, None

    init = jnp.zeros(jnp.broadcast_shapes(products.shape[1:], jnp.shape(rho)), products.dtype)
    out, _ = jax.lax.scan(step, init, products)
    return out


def mehler_nngp(a1: jax.Array, a2: jax.Array, rho: jax.Array) -> jax.Array:
    """K = sum_k a1_k a2_k rho^k, rho clipped to [-1, 1]; coefficients on the last axis."""
    return _horner(a1 * a2, _clip_rho(jnp.asarray(rho)))


def derivative_coefficients(a: jax.Array, q: jax.Array, slope0: float) -> jax.Array:
    """b_j = sqrt(j+1) a_(j+1)(q) / sqrt(q): coeffs of s'(sqrt(q) z); (s'(0), 0, ..) at q = 0."""
    q = jnp.asarray(q)
    positive = q > 0
    root = jnp.sqrt(jnp.where(positive, q, 1.0))[..., None]
    k = jnp.sqrt(jnp.arange(1, a.shape[-1], dtype=a.dtype))
    b = k * a[..., 1:] / root
    limit = jnp.zeros(b.shape[-1], a.dtype).at[0].set(slope0)
    return jnp.where(positive[..., None], b, limit)


def mehler_dnngp(
    a1: jax.Array, a2: jax.Array, rho: jax.Array, q1: jax.Array, q2: jax.Array, slope0: float = 0.0
) -> jax.Array:
    """K' = sum_k k a1_k a2_k rho^(k-1) / sqrt(q1 q2), rho clipped; q = 0 uses s'(0) = slope0."""
    b1 = derivative_coefficients(a1, q1, slope0)
    b2 = derivative_coefficients(a2, q2, slope0)
    return _horner(b1 * b2, _clip_rho(jnp.asarray(rho)))


def correlation(q1: jax.Array, q2: jax.Array, c: jax.Array) -> jax.Array:
    """rho = c / sqrt(q1 q2), clipped to [-1, 1]; 0 where q1 q2 = 0 (finite gradients)."""
    prod = jnp.asarray(q1) * jnp.asarray(q2)
    positive = prod > 0
    return _clip_rho(jnp.where(positive, c / jnp.sqrt(jnp.where(positive, prod, 1.0)), 0.0))


def hermite_nngp(
    fn: Callable[[jax.Array], jax.Array],
    q1: jax.Array,
    q2: jax.Array,
    c: jax.Array,
    degree: int = 64,
    breakpoints: Sequence[float] = (),
) -> jax.Array:
    """NNGP map K(q1, q2, c) of fn by the Hermite route (coefficients per variance + Mehler)."""
    a1 = coefficients(fn, q1, degree, breakpoints)
    a2 = coefficients(fn, q2, degree, breakpoints)
    return mehler_nngp(a1, a2, correlation(q1, q2, c))


def hermite_dnngp(
    fn: Callable[[jax.Array], jax.Array],
    q1: jax.Array,
    q2: jax.Array,
    c: jax.Array,
    degree: int = 64,
    breakpoints: Sequence[float] = (),
) -> jax.Array:
    """K'(q1, q2, c) of fn: Mehler's derivative series, s'(0) = jax.grad(fn)(0) for q = 0."""
    a1 = coefficients(fn, q1, degree, breakpoints)
    a2 = coefficients(fn, q2, degree, breakpoints)
    slope0 = jax.grad(lambda x: fn(x))(jnp.zeros((), a1.dtype))
    b1 = derivative_coefficients(a1, q1, 0.0)
    b2 = derivative_coefficients(a2, q2, 0.0)
    b1 = b1.at[..., 0].set(jnp.where(jnp.asarray(q1) > 0, b1[..., 0], slope0))
    b2 = b2.at[..., 0].set(jnp.where(jnp.asarray(q2) > 0, b2[..., 0], slope0))
    return _horner(b1 * b2, correlation(q1, q2, c))


#: Quadrature nodes of the edge moments: fine panels, since s(sqrt(q) z)^2 narrows as q grows.
EDGE_NODES = default_nodes(400)


def edge_moments(
    fn: Callable[[jax.Array], jax.Array], q: jax.Array, breakpoints: Sequence[float] = ()
) -> tuple[jax.Array, jax.Array]:
    """(E[fn(sqrt(q) z)^2], E[fn(sqrt(q) z) fn(-sqrt(q) z)]): the duals at rho = +1 and -1.

    1-D quadrature per variance (q's own shape), kinks of fn at ``breakpoints``; these are the
    exact values the dual takes on the edge of its domain, where a printed closed form with an
    infinite slope, a nudged form or a truncated Mehler series is not exact.
    """
    points = tuple(float(b) for b in breakpoints)
    mirrored = tuple(sorted(set(points) | {-b for b in points}))
    square = coefficients(lambda x: fn(x) * fn(x), q, 0, points, EDGE_NODES)[..., 0]
    mirror = coefficients(lambda x: fn(x) * fn(-x), q, 0, mirrored, EDGE_NODES)[..., 0]
    return square, mirror

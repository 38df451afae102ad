"""Activation layers in the kernel recursion: applying dual modules to the kernel state.

A *dual module* is anything with the generated-module protocol: pure JAX functions
``nngp(q1, q2, c)`` = E[s(u) s(v)], ``dnngp(q1, q2, c)`` = E[s'(u) s'(v)], ``activation(x)``,
``dactivation(x)`` and the canonical text ``EXPRESSION`` of s in ``x``. Texts and two
activations in a row (one activation s2(s1(x)) in the infinite-width limit) become dual
modules through ``runtime.duals`` (``resolve``, ``compose``), re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from dualcalc.errors import DualcalcError
from dualcalc.runtime._support.guards import on_edges
from dualcalc.runtime._support.hermite import edge_moments
from dualcalc.runtime.duals import compose, composed_text, resolve
from dualcalc.runtime.kernel_state import Array, KernelState, as_left, as_right, pixel_variances

__all__ = [
    "apply_dual",
    "compose",
    "composed_text",
    "dual_of_self_covariance",
    "flush",
    "resolve",
]


def flush(state: KernelState) -> KernelState:
    """Apply the pending activations (composed into one) to the state."""
    if not state.pending:
        return state
    module = compose(state.pending)
    return replace(apply_dual(state, module), pending=())


def apply_dual(state: KernelState, module: Any) -> KernelState:
    """K <- E[s(u)s(v)], Theta <- E[s'(u)s'(v)] Theta, per pixel pair, with the right variances.

    Pairs on the edge (rho = +-1 with equal variances: a pixel of a point with itself, a
    duplicated or mirrored input) take the module's exact edge values E[s(u)^2], E[s(u) s(-u)]
    (and the same for s'), computed once per pixel variance (``nngp_edges``). The module finds
    such pairs by value; the pixels of a point with itself are also known by position when x2
    is x1 (``same_points``), and are moved onto the edge first, so rounding cannot hide them.
    """
    k = state.spatial_ndim
    v1, v2 = pixel_variances(state.cov1, k), pixel_variances(state.cov2, k)
    f1, f2 = _floored(v1, state.nngp.dtype), _floored(v2, state.nngp.dtype)
    with_dot = state.ntk is not None and not state.ntk_is_zero
    if with_dot and module.DERIVATIVE_IS_DISTRIBUTION:
        raise DualcalcError(
            f"the NTK of {module.EXPRESSION} is not defined: s jumps, so s' contains a Dirac "
            "delta and K' = E[s'(u) s'(v)] is a distribution (ask for get='nngp')"
        )
    duals = hermite_duals if is_hermite_route(module) else closed_duals
    edges1 = Edges.of(module, f1, with_dot)
    edges2 = Edges.of(module, f2, False)
    selves = self_mask(state.nngp.shape, 2) & state.same_points
    cross = _onto_edge(state.nngp, f1, f2, selves)
    nngp, dot = duals(module, f1, f2, cross, 2, with_dot, edges1)
    nngp, dot = _selves_on_edge(nngp, dot, edges1, selves, 2)
    cov1 = _cov_dual(duals, module, f1, state.cov1, edges1)
    cov2 = _cov_dual(duals, module, f2, state.cov2, edges2)
    ntk = dot * state.ntk if with_dot else _zeros_unless_none(state.ntk, nngp)
    one = _runtime_one(state.same_points, nngp.dtype)
    nngp, ntk = nngp / one, None if ntk is None else ntk / one
    return replace(state, nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2)


def _runtime_one(flag: Array, dtype: Any) -> Array:
    """1, computed at run time from a traced flag (1 + 0 * flag), to divide K and Theta by.

    XLA recomputes cheap elementwise producers inside each consumer, so without the division
    every layer's K would be re-derived from the layer before in each of its 3 or 4
    consumers, a chain that grows with depth (FC depth 3 relu: 889 -> 655 ops per entry); a
    division is costly enough that XLA stores it once. An optimization barrier does not do
    it (XLA's CPU pipeline removes barriers before fusion); a constant 1 would be folded away.
    """
    return 1.0 + 0.0 * jnp.asarray(flag, dtype)


def dual_of_self_covariance(module: Any, cov: Array, k: int) -> Array:
    """E[s(u_p) s(u_p')] for the pixel pairs of each input with itself: cov (n, s1, s1', ...).

    The kernel recursion restricted to one batch's self-pairs (what ``KernelState.cov1``
    carries); with k = 0, cov is (n,) and this is E[s(sqrt(q) z)^2] per point.
    """
    f = _floored(pixel_variances(cov, k), cov.dtype)
    duals = hermite_duals if is_hermite_route(module) else closed_duals
    return _cov_dual(duals, module, f, cov, Edges.of(module, f, False))


def _cov_dual(duals: Any, module: Any, f: Array, cov: Array, edges: Edges) -> Array:
    """The dual of one batch's self-covariance cov (n, s1, s1', ...), pixels with themselves
    on the edge (``_selves_on_edge``)."""
    value, _ = duals(module, f, f, cov, 1, False, edges)
    return _selves_on_edge(value, None, edges, self_mask(cov.shape, 1), 1)[0]


def _selves_on_edge(
    nngp: Array, dot: Array | None, edges: Edges, selves: Array, batch_axes: int
) -> tuple[Array, Array | None]:
    """K and K' with the pixels of a point with themselves set to E[s(u)^2] and E[s'(u)^2].

    Same value as ``on_edges`` places, but differentiable the way a self pair moves: its
    q1 = q2 = c move together, so d/dq E[s(sqrt(q) z)^2] is the whole derivative (the dual's
    own partials are taken just inside the edge, where a kinked s is off by O(sqrt(margin))
    and a truncated Mehler series by its tail).
    """
    out = []
    for which, value in (("nngp", nngp), ("dnngp", dot)):
        placed = None if value is None else edges.placed(which, batch_axes)
        if placed is not None:
            value = jnp.where(selves, placed[0].astype(value.dtype), value)
        out.append(value)
    return out[0], out[1]


@dataclass(frozen=True)
class Edges:
    """A module's duals on the edge, per variance: (K(+1), K(-1)) and (K'(+1), K'(-1)).

    ``native``: the module's nngp / dnngp take them (``edges=``) and place them itself, as
    generated modules do; other dual modules with kinks get them from 1-D quadrature of their
    ``activation`` / ``dactivation`` here, placed by ``on_edges`` after the call.
    """

    nngp: tuple[Array, Array] | None
    dnngp: tuple[Array, Array] | None
    native: bool

    @classmethod
    def of(cls, module: Any, v: Array, with_dot: bool) -> Edges:
        """Edge values at the variances v (None where neither source is available)."""
        if module.native_edges:
            dnngp = module.dnngp_edges(v) if with_dot else None
            return cls(tuple(module.nngp_edges(v)), None if dnngp is None else tuple(dnngp), True)
        if not _has_quadrature_inputs(module):
            return cls(None, None, False)
        kinks = tuple(float(r) for r in module.KINKS)
        dnngp = edge_moments(module.dactivation, v, kinks) if with_dot else None
        return cls(edge_moments(module.activation, v, kinks), dnngp, False)

    def placed(self, which: str, batch_axes: int) -> tuple[Array, Array] | None:
        """The edge values reshaped to broadcast as the first point of each pair."""
        values = getattr(self, which)
        return None if values is None else tuple(as_left(e, batch_axes) for e in values)


def _has_quadrature_inputs(module: Any) -> bool:
    """Kinked s (singular duals at rho = +-1) with s, s' and the kinks known for 1-D quadrature."""
    return module.dactivation is not None and len(module.KINKS) > 0


def _onto_edge(c: Array, v1: Array, v2: Array, mask: Array) -> Array:
    """c with the masked pairs set to sqrt(q1) sqrt(q2) (rho = 1 exactly)."""
    bound = jnp.sqrt(as_left(v1, 2)) * jnp.sqrt(as_right(v2, 2))
    return jnp.where(mask, bound.astype(c.dtype), c)


def _zeros_unless_none(ntk: Array | None, like: Array) -> Array | None:
    """The still-zero NTK in the shape of ``like`` (None stays None: the NTK is not wanted)."""
    return None if ntk is None else jnp.zeros_like(like)


def self_mask(shape: tuple[int, ...], batch_axes: int) -> Array:
    """True where an entry pairs a pixel of a point with itself (rho = 1 exactly)."""
    mask = jnp.ones((1,) * len(shape), dtype=bool)
    pairs = [(0, 1)] if batch_axes == 2 else []
    pairs += [(a, a + 1) for a in range(batch_axes, len(shape), 2)]
    for a, b in pairs:
        eye = jnp.eye(shape[a], shape[b], dtype=bool)
        dims = [1] * len(shape)
        dims[a], dims[b] = shape[a], shape[b]
        mask = mask & eye.reshape(dims)
    return mask


def _floored(v: Array, dtype: Any) -> Array:
    """Variances in ``dtype`` raised to eps^2: zero-norm inputs get the kernel's limit."""
    return jnp.maximum(v.astype(dtype), jnp.finfo(dtype).eps ** 2)


def closed_duals(
    module: Any, v1: Array, v2: Array, c: Array, batch_axes: int, with_dot: bool, edges: Edges
) -> tuple[Array, Array | None]:
    """(K, K') from the module's own nngp / dnngp (K' None unless ``with_dot``);
    v1, v2 floored variances, c clipped here, edge values from ``edges`` where known."""
    q1, q2 = as_left(v1, batch_axes), as_right(v2, batch_axes)
    nngp = _dual(module.nngp, q1, q2, c, edges.placed("nngp", batch_axes), edges.native)
    if not with_dot:
        return nngp, None
    dot = _dual(module.dnngp, q1, q2, c, edges.placed("dnngp", batch_axes), edges.native)
    return nngp, dot


def is_hermite_route(module: Any) -> bool:
    """True for generated Hermite-route modules (coefficients a_k(q) instead of a closed form)."""
    return (
        module.CLOSED_FORM is False
        and module.hermite is not None
        and isinstance(module.HERMITE_DEGREE, int)
    )


def hermite_duals(
    module: Any, v1: Array, v2: Array, c: Array, batch_axes: int, with_dot: bool, edges: Edges
) -> tuple[Array, Array | None]:
    """Mehler sums with coefficients computed once per pixel variance, not per pixel pair.

    K = sum_k a_k(q1) a_k(q2) rho^k and K' = sum_k b_k(q1) b_k(q2) rho^k with
    b_k = sqrt(k + 1) a_(k+1) / sqrt(q); v1, v2 are floored variances (``_floored``). The
    truncated series is not exact on the edge: those pairs take ``edges`` (``on_edges``).
    """
    q1, q2 = as_left(v1, batch_axes), as_right(v2, batch_axes)
    bound = jnp.sqrt(q1) * jnp.sqrt(q2)
    rho = jnp.clip(c / bound, -1.0, 1.0)
    a1 = _coefficients(module, v1, as_left, batch_axes)
    a2 = _coefficients(module, v2, as_right, batch_axes)
    nngp = _with_edges(_horner(a1, a2, rho), q1, q2, c, edges.placed("nngp", batch_axes))
    if not with_dot:
        return nngp, None
    b1 = _derivative_coefficients(a1, q1)
    b2 = _derivative_coefficients(a2, q2)
    dot = _horner(b1, b2, rho)
    return nngp, _with_edges(dot, q1, q2, c, edges.placed("dnngp", batch_axes))


def _with_edges(value: Array, q1: Array, q2: Array, c: Array, edges: Any) -> Array:
    return value if edges is None else on_edges(value, q1, q2, c, edges)


def _coefficients(module: Any, v: Array, place: Any, batch_axes: int) -> Array:
    """a_k(v) for every pixel variance, shaped (degree + 1, *broadcastable pair shape)."""
    a = module.hermite(v, module.HERMITE_DEGREE).astype(v.dtype)
    return jax.vmap(lambda row: place(row, batch_axes))(jnp.moveaxis(a, -1, 0))


def _derivative_coefficients(a: Array, q: Array) -> Array:
    """b_k = sqrt(k + 1) a_(k+1) / sqrt(q): the Hermite coefficients of s'(sqrt(q) z)."""
    k = jnp.sqrt(jnp.arange(1, a.shape[0], dtype=a.dtype))
    k = k.reshape((-1,) + (1,) * (a.ndim - 1))
    return k * a[1:] / jnp.sqrt(q)[None]


#: Horner steps fused per loop iteration: the pair-sized accumulator is written to memory once
#: per HORNER_UNROLL coefficients (Myrtle-5 tanh, degree 128: 9.5 s -> 3.2 s per 64 x 64 block).
HORNER_UNROLL = 16


def _horner(a1: Array, a2: Array, rho: Array) -> Array:
    """sum_k a1[k] a2[k] rho^k, one pair-sized accumulator (the products are never stored)."""

    def step(acc: Array, pair: tuple[Array, Array]) -> tuple[Array, None]:
        return acc * rho + pair[0] * pair[1], None

    total, _ = lax.scan(step, jnp.zeros_like(rho), (a1[::-1], a2[::-1]), unroll=HORNER_UNROLL)
    return total


def _dual(fn: Any, q1: Array, q2: Array, c: Array, edges: Any, native: bool) -> Array:
    """Evaluate a dual at floored variances with |c| <= sqrt(q1 q2), edge values if known."""
    bound = jnp.sqrt(q1) * jnp.sqrt(q2)  # square roots per point, not per pair
    clipped = jnp.clip(c, -bound, bound)
    if edges is not None and native:
        value = fn(q1, q2, clipped, edges=edges)
    else:
        value = _with_edges(jnp.asarray(fn(q1, q2, clipped), c.dtype), q1, q2, clipped, edges)
    return jnp.broadcast_to(jnp.asarray(value, dtype=c.dtype), c.shape)

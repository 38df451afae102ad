"""Domain guards of a dual kernel K(q1, q2, c): exact values on the closed domain, finite slopes.

A printed closed form (or Mehler series) is evaluated at the *projected* point: variances
floored at ``Q_FLOOR`` (zero-norm inputs get the kernel's limit) and c clipped to
|c| <= (1 - margin) sqrt(q1 q2), margin 0 unless the form is 0/0 at rho = +-1. Derivatives are
taken at |rho| <= 1 - ``RHO_MARGIN`` (kinked duals have infinite slope at the edge), with
dK/dc = K' exactly when K' is known (Price's theorem). Where the printed form is not exact at
rho = +-1 (kinks, nudged forms, truncated series), the pairs on the edge with equal variances
(a point with itself, or with its mirror image) take E[s(u)^2] or E[s(u) s(-u)] from 1-D
quadrature instead (``on_edges``). Every helper is float32-safe: no NaN value or gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

#: Variances below this are raised to it, by float bytes.
Q_FLOOR = {4: 1e-12, 8: 1e-30}
#: Derivatives are taken at |rho| <= 1 - margin; values at the exact point. By float bytes.
RHO_MARGIN = {4: 1e-4, 8: 1e-8}
#: Pairs within this many ulps of rho = +-1 with variances this close count as on the edge.
EDGE_ULPS = 64


def as_float(*args):
    """The arguments as arrays of one floating dtype (float32 stays float32)."""
    dtype = jnp.result_type(*args, 1.0)
    return tuple(jnp.asarray(a, dtype) for a in args)


def kernel_args(q1, q2, c):
    """Floating q1, q2 in their own shapes (per-variance work stays small), c broadcast."""
    q1, q2, c = as_float(q1, q2, c)
    return q1, q2, jnp.broadcast_to(c, jnp.broadcast_shapes(q1.shape, q2.shape, c.shape))


def safe_sqrt(a):
    """sqrt(max(a, 0)) with gradient 0 where a <= 0 (double-where, no inf * 0)."""
    inside = a > 0
    return jnp.where(inside, jnp.sqrt(jnp.where(inside, a, 1.0)), 0.0)


def safe_arcsin(a):
    """arcsin(a) with a clipped to [-1, 1], gradient 0 where |a| >= 1."""
    inside = jnp.abs(a) < 1
    return jnp.where(inside, jnp.arcsin(jnp.where(inside, a, 0.0)), jnp.sign(a) * (jnp.pi / 2))


def safe_arccos(a):
    """arccos(a) with a clipped to [-1, 1], gradient 0 where |a| >= 1."""
    inside = jnp.abs(a) < 1
    edge = jnp.where(a > 0, 0.0, jnp.pi)
    return jnp.where(inside, jnp.arccos(jnp.where(inside, a, 0.0)), edge)


def cs_gap(q1, q2, c):
    """sqrt(q1 q2 - c^2), the Cauchy-Schwarz gap: exactly 0 within EDGE_ULPS of |rho| = 1.

    Collinear inputs reach |rho| = 1 only up to rounding, and the arc-cosine angle
    atan2(gap, c) turns a rounding error e into an angle sqrt(2 e) (1e-8 in float64); the
    kernels of kinked activations have infinite slope there. Within EDGE_ULPS the data cannot
    tell rho = 1 from its neighbours, so the gap is taken as 0: the edge value, exactly.
    """
    tol = EDGE_ULPS * jnp.finfo(c.dtype).eps
    on_edge = jnp.abs(c) >= (1.0 - tol) * (jnp.sqrt(q1) * jnp.sqrt(q2))
    return jnp.where(on_edge, 0.0, safe_sqrt(q1 * q2 - c * c))


def within_or(value, series, q1, q2, c, limits):
    """value up to the variance limit of its dtype, series(q1, q2, c) beyond it (the series is
    computed only when some pair needs it).

    ``limits``: (float32, float64) largest variances at which the printed closed form was
    checked to hold; closed forms built from exp(q) times a vanishing erfc or normal CDF
    cancel catastrophically or overflow beyond, although the kernel itself is moderate.
    """
    limit = limits[1] if c.dtype.itemsize == 8 else limits[0]
    beyond = jnp.maximum(q1, q2) > limit

    def replace(_):
        return jnp.where(beyond, jnp.broadcast_to(series(q1, q2, c), value.shape), value)

    return jax.lax.cond(jnp.any(beyond), replace, lambda _: value, None)


def floored(q):
    """Variances raised to Q_FLOOR of their dtype."""
    floor = Q_FLOOR.get(q.dtype.itemsize, Q_FLOOR[4])
    return jnp.where(q > floor, q, floor)


def project(q1, q2, c, margin):
    """Variances floored; c clipped to |c| <= (1 - margin) sqrt(q1 q2)."""
    q1, q2 = floored(q1), floored(q2)
    bound = (1.0 - margin) * (jnp.sqrt(q1) * jnp.sqrt(q2))
    return q1, q2, jnp.where(c > bound, bound, jnp.where(c < -bound, -bound, c))


def on_edges(value, q1, q2, c, edges):
    """value with the pairs at rho = +-1 and equal variances set to ``edges`` (K(+1), K(-1)).

    ``edges``: (E[s(sqrt(q1) z)^2], E[s(sqrt(q1) z) s(-sqrt(q1) z)]) in q1's own shape (per
    variance, not per pair). A pair is on the edge when its variances agree and |rho| reaches
    1 to within EDGE_ULPS ulps (one Gaussian twice, or mirrored, up to rounding). The
    replacement carries the gradient of ``value`` (its derivatives are taken inside).
    """
    q1, q2 = floored(q1), floored(q2)
    tol = EDGE_ULPS * jnp.finfo(c.dtype).eps
    same = jnp.abs(q1 - q2) <= tol * jnp.maximum(q1, q2)
    reach = (1.0 - tol) * (jnp.sqrt(q1) * jnp.sqrt(q2))
    square, mirror = (jnp.asarray(v, value.dtype) for v in edges)
    target = jnp.where(c >= reach, square, mirror)
    return _replaced(value, target, same & (jnp.abs(c) >= reach))


@jax.custom_jvp
def _replaced(value, target, where):
    """value with the entries at ``where`` replaced by target; tangents are value's own
    (a NaN or inaccurate value at the edge never leaks into the result)."""
    return jnp.where(where, target, value)


@_replaced.defjvp
def _replaced_jvp(primals, tangents):
    return _replaced(*primals), tangents[0]


def _value_margin(margins, dtype):
    return margins[1] if jnp.dtype(dtype).itemsize == 8 else margins[0]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def guarded(fn, dfn_dc, margins, q1, q2, c):
    """fn at the projected point: values on |rho| <= 1, limits at q = 0.

    ``margins``: (float32, float64) value margins: 0 where the printed form is exact at
    rho = +-1, else how far inside to evaluate it (see ``_extrapolated_to_edge``);
    ``dfn_dc``: K' = dK/dc, or None.
    """
    margin = _value_margin(margins, c.dtype)
    value = fn(*project(q1, q2, c, margin))
    return value if margin == 0.0 else _extrapolated_to_edge(fn, value, margin, q1, q2, c)


def _extrapolated_to_edge(fn, value, margin, q1, q2, c):
    """Nudged values of the pairs at |rho| = 1 (within EDGE_ULPS), extrapolated to the edge.

    Near the edge a dual is a series in s = sqrt(1 - |rho|) (the arc-cosine angle): f(s) =
    K(1) + B s + C s^2 + O(s^3), and for kinked activations B != 0, so the value nudged to
    1 - m is off by B sqrt(m) (1e-5 at m = 1e-10). The quadratic through s, 2s, 3s extrapolated
    to 0, 3 f(s) - 3 f(2s) + f(3s), leaves O(m^(3/2)). Only computed when a pair is on the edge.
    """
    lo1, lo2 = floored(q1), floored(q2)
    tol = EDGE_ULPS * jnp.finfo(c.dtype).eps
    edge = jnp.abs(c) >= (1.0 - tol) * (jnp.sqrt(lo1) * jnp.sqrt(lo2))

    def extrapolate(_):
        # 4 m and 9 m stacked on a new leading axis: one more trace of fn, not two.
        factors = jnp.asarray([4.0, 9.0], c.dtype).reshape((2,) + (1,) * c.ndim)
        twice, thrice = fn(*project(q1, q2, c, factors * margin))
        return jnp.where(edge, 3.0 * (value - twice) + thrice, value)

    return jax.lax.cond(jnp.any(edge), extrapolate, lambda _: value, None)


@guarded.defjvp
def _guarded_jvp(fn, dfn_dc, margins, primals, tangents):
    """Derivatives at the point moved inside by RHO_MARGIN (straight through the projection);
    the c-derivative is dfn_dc exactly when given (Price's theorem: dK/dc = K')."""
    q1, q2, c = primals
    value = guarded(fn, dfn_dc, margins, q1, q2, c)
    inner = project(q1, q2, c, RHO_MARGIN.get(c.dtype.itemsize, RHO_MARGIN[4]))
    if dfn_dc is None:
        return value, jax.jvp(fn, inner, tangents)[1]
    dq1, dq2, dc = tangents
    _, along_q = jax.jvp(fn, inner, (dq1, dq2, jnp.zeros_like(dc)))
    return value, along_q + dfn_dc(q1, q2, c) * dc

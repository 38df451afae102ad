"""Activation layers on features: sketched dual activations (PolySketch) and random features.

Kernel step: K <- E[s(u) s(v)], Theta <- E[s'(u) s'(v)] Theta per pair, u, v Gaussian with
the pair's covariance. By Mehler's formula, with rho = <u_x, u_y> for unit directions,

    K  = sum_k a_k(q_x) a_k(q_y) rho^k,   K' = sum_k b_k(q_x) b_k(q_y) rho^k,
    b_k(q) = sqrt(k + 1) a_(k+1)(q) / sqrt(q),

so ``polysketch``: psi(x) = S [a_k(q_x) P_k(u_x)]_k and chi(x) = S' [b_k(q_x) P_k(u_x)]_k,
with P_k the degree-k blocks of one PolySketch of the direction u_x = phi(x) / |phi(x)| and S,
S' SRHTs to m; q_x is the exact variance (``FeatureState.cov``), so each point's blocks carry
the coefficients of its own variance (Han et al. 2022, Alg. 1, at every input norm). The NTK
features become theta <- TensorSRHT(chi, theta), unbiased for K' Theta given chi and theta.
K and K' share one PolySketch draw: each of <psi, psi'> and <chi, chi'> is unbiased on its
own, and the NTK of the next layer is a sum of the two (an expectation of a sum needs no
independence); sharing only correlates their errors.

``random`` (Monte Carlo, any activation): h = phi G with G ~ N(0, I), psi = s(h) / sqrt(m),
chi = s'(h) / sqrt(m): a finite random layer, the baseline. ``arccos`` is the same for ReLU
(arc-cosine features of order 1 and 0, Cho & Saul; Zandieh et al. 2021), and ``leverage``
draws its weights with density proportional to |w|^2 N(w; 0, I) (Han et al. 2021): w = r v,
v uniform on the sphere, r^2 ~ chi-squared with d + 2 degrees of freedom, order-1 features
reweighted by sqrt(d / r^2) (unbiased: the density ratio is d / |w|^2); order-0 features
depend on the direction only, which is uniform under both laws, so they need no weight.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from dualcalc.features.state import Array, FeatureState
from dualcalc.runtime.elementwise import dual_of_self_covariance
from dualcalc.sketch import (
    PolySketchParams,
    SRHTParams,
    TensorSRHTParams,
    polysketch_apply,
    polysketch_init,
    srht_apply,
    srht_init,
    tensor_srht_apply,
    tensor_srht_init,
)

#: PolySketch padding: "pass" prunes the padding subtrees (same draws, far lower variance for
#: the low degrees, which carry the largest coefficients; see dualcalc.sketch.polysketch).
PADDING = "pass"
#: Canonical text of ReLU, the only activation of the arc-cosine methods.
RELU = "x*Heaviside(x)"


class PolySketchLayer(NamedTuple):
    """Random draws of one sketched activation layer."""

    poly: PolySketchParams
    out: SRHTParams | None  # [a_k P_k]_k -> the rest of m (None: nothing sketched)
    dout: SRHTParams | None  # [b_k P_k]_k -> the rest of m (NTK only)
    tensor: TensorSRHTParams | None  # (chi, theta) -> m (NTK after a weight layer)


class RandomLayer(NamedTuple):
    """Random draws of one random-feature activation layer."""

    weights: Array  # (d, m)
    scale: Array  # (m,) per-feature weights (ones, or sqrt(d / r^2) for leverage sampling)
    tensor: TensorSRHTParams | None


def exact_linear(d: int, m: int) -> bool:
    """Whether the degree-1 block is kept exactly (a_1(q) u itself, d columns): when the input
    width is small next to m (the first layer of a network on modest d), it costs little and
    removes the sketch's noise from what is often the largest term."""
    return 1 + d <= m // 4


def sketched_degrees(d: int, m: int) -> int:
    """The lowest degree that is sketched (degree 0 is always exact: one constant column)."""
    return 2 if exact_linear(d, m) else 1


def remaining_width(d: int, m: int) -> int:
    """Columns left for the sketched degrees: m less degree 0 (and degree 1 when exact)."""
    return m - 1 - (d if sketched_degrees(d, m) == 2 else 0)


def polysketch_layer(
    key: Any, d: int, ntk_width: int | None, m: int, degree: int, dtype: Any
) -> PolySketchLayer:
    """Draw a sketched activation for d-dimensional features (ntk_width: None = no NTK).

    Output layout (width m): [a_0(q)], then [a_1(q) u] when ``exact_linear``, then an SRHT
    of the remaining blocks [a_k(q) P_k(u)]_(k >= k0) to the rest of the width; the same for
    the K' features chi with b_k.
    """
    k_poly, k_out, k_dout, k_tensor = jax.random.split(key, 4)
    poly = polysketch_init(k_poly, d, m, degree, dtype=dtype, padding=PADDING)
    low = sketched_degrees(d, m)
    blocks = max(degree + 1 - low, 1) * m
    rest = remaining_width(d, m)
    drawn = degree >= low and rest > 0  # else nothing is sketched: zeros fill the rest
    out = srht_init(k_out, blocks, rest, dtype=dtype) if drawn else None
    if ntk_width is None:
        return PolySketchLayer(poly, out, None, None)
    dout = srht_init(k_dout, blocks, rest, dtype=dtype) if drawn else None
    tensor = tensor_srht_init(k_tensor, m, ntk_width, m, dtype=dtype)
    return PolySketchLayer(poly, out, dout, tensor)


def random_layer(
    key: Any, d: int, ntk_width: int | None, m: int, dtype: Any, leverage: bool = False
) -> RandomLayer:
    """Draw a random-feature activation: Gaussian weights, or leverage-score weights."""
    k_w, k_r, k_tensor = jax.random.split(key, 3)
    weights = jax.random.normal(k_w, (d, m), dtype)
    scale = jnp.ones((m,), dtype)
    if leverage:
        directions = weights / jnp.linalg.norm(weights, axis=0, keepdims=True)
        radius2 = 2.0 * jax.random.gamma(k_r, (d + 2) / 2.0, (m,), dtype)  # chi^2_(d+2)
        weights = directions * jnp.sqrt(radius2)
        scale = jnp.sqrt(d / radius2)
    tensor = None if ntk_width is None else tensor_srht_init(k_tensor, m, ntk_width, m, dtype=dtype)
    return RandomLayer(weights, scale, tensor)


def polysketch_apply_layer(
    module: Any, degree: int, params: PolySketchLayer, state: FeatureState
) -> FeatureState:
    """psi = [a_0, a_1 u, S (a_k(q) P_k(u))_k], chi the same with b_k, theta <- TS(chi, theta)."""
    phi = state.nngp
    q = state.variances()
    norm = jnp.sqrt(jnp.sum(phi * phi, axis=-1, keepdims=True))
    direction = phi / jnp.where(norm > 0, norm, 1.0)
    d, m = phi.shape[-1], params.poly.nodes.left.rows.shape[-1]
    low, rest = sketched_degrees(d, m), remaining_width(d, m)
    blocks = polysketch_apply(params.poly, direction)[..., low:, :]  # (..., degree + 1 - low, m)
    a, b = module.feature_coefficients(q, degree)
    nngp = _with_exact_low_degrees(a, direction, low, _sketched(params.out, a, low, blocks, rest))
    ntk = state.ntk
    if ntk is not None:
        if state.ntk_is_zero:
            ntk = jnp.zeros(nngp.shape, nngp.dtype)
        else:
            chi = _sketched(params.dout, b, low, blocks, rest)
            chi = _with_exact_low_degrees(b, direction, low, chi)
            ntk = tensor_srht_apply(params.tensor, chi, ntk)
    cov = dual_of_self_covariance(module, state.cov, state.spatial_ndim)
    return replace(state, nngp=nngp, ntk=ntk, cov=cov)


def _sketched(out: SRHTParams | None, c: Array, low: int, blocks: Array, width: int) -> Array:
    """SRHT of [c_k P_k]_(k >= low) to ``width`` columns; zeros when nothing is sketched (every
    degree kept exactly, or no width left: m = 1)."""
    if out is None:
        return jnp.zeros(blocks.shape[:-2] + (width,), blocks.dtype)
    return srht_apply(out, _weighted(c[..., low:], blocks))


def _with_exact_low_degrees(c: Array, direction: Array, low: int, sketched: Array) -> Array:
    """[c_0, c_1 u (when low = 2), sketched]: degree 0 (and 1) exactly, the rest sketched."""
    parts = [c[..., :1].astype(sketched.dtype)]
    if low == 2:
        parts.append(c[..., 1:2].astype(sketched.dtype) * direction)
    return jnp.concatenate(parts + [sketched], axis=-1)


def random_apply_layer(module: Any, params: RandomLayer, state: FeatureState) -> FeatureState:
    """psi = s(phi G) / sqrt(m), chi = s'(phi G) / sqrt(m), theta <- TensorSRHT(chi, theta)."""
    m = params.weights.shape[-1]
    h = state.nngp @ params.weights
    nngp = module.activation(h) * (params.scale / math.sqrt(m))
    ntk = state.ntk
    if ntk is not None:
        if state.ntk_is_zero:
            ntk = jnp.zeros(nngp.shape, nngp.dtype)
        else:
            chi = module.dactivation(h) / math.sqrt(m)
            ntk = tensor_srht_apply(params.tensor, chi, ntk)
    cov = dual_of_self_covariance(module, state.cov, state.spatial_ndim)
    return replace(state, nngp=nngp, ntk=ntk, cov=cov)


def _weighted(coefficients: Array, blocks: Array) -> Array:
    """[c_k P_k]_k flattened: (..., degree + 1) x (..., degree + 1, m) -> (..., (degree + 1) m)."""
    weighted = coefficients[..., None].astype(blocks.dtype) * blocks
    return weighted.reshape(weighted.shape[:-2] + (-1,))

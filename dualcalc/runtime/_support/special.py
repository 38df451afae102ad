"""Pure-JAX twins of ``dualcalc.derivation.special``: what generated kernels call at run time.

``bvn_cdf(h, k, rho)`` = Phi2(h, k; rho) by Genz's method (Drezner-Wesolowsky Gauss-Legendre
quadrature in asin(rho) for |rho| < 0.925, Genz's expansion around |rho| = 1 otherwise),
``normal_cdf(z)`` = Phi(z) and ``dawson(x)`` = exp(-x^2) int_0^x exp(t^2) dt (Rybicki's sum).
Float32-safe: every exponent is bounded above, divisions are guarded, and both branches of a
``jnp.where`` are finite so gradients are too.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

_NODES, _WEIGHTS = (tuple(float(v) for v in a) for a in np.polynomial.legendre.leggauss(20))
#: Rybicki's step and half-window (in units of h): error ~ exp(-(pi / 2h)^2) ~ 1e-17.
_DAWSON_STEP = 0.25
_DAWSON_TERMS = 30


def _floats(*args):
    """The arguments as broadcast arrays of one floating dtype (integers promoted)."""
    dtype = jnp.result_type(*args, 1.0)
    return jnp.broadcast_arrays(*(jnp.asarray(a, dtype) for a in args))


def normal_cdf(z):
    """Phi(z) = P(Z <= z), accurate in the lower tail."""
    (z,) = _floats(z)
    return ndtr(z)


def bvn_cdf(h, k, rho):
    """Phi2(h, k; rho) = P(Z1 <= h, Z2 <= k) for standard normals with correlation rho."""
    h, k, rho = _floats(h, k, rho)
    rho = jnp.clip(rho, -1.0, 1.0)
    return _upper_orthant(-h, -k, rho)


def _upper_orthant(h, k, r):
    """P(Z1 > h, Z2 > k) (Genz's BVNU)."""
    small = jnp.abs(r) < 0.925
    r_small = jnp.where(small, r, 0.0)
    r_large = jnp.where(small, 0.95, r)
    return jnp.where(small, _moderate(h, k, r_small), _near_one(h, k, r_large))


def _moderate(h, k, r):
    """|r| < 0.925: Phi(-h) Phi(-k) + (1/2pi) int_0^asin(r) exp(-(h^2+k^2-2hk sin t)/(2cos^2 t))."""
    hk = h * k
    hs = (h * h + k * k) / 2
    asr = jnp.arcsin(r)
    total = jnp.zeros_like(h)
    for x, w in zip(_NODES, _WEIGHTS, strict=True):
        sn = jnp.sin(asr * (x + 1) / 2)
        total = total + w * jnp.exp((sn * hk - hs) / (1 - sn * sn))
    return total * asr / (4 * math.pi) + ndtr(-h) * ndtr(-k)


def _near_one(h, k, r):
    """|r| >= 0.925: Genz's expansion of the singular part around |r| = 1 plus quadrature."""
    negative = r < 0
    k = jnp.where(negative, -k, k)
    hk = h * k
    one_minus = (1 - r) * (1 + r)
    exact = one_minus <= 0
    as_ = jnp.where(exact, 1.0, one_minus)
    a = jnp.sqrt(as_)
    bs = (h - k) ** 2
    c = (4 - hk) / 8
    d = (12 - hk) / 16
    value = (
        a
        * jnp.exp(-(bs / as_ + hk) / 2)
        * (1 - c * (bs - as_) * (1 - d * bs / 5) / 3 + c * d * as_ * as_ / 5)
    )
    b = jnp.where(bs > 0, jnp.sqrt(jnp.where(bs > 0, bs, 1.0)), 0.0)
    tail = jnp.exp(jnp.minimum(-hk / 2, 80.0)) * math.sqrt(2 * math.pi) * ndtr(-b / a) * b
    tail = tail * (1 - c * bs * (1 - d * bs / 5) / 3)
    value = value - jnp.where(hk > -160, tail, 0.0)
    half = a / 2
    for x, w in zip(_NODES, _WEIGHTS, strict=True):
        xs = (half * (x + 1)) ** 2
        rs = jnp.sqrt(1 - xs)
        asr = -(bs / xs + hk) / 2
        term = jnp.exp(jnp.minimum(-hk * xs / (2 * (1 + rs) ** 2), 80.0)) / rs
        term = half * w * jnp.exp(jnp.minimum(asr, 0.0)) * (term - (1 + c * xs * (1 + d * xs)))
        value = value + jnp.where(asr > -100, term, 0.0)
    value = jnp.where(exact, 0.0, -value / (2 * math.pi))
    positive_part = value + ndtr(-jnp.maximum(h, k))
    flipped = -value + jnp.where(
        k > h, jnp.where(h < 0, ndtr(k) - ndtr(h), ndtr(-h) - ndtr(-k)), 0.0
    )
    return jnp.where(negative, flipped, positive_part)


def dawson(x):
    """Dawson's integral D(x) = exp(-x^2) int_0^x exp(t^2) dt (Rybicki: sum over odd n)."""
    (x,) = _floats(x)
    step = _DAWSON_STEP
    centre = 2 * jnp.round(jnp.clip(x, -50.0, 50.0) / (2 * step))
    total = jnp.zeros_like(x)
    for j in range(-_DAWSON_TERMS, _DAWSON_TERMS):
        n = centre + 2 * j + 1
        total = total + jnp.exp(-((x - n * step) ** 2)) / n
    small = total / math.sqrt(math.pi)
    big = _dawson_asymptotic(jnp.where(jnp.abs(x) > 50, x, 50.0))
    return jnp.where(jnp.abs(x) > 50, big, small)


def _dawson_asymptotic(x):
    """D(x) ~ 1/(2x) (1 + 1/(2x^2) + 3/(4x^4) + 15/(8x^6) + 105/(16x^8)) for |x| > 50."""
    y = 1 / (2 * x * x)
    return (1 + y * (1 + y * (3 + y * (15 + 105 * y)))) / (2 * x)

"""The pure-JAX Hermite runtime against the mpmath reference and the float64 engine."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dualcalc import parse
from dualcalc.derivation.hermite import HermiteDual
from dualcalc.derivation.quadrature import hermite_coefficients_mp
from dualcalc.runtime._support.hermite import (
    coefficients,
    correlation,
    hermite_dnngp,
    hermite_nngp,
    mehler_dnngp,
    mehler_nngp,
)

FUNCTIONS = {
    "tanh": (jnp.tanh, ()),
    "relu": (jax.nn.relu, (0.0,)),
    "relu6": (lambda x: jnp.clip(x, 0.0, 6.0), (0.0, 6.0)),
    "hardtanh": (lambda x: jnp.clip(x, -1.0, 1.0), (-1.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_coefficients_against_mpmath(name):
    fn, kinks = FUNCTIONS[name]
    q = np.array([0.05, 1.0, 5.0])
    # Default nodes: ~1e-12 at q <= 1, ~1e-10 for tanh at q = 5; 576 nodes: < 1e-13.
    got = np.asarray(jax.jit(lambda v: coefficients(fn, v, 40, kinks))(jnp.asarray(q)))
    fine = np.asarray(coefficients(fn, jnp.asarray(q), 40, kinks, nodes=576))
    assert got.shape == (3, 41)
    for i, v in enumerate(q):
        ref = hermite_coefficients_mp(parse(name), 40, float(v), dps=20)
        assert np.max(np.abs(got[i] - ref)) < 1e-9, (name, v)
        assert np.max(np.abs(fine[i] - ref)) < 1e-13, (name, v)


def test_zero_variance_and_shapes():
    q = jnp.zeros((2, 3))
    a = coefficients(jnp.cos, q, 8)
    assert a.shape == (2, 3, 9)
    np.testing.assert_allclose(np.asarray(a[..., 0]), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(a[..., 1:]), 0.0, atol=1e-14)


def test_kernels_match_float64_engine():
    dual = HermiteDual(parse("tanh"))
    q1, q2 = jnp.array([0.3, 1.0, 4.0]), jnp.array([2.0, 1.0, 0.5])
    c = jnp.array([0.2, -0.7, 1.0]) * jnp.sqrt(q1 * q2)
    k = hermite_nngp(jnp.tanh, q1, q2, c, degree=80)
    dk = hermite_dnngp(jnp.tanh, q1, q2, c, degree=80)
    np.testing.assert_allclose(np.asarray(k), dual.kernel(q1, q2, c), atol=1e-9)
    np.testing.assert_allclose(np.asarray(dk), dual.dkernel(q1, q2, c), atol=1e-9)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_finite_values_and_gradients_at_edges(dtype):
    fn = jnp.tanh

    def nngp(q1, q2, c):
        a1, a2 = coefficients(fn, q1, 16), coefficients(fn, q2, 16)
        return mehler_nngp(a1, a2, correlation(q1, q2, c))

    def dnngp(q1, q2, c):
        a1, a2 = coefficients(fn, q1, 16), coefficients(fn, q2, 16)
        return mehler_dnngp(a1, a2, correlation(q1, q2, c), q1, q2, slope0=1.0)

    edges = [(1.0, 1.0, 1.0), (1.0, 1.0, -1.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1e4, 1e4, 1e4)]
    for args in edges:
        q1, q2, c = (jnp.asarray(v, dtype) for v in args)
        for f in (nngp, dnngp):
            value = f(q1, q2, c)
            grads = jax.grad(f, argnums=(0, 1, 2))(q1, q2, c)
            assert np.isfinite(float(value)), (f.__name__, args)
            assert all(np.isfinite(float(g)) for g in grads), (f.__name__, args)
    # zero-norm input: K(0, q, c) = s(0) E[s(v)] = 0 for tanh; K'(0, q, 0) = s'(0) E[s'(v)].
    assert abs(float(nngp(jnp.asarray(0.0, dtype), jnp.asarray(1.0, dtype), 0.0))) < 1e-6

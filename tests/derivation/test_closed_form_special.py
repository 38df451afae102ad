"""Special functions of the closed forms: sympy evalf, numpy and JAX against mpmath / scipy."""

from __future__ import annotations

import jax
import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import special as sps

from dualcalc.derivation.special import (
    BivariateNormalCDF,
    Dawson,
    NormalCDF,
    _bvn_mpmath,
    bvn_cdf_numpy,
)
from dualcalc.runtime._support import special as jspecial


def _cases(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, k = rng.normal(size=(2, count)) * 2.5
    rho = rng.uniform(-0.999, 0.999, size=count)
    h[::7], k[::11] = 0.0, -h[::11]
    return h, k, rho


def test_bvn_numpy_matches_mpmath() -> None:
    h, k, rho = _cases(0, 150)
    with mpmath.workdps(30):
        ref = np.array(
            [
                float(_bvn_mpmath(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r)))
                for a, b, r in zip(h, k, rho, strict=True)
            ]
        )
    assert np.max(np.abs(bvn_cdf_numpy(h, k, rho) - ref)) <= 1e-14


def test_bvn_edges() -> None:
    assert bvn_cdf_numpy(0.3, -0.2, 1.0) == pytest.approx(sps.ndtr(-0.2), abs=1e-15)
    assert bvn_cdf_numpy(0.3, 0.2, -1.0) == pytest.approx(sps.ndtr(0.3) - sps.ndtr(-0.2), abs=1e-15)
    assert bvn_cdf_numpy(0.0, 0.0, 0.5) == pytest.approx(0.25 + np.arcsin(0.5) / (2 * np.pi))


def test_bvn_jax_matches_numpy_and_has_finite_gradients() -> None:
    h, k, rho = _cases(1, 4000)
    rho[:300], rho[300:600], rho[600:650], rho[650:700] = 0.999, -0.999, 1.0, -1.0
    got = np.asarray(jspecial.bvn_cdf(h, k, rho))
    assert np.max(np.abs(got - bvn_cdf_numpy(h, k, rho))) <= 1e-14
    grads = jax.vmap(jax.grad(jspecial.bvn_cdf, argnums=(0, 1, 2)))(h, k, rho)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    f32 = jspecial.bvn_cdf(h.astype(np.float32), k.astype(np.float32), rho.astype(np.float32))
    assert f32.dtype == np.float32
    assert np.max(np.abs(np.asarray(f32) - bvn_cdf_numpy(h, k, rho))) <= 1e-6


def test_dawson_jax_matches_scipy() -> None:
    x = np.linspace(-80.0, 80.0, 4000)
    assert (
        np.max(np.abs(np.asarray(jspecial.dawson(x)) - sps.dawsn(x)) / np.abs(sps.dawsn(x))) < 1e-13
    )


def test_sympy_functions_evaluate_and_differentiate() -> None:
    x, y, r = sp.symbols("x y r", real=True)
    assert float(NormalCDF(sp.Float(-7)).evalf(30)) == pytest.approx(sps.ndtr(-7.0), rel=1e-14)
    assert float(Dawson(sp.Float(3)).evalf(30)) == pytest.approx(sps.dawsn(3.0), rel=1e-14)
    assert NormalCDF(0) == sp.S.Half and Dawson(0) == 0
    assert BivariateNormalCDF(0, 0, r) == sp.Rational(1, 4) + sp.asin(r) / (2 * sp.pi)
    point = {x: 0.4, y: -0.3, r: 0.6}
    value = BivariateNormalCDF(x, y, r)
    for var in (x, y, r):
        step = 1e-6
        plus = float(value.subs({**point, var: point[var] + step}).evalf(30))
        minus = float(value.subs({**point, var: point[var] - step}).evalf(30))
        exact = float(sp.diff(value, var).subs(point).evalf(30))
        assert (plus - minus) / (2 * step) == pytest.approx(exact, rel=1e-7)

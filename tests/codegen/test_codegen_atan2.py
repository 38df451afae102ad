"""The generated modules' ``fast_atan2`` (plain arithmetic, vectorisable) against libm's atan2.

numpy's ``arctan2`` (the platform libm, correctly rounded in practice) is the oracle: float64
to 2 ulp (Cephes' bound; 1 ulp in all but a few cases), float32 to 3 ulp, over magnitudes
1e-30..1e30, both signs, the axes, signed zeros, infinities and NaN; the derivative is checked
against its closed form.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dualcalc.runtime._support.atan2 import fast_atan2

ATAN2_FN = jax.jit(fast_atan2)


def _ulps(found: np.ndarray, exact: np.ndarray, dtype: type) -> np.ndarray:
    """|found - exact| in units of the last place of exact in dtype; below the normal range the
    unit is the smallest normal number (XLA's CPU flushes subnormals to zero)."""
    tiny = np.finfo(dtype).tiny
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    spacing = np.where(np.abs(exact) < tiny, tiny, spacing)
    return np.abs(found.astype(np.float64) - exact) / spacing


def _random_pairs(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(size) * 10.0 ** rng.uniform(-30, 30, size)
    x = rng.standard_normal(size) * 10.0 ** rng.uniform(-30, 30, size)
    near = rng.uniform(-1, 1, size // 4)  # arc-cosine angles: atan2(sqrt(1 - c^2), c)
    return np.concatenate([y, np.sqrt(1 - near**2)]), np.concatenate([x, near])


@pytest.mark.parametrize(("dtype", "bound"), [(np.float64, 2.0), (np.float32, 3.0)])
def test_atan2_matches_libm_to_the_last_ulp(dtype: type, bound: float) -> None:
    y, x = (a.astype(dtype) for a in _random_pairs(400_000, seed=3))
    exact = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    with jax.enable_x64(True):
        found = np.asarray(ATAN2_FN(jnp.asarray(y), jnp.asarray(x)))
    assert found.dtype == dtype
    assert _ulps(found, exact, dtype).max() <= bound


def test_atan2_special_values_follow_ieee() -> None:
    inf, nan = np.inf, np.nan
    y = np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 0.0, 0.0, inf, inf, -inf, 1.0, 1.0, nan, 1.0])
    x = np.array([0.0, 0.0, -0.0, -0.0, 0.0, 0.0, 1.0, -1.0, inf, -inf, 1.0, inf, -inf, 1.0, nan])
    with jax.enable_x64(True):
        found = np.asarray(ATAN2_FN(jnp.asarray(y), jnp.asarray(x)))
    exact = np.arctan2(y, x)
    np.testing.assert_array_equal(np.signbit(found), np.signbit(exact))
    np.testing.assert_allclose(found, exact, rtol=2e-16, atol=0)


def test_atan2_derivative_is_the_closed_form() -> None:
    y, x = _random_pairs(2000, seed=5)
    y, x = y * 1e-3, x * 1e-3  # moderate magnitudes: x^2 + y^2 stays finite
    keep = (np.abs(y) + np.abs(x) > 1e-100) & (np.abs(y) + np.abs(x) < 1e100)
    y, x = y[keep], x[keep]
    with jax.enable_x64(True):
        dy, dx = jax.vmap(jax.grad(fast_atan2, argnums=(0, 1)))(y, x)
        at_origin = jax.grad(fast_atan2, argnums=(0, 1))(0.0, 0.0)
    norm = x * x + y * y
    np.testing.assert_allclose(np.asarray(dy), x / norm, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(dx), -y / norm, rtol=1e-15)
    assert [float(g) for g in at_origin] == [0.0, 0.0]

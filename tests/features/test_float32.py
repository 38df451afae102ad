"""float32 runs of the feature maps (fc, myrtle, sketch; polysketch and random), x64 off.

The public call ``feature_map(x)`` must give float32, finite features whose Gram matrices are
PSD to rounding. Agreement with float64: one draw made in float64 (x64 on) and cast to float32
(as the estimators do), applied by the pure ``feature_map.apply`` in float32 (x64 off) and in
float64: the Gram matrices F F^T agree to 2^10 float32 ulps of max |F F^T| (the features pass
through a few FFT-based SRHTs of log2(m) stages and degree-many products per layer, each
stage a few ulps: the same allowance as the estimators' float32 test).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from float32_bounds import assert_float32_close, assert_psd_to_rounding

from dualcalc import features, nn

FEATURE_ULPS = 2**10
X = np.random.default_rng(3).normal(size=(5, 6)).astype(np.float32)
IMAGES = np.random.default_rng(4).normal(size=(2, 8, 8, 1)).astype(np.float32)


def _cast(params, dtype):
    """float64 draws as x64-off arrays: floats to dtype, integer indices to int32."""

    def one(a):
        a = np.asarray(a)
        return a.astype(dtype if jnp.issubdtype(a.dtype, jnp.floating) else np.int32)

    return jax.tree.map(one, params)


def _check(make, x32):
    """make() builds the map: one object per x64 mode (a map caches traced plans per mode)."""
    feature_map, twin64 = make(), make()
    with jax.enable_x64(True):
        params64 = twin64.draw(jax.random.PRNGKey(7), x32.shape[1:], np.float64)
        ref = jax.jit(twin64.apply)(params64, x32.astype(np.float64))
        grams64 = {n: np.asarray(getattr(ref, n)) @ np.asarray(getattr(ref, n)).T
                   for n in ("nngp", "ntk")}  # fmt: skip
    # jit, as every caller runs it (FeatureMap.__call__, the estimators' streaming step)
    got = jax.jit(feature_map.apply)(_cast(params64, np.float32), x32)
    for name, gram64 in grams64.items():
        f = np.asarray(getattr(got, name))
        assert f.dtype == np.float32
        gram32 = (f.astype(np.float64) @ f.astype(np.float64).T).astype(np.float32)
        assert_float32_close(gram32, gram64, FEATURE_ULPS, np.abs(gram64).max())
    phi = dict(zip(("nngp", "ntk"), feature_map(x32, get=("nngp", "ntk")), strict=True))
    for name in ("nngp", "ntk"):
        f = phi[name]
        assert f.dtype == np.float32 and np.all(np.isfinite(f)), name
        assert_psd_to_rounding(f.astype(np.float64) @ f.astype(np.float64).T, name)


@pytest.mark.parametrize("method", ["polysketch", "random"])
def test_fc_features_in_float32(float32, method):
    _check(lambda: features.fc("gelu", 2, m=128, key=jax.random.PRNGKey(0), method=method), X)


def test_sketch_of_a_network_in_float32(float32):
    net = nn.serial(nn.Dense(64, W_std=1.3, b_std=0.2), nn.Activation("tanh"), nn.Dense(1))
    _check(lambda: features.sketch(net, m=64, key=jax.random.PRNGKey(1)), X)


def test_myrtle_features_in_float32(float32):
    _check(lambda: features.myrtle("relu", 5, m=64, key=jax.random.PRNGKey(2), degree=2), IMAGES)

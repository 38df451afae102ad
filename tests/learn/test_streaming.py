"""Streaming ridge in feature space against scikit-learn's Ridge, numpy solves and explicit GCV.

Oracles: ``sklearn.linear_model.Ridge(fit_intercept=False)`` on the same features, explicit
feature matrices solved by numpy, GCV from the explicit hat matrix, and the single-device run
for the sharded one (8 host devices in a child process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from dualcalc import DualcalcError
from dualcalc.learn import streaming
from dualcalc.learn.feature_ridge import identity_features
from dualcalc.sklearn import FeatureRidge, FeatureTransformer

RNG = np.random.default_rng(20261204)
X = RNG.normal(size=(300, 5))
Y = np.stack([np.sin(X[:, 0]) + X[:, 1] ** 2, np.cos(X[:, 2])], axis=1)
Y += 0.1 * RNG.normal(size=Y.shape)
ALPHAS = np.logspace(-4, 2, 13)


def cosine_features(params, x):
    """Random Fourier features sqrt(2/m) cos(x W + b) (Rahimi and Recht 2007)."""
    w, b = params
    return jnp.sqrt(2.0 / w.shape[1]) * jnp.cos(x @ w + b)


def make_cosine_featurizer(n_features_in, random_state, n_components=48):
    """RBF kernel of length scale sqrt(n_features_in) in expectation."""
    w = random_state.normal(size=(n_features_in, n_components)) / np.sqrt(n_features_in)
    b = random_state.uniform(0.0, 2.0 * np.pi, size=n_components)
    return jax.tree_util.Partial(cosine_features, (w, b))


class CosineFactory:
    """make_featurizer as an object whose repr is stable across processes (test ids)."""

    def __call__(self, n_features_in, random_state):
        return make_cosine_featurizer(n_features_in, random_state)

    def __repr__(self):
        return "CosineFactory()"


def explicit_cosine(x, seed=0):
    featurizer = make_cosine_featurizer(x.shape[1], np.random.RandomState(seed))
    w, b = featurizer.args[0]
    return np.sqrt(2.0 / w.shape[1]) * np.cos(x @ w + b)


class RowCounter:
    """An array-like that records every read and refuses to be read whole."""

    def __init__(self, data):
        self.data, self.reads = data, []
        self.shape, self.ndim, self.dtype = data.shape, data.ndim, data.dtype

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        part = self.data[index]
        self.reads.append(len(part))
        return part

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was read")


@parametrize_with_checks(
    [
        FeatureRidge(),
        FeatureTransformer(make_featurizer=CosineFactory(), random_state=0),
        FeatureRidge(CosineFactory(), alpha=[0.01, 1.0], batch_size=32, random_state=0),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("alpha", [1e-3, 0.7, 30.0])
def test_identity_features_equal_sklearn_ridge(alpha):
    model = FeatureRidge(alpha=alpha, batch_size=64).fit(X, Y)
    reference = Ridge(alpha=alpha, fit_intercept=False, solver="cholesky").fit(X, Y)
    np.testing.assert_allclose(model.coef_, reference.coef_.T, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.predict(X[:9]), reference.predict(X[:9]), rtol=1e-10)
    single = FeatureRidge(alpha=alpha, batch_size=64).fit(X, Y[:, 0])
    assert single.coef_.shape == (5,) and single.predict(X[:3]).shape == (3,)
    np.testing.assert_allclose(single.coef_, reference.coef_[0], rtol=1e-10, atol=1e-13)


def test_random_cosine_features_equal_a_numpy_solve():
    model = FeatureRidge(make_cosine_featurizer, alpha=0.05, batch_size=64, random_state=0)
    model.fit(X, Y)
    f = explicit_cosine(X)
    coef = np.linalg.solve(f.T @ f + 0.05 * np.eye(f.shape[1]), f.T @ Y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict(X[:11]), explicit_cosine(X[:11]) @ coef, rtol=1e-10)
    transformer = FeatureTransformer(make_cosine_featurizer, batch_size=7, random_state=0)
    np.testing.assert_allclose(transformer.fit_transform(X), f, rtol=1e-13, atol=1e-15)


def test_batch_size_does_not_change_the_result():
    """Batches only reorder the float64 sums in F^T F (relative rounding ~ eps); the solve
    amplifies that by at most cond(F^T F + alpha I): normwise tolerance 10 cond eps."""
    fits = [
        FeatureRidge(make_cosine_featurizer, alpha=ALPHAS, batch_size=size, random_state=3).fit(
            X, Y
        )
        for size in (7, 64, 1000)
    ]
    f = make_cosine_featurizer(5, np.random.RandomState(3))(X)
    cond = np.linalg.cond(f.T @ f + fits[0].alpha_ * np.eye(f.shape[1]))
    for fit in fits[1:]:
        assert fit.alpha_ == fits[0].alpha_
        error = np.linalg.norm(fit.coef_ - fits[0].coef_) / np.linalg.norm(fits[0].coef_)
        assert error < 10 * cond * np.finfo(np.float64).eps


def test_gcv_equals_the_explicit_hat_matrix():
    """GCV(alpha) = ||(I - H) Y||^2 / (n k) / (1 - tr H / n)^2, H = F (F^T F + alpha I)^-1 F^T."""
    f = explicit_cosine(X)
    n = len(X)
    expected = []
    for alpha in ALPHAS:
        hat = f @ np.linalg.solve(f.T @ f + alpha * np.eye(f.shape[1]), f.T)
        residual = Y - hat @ Y
        expected.append(np.sum(residual**2) / Y.size / (1.0 - np.trace(hat) / n) ** 2)
    model = FeatureRidge(make_cosine_featurizer, alpha=ALPHAS, batch_size=50, random_state=0)
    model.fit(X, Y)
    np.testing.assert_allclose(model.gcv_errors_, expected, rtol=1e-9)
    assert model.alpha_ == ALPHAS[np.argmin(expected)]


def test_memmap_and_lazy_array_likes_are_read_one_batch_at_a_time(tmp_path):
    path = tmp_path / "x.npy"
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=X.shape)
    stored[:] = X
    stored.flush()
    on_disk = np.load(path, mmap_mode="r")
    model = FeatureRidge(make_cosine_featurizer, alpha=0.1, batch_size=64, random_state=0)
    in_memory = FeatureRidge(make_cosine_featurizer, alpha=0.1, batch_size=64, random_state=0)
    np.testing.assert_array_equal(model.fit(on_disk, Y).coef_, in_memory.fit(X, Y).coef_)

    rows = RowCounter(X)
    featurizer = make_cosine_featurizer(5, np.random.RandomState(0))
    statistics = streaming.accumulate(featurizer, rows, Y, batch_size=64)
    assert max(rows.reads) <= 64 and sum(rows.reads) == len(X)
    f = explicit_cosine(X)
    np.testing.assert_allclose(statistics.ftf, f.T @ f, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(statistics.yty, np.sum(Y**2, axis=0), rtol=1e-13)
    assert statistics.n_samples == len(X)


def test_float32_inputs_are_accumulated_in_float64():
    x32 = X.astype(np.float32)
    model = FeatureRidge(alpha=0.3).fit(x32, Y)
    # identity features of float32 inputs are exact in float64: same as the rounded inputs
    rounded = Ridge(alpha=0.3, fit_intercept=False).fit(x32.astype(np.float64), Y)
    np.testing.assert_allclose(model.coef_, rounded.coef_.T, rtol=1e-10, atol=1e-13)
    assert model.coef_.dtype == np.float64 and model.predict(x32).dtype == np.float32


def test_progress_bar_only_when_asked(capsys):
    FeatureRidge(batch_size=100).fit(X, Y)
    assert capsys.readouterr().err == ""
    FeatureRidge(batch_size=100, progress=True).fit(X, Y)
    assert "3/3" in capsys.readouterr().err


def test_verbose_is_a_deprecated_spelling_of_progress(capsys):
    model = FeatureRidge(batch_size=100, verbose=1)
    assert model.get_params()["verbose"] == 1 and model.get_params()["progress"] is False
    with pytest.warns(DeprecationWarning, match="verbose= is deprecated.*progress="):
        model.fit(X, Y)
    assert "3/3" in capsys.readouterr().err


def test_bad_inputs_get_sklearn_errors():
    with pytest.raises(ValueError, match="Input X contains NaN"):
        FeatureRidge().fit(np.where(X > 2, np.nan, X), Y)
    with pytest.raises(ValueError, match="make_featurizer must be None or a callable"):
        FeatureRidge(make_featurizer="cosine").fit(X, Y)
    with pytest.raises(ValueError, match="only 1 devices|n_devices=64"):
        FeatureRidge(n_devices=64).fit(X, Y)
    with pytest.raises(ValueError, match="alpha must be finite and > 0"):
        FeatureRidge(alpha=[1.0, 0.0]).fit(X, Y)


SHARDED_CHILD = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_streaming import X, Y, make_cosine_featurizer
    from dualcalc.learn import streaming
    from dualcalc.learn.sketched import FCSketch, sketched_featurizer

    x, y = X[:293], Y[:293]  # not a multiple of the batch: the last batch is padded
    sharded_mesh = streaming.data_mesh(jax.devices())
    single_mesh = streaming.data_mesh(jax.devices()[:1])
    diff = lambda a, b: float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    coef = lambda s: streaming.fit_ridge(s, 0.1).coef
    batch = next(streaming._batches(x, y, 40, 1, sharded_mesh))[0]
    found = {"devices": len(jax.devices()), "batch_devices": len(batch.sharding.device_set)}
    featurizers = {
        "cosine": make_cosine_featurizer(X.shape[1], np.random.RandomState(0)),
        "polysketch": sketched_featurizer(
            FCSketch("gelu", 2, 1.2, 0.1, 64, "polysketch", 3), jax.random.PRNGKey(0), (5,)
        ),
    }
    for name, featurizer in featurizers.items():
        sharded = streaming.accumulate(featurizer, x, y, batch_size=40, mesh=sharded_mesh)
        single = streaming.accumulate(featurizer, x, y, batch_size=40, mesh=single_mesh)
        found[name] = {
            "ftf": diff(sharded.ftf, single.ftf),
            "fty": diff(sharded.fty, single.fty),
            "yty": diff(sharded.yty, single.yty),
            "n": [sharded.n_samples, single.n_samples],
            "coef": diff(coef(sharded), coef(single)),
            "predict": diff(
                streaming.predict(featurizer, coef(single), x, batch_size=24, mesh=sharded_mesh),
                streaming.predict(featurizer, coef(single), x, batch_size=24, mesh=single_mesh),
            ),
        }
    print(json.dumps(found))
    """
)


def test_sharded_accumulation_over_8_devices_equals_one_device():
    """Random cosine features and the sketched NTK features of SketchedKernelRidge (PolySketch,
    TensorSRHT, SRHT: FFTs over each device's rows) give the single-device statistics."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", SHARDED_CHILD, tests_dir],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["devices"] == 8 and found["batch_devices"] == 8
    for name in ("cosine", "polysketch"):  # random cosine and sketched NTK features
        assert found[name]["n"] == [293, 293]
        for key in ("ftf", "fty", "yty", "coef", "predict"):
            assert found[name][key] < 1e-10, (name, key, found[name][key])


def test_functional_api_checks_its_arguments():
    with pytest.raises(DualcalcError, match=r"Y must have shape \(300,\)"):
        streaming.accumulate(identity_features, X, Y[:10])
    with pytest.raises(DualcalcError, match="featurizer must be callable"):
        streaming.accumulate("cosine", X, Y)

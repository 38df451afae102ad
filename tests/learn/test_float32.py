"""float32 runs of the learners: predictions, every estimator's fit / predict, a GP, x64 off.

Each result is compared with the same computation at x64 on from float64 copies of the same
(float32) inputs. Bounds:

- exact-kernel estimators compute their kernels and solves in float64 whatever the JAX mode
  and return X's dtype: the float32 output is the float64 one rounded, within 2 ulps;
- ``NeuralKernel`` in a ``GaussianProcessRegressor``: the kernel runs in float64 (the GP's
  linear algebra is float64 numpy), so the predictions agree to 1e-10 relative;
- ``predict.gradient_descent_mse_ensemble`` on a float32 ``kernel_fn``: the kernels are within
  EVALUATION_ULPS ulps of max |K| per layer (tests/runtime/test_float32.py); a solve with
  (K + reg I) of condition number kappa turns a relative kernel error e into at most
  kappa e (first order); allowed: 4 kappa e, for the two kernel blocks and second order;
- sketched estimators: one draw in float64 cast to float32; predictions within the same
  first-order solve bound on features that agree to 2^-13 (tests/learn/test_sketched.py).
"""

import jax
import numpy as np
import pytest
from float32_bounds import EPS32, EVALUATION_ULPS, assert_float32_close, assert_psd_to_rounding
from sklearn.gaussian_process import GaussianProcessRegressor

from dualcalc import nn, predict
from dualcalc.sklearn import (
    FeatureRidge,
    FeatureTransformer,
    NeuralKernel,
    NeuralKernelClassifier,
    NeuralKernelFeatures,
    NeuralKernelRidge,
    SketchedKernelRidge,
)

RNG = np.random.default_rng(11)
X32 = RNG.normal(size=(16, 3)).astype(np.float32)
X_NEW32 = RNG.normal(size=(5, 3)).astype(np.float32)
Y = np.sin(X32[:, 0].astype(np.float64)) + 0.1 * X32[:, 1]
LABELS = (X32[:, 0] > 0).astype(int)


def _in_float64(fn):
    with jax.enable_x64(True):
        return fn(X32.astype(np.float64), X_NEW32.astype(np.float64))


def test_predict_in_float32(float32):
    net = nn.serial(nn.Dense(64, W_std=1.4, b_std=0.1), nn.Activation("erf"), nn.Dense(1))
    reg = 1e-2

    def run(x, x_new):
        predict_fn = predict.gradient_descent_mse_ensemble(net.kernel_fn, x, Y, diag_reg=reg)
        return predict_fn(t=None, x_test=x_new, get="nngp", compute_cov=True)

    mean64, cov64 = _in_float64(run)
    with jax.enable_x64(True):
        k = np.asarray(net.kernel_fn(X32.astype(np.float64), None, get="nngp"))
    kappa = np.linalg.cond(k + reg * np.mean(np.diag(k)) * np.eye(len(k)))
    mean32, cov32 = run(X32, X_NEW32)
    relative_kernel_error = EVALUATION_ULPS * 3 * EPS32
    assert_float32_close(mean32, mean64, 4 * kappa * relative_kernel_error / EPS32,
                         np.abs(mean64).max() + np.abs(Y).max())  # fmt: skip
    assert_float32_close(cov32, cov64, 4 * kappa * relative_kernel_error / EPS32,
                         np.abs(cov64).max())  # fmt: skip
    assert_psd_to_rounding(cov32 + cov32.T, "posterior covariance")


@pytest.mark.parametrize(
    "make",
    [
        lambda: NeuralKernelRidge("gelu", 2, alpha=[1e-3, 1e-1]),
        lambda: NeuralKernelRidge("tanh", 1, get="nngp", readout=False, alpha=0.1),
    ],
    ids=["ntk-loo-grid", "nngp-no-readout"],
)
def test_exact_kernel_ridge_in_float32(float32, make):
    p64 = _in_float64(lambda x, x_new: make().fit(x, Y).predict(x_new))
    p32 = make().fit(X32, Y).predict(X_NEW32)
    assert_float32_close(p32, p64, 2, np.abs(p64).max())


def test_exact_kernel_classifier_in_float32(float32):
    def run(x, x_new):
        model = NeuralKernelClassifier("relu", 2, alpha=0.1).fit(x, LABELS)
        return model.decision_function(x_new), model.predict(x_new)

    (s64, c64), (s32, c32) = _in_float64(run), run(X32, X_NEW32)
    assert_float32_close(s32, s64, 2, np.abs(s64).max())
    np.testing.assert_array_equal(c32[np.abs(s64) > 1e-5], c64[np.abs(s64) > 1e-5])


def test_neural_kernel_in_a_gaussian_process_in_float32(float32):
    def run(x, x_new):
        kernel = NeuralKernel("gelu", 2, get="nngp", W_std=1.3, b_std=0.2)
        gp = GaussianProcessRegressor(kernel, alpha=1e-2, optimizer=None).fit(x, Y)
        return gp.predict(x_new, return_std=True)

    (m64, s64), (m32, s32) = _in_float64(run), run(X32, X_NEW32)
    assert np.all(np.isfinite(m32)) and np.all(np.isfinite(s32))
    np.testing.assert_allclose(m32, m64, rtol=1e-10, atol=1e-12 * np.abs(m64).max())
    np.testing.assert_allclose(s32, s64, rtol=1e-10, atol=1e-12)


SKETCH = dict(n_components=64, degree=3, random_state=0)


def test_sketched_estimators_in_float32(float32):
    def run(x, x_new):
        features = NeuralKernelFeatures("gelu", 1, **SKETCH).fit(x)
        ridge = SketchedKernelRidge("gelu", 1, alpha=0.1, **SKETCH).fit(x, Y)
        return features.transform(x), features.transform(x_new), ridge.predict(x_new)

    f64, new64, p64 = _in_float64(run)
    f32, new32, p32 = run(X32, X_NEW32)
    assert_float32_close(f32, f64, 2**10, np.abs(f64).max())  # 2^-13 relative
    assert_float32_close(new32, new64, 2**10, np.abs(new64).max())
    kappa = np.linalg.cond(f64.T @ f64 + 0.1 * np.eye(f64.shape[1]))
    assert_float32_close(p32, p64, 4 * kappa * 2**10, np.abs(p64).max() + np.abs(Y).max())
    assert_psd_to_rounding(f32.astype(np.float64) @ f32.astype(np.float64).T, "features")


def test_feature_ridge_and_transformer_in_float32(float32):
    def run(x, x_new):
        ridge = FeatureRidge(alpha=0.5).fit(x, Y)
        return FeatureTransformer().fit(x).transform(x_new), ridge.predict(x_new)

    (t64, p64), (t32, p32) = _in_float64(run), run(X32, X_NEW32)
    assert_float32_close(t32, t64, 0, 1.0)  # identity features of float32 inputs: exact
    assert_float32_close(p32, p64, 2, np.abs(p64).max())

"""SketchedKernelRidge / NeuralKernelFeatures against the exact estimators' kernel.

Oracles: the exact kernel of an independently built ``dualcalc.nn`` network (other widths, no
blocks), and NeuralKernelRidge (itself checked against numpy solves); for one hidden layer the
expectation of the sketched Gram matrix, Mehler's sums cut at the sketch's degree built from
the Hermite coefficients (checked against mpmath elsewhere); scikit-learn's Ridge on the
transformer's features; the float64 fit of the same sketch for float32 inputs. Random sketches
use fixed random_states; every tolerance says where it comes from.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from dualcalc import nn
from dualcalc.runtime.elementwise import resolve
from dualcalc.sklearn import NeuralKernelFeatures, NeuralKernelRidge, SketchedKernelRidge

RNG = np.random.default_rng(20261213)
X = RNG.normal(size=(60, 4)) * RNG.uniform(0.5, 1.5, size=(60, 1))
Y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * RNG.normal(size=60)
X_NEW = RNG.normal(size=(8, 4))
#: One sketch for most tests (one compiled step per input shape, shared between tests).
SKETCH = dict(
    activation="gelu", depth=2, n_components=256, degree=4, W_std=1.2, b_std=0.1, batch_size=64
)
SIGMAS = 5.0


def exact_kernel(activation, depth, kernel, w_std, b_std, x1, x2=None):
    layers = []
    for _ in range(depth):
        layers += [nn.Dense(16, W_std=w_std, b_std=b_std), nn.Activation(activation)]
    kernel_fn = nn.serial(*layers, nn.Dense(2, W_std=w_std, b_std=b_std)).kernel_fn
    return np.asarray(kernel_fn(x1, x2, get=kernel))


def ridge_perturbation_bound(k, k_new, k_hat, k_new_hat, y, alpha):
    """|f_hat(x) - f(x)| per new point, f = k(x)^T (K + a I)^-1 y and f_hat the same with the
    perturbed kernels. Exactly f_hat - f = e^T c_hat - k^T (K + a I)^-1 E c_hat with
    E = K_hat - K, e = k_hat - k, c_hat = (K_hat + a I)^-1 y; Cauchy-Schwarz bounds each term."""
    eye = alpha * np.eye(len(k))
    c_hat = np.linalg.solve(k_hat + eye, y)
    smoother = np.linalg.solve(k + eye, k_new.T)  # (K + a I)^-1 k(x), one column per point
    e_train = np.linalg.norm(k_hat - k, 2)
    e_new = np.linalg.norm(k_new_hat - k_new, axis=1)
    return (e_new + np.linalg.norm(smoother, axis=0) * e_train) * np.linalg.norm(c_hat)


@parametrize_with_checks(
    [
        NeuralKernelFeatures("erf", depth=1, n_components=32, method="random", random_state=0),
        SketchedKernelRidge(
            n_components=128, method="arccos", alpha=[0.1, 1.0], batch_size=32, random_state=0
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    """The API conventions (random-feature sketches: the same estimators, compiled in a second
    where PolySketch takes several; the other tests cover PolySketch)."""
    check(estimator)


@pytest.mark.parametrize(("kernel", "b_std"), [("ntk", 0.0), ("nngp", 0.3)])
def test_depth_zero_features_are_exact_and_equal_the_exact_ridge(kernel, b_std):
    """No activation: the features are the readout's exact ones ([W x / sqrt(d), b] zero-padded
    to m), so primal ridge on them is the exact kernel ridge (push-through identity); the two
    solves differ by rounding, cond(K + alpha I) eps."""
    params = dict(depth=0, get=kernel, W_std=1.3, b_std=b_std)
    sketched = SketchedKernelRidge("relu", n_components=16, alpha=0.05, **params).fit(X, Y)
    exact = NeuralKernelRidge("relu", alpha=0.05, **params).fit(X, Y)
    np.testing.assert_allclose(sketched.predict(X_NEW), exact.predict(X_NEW), rtol=1e-10)
    features = NeuralKernelFeatures("relu", n_components=16, **params).fit_transform(X)
    k = exact_kernel("relu", 0, kernel, 1.3, b_std, X)
    np.testing.assert_allclose(features @ features.T, k, rtol=1e-12, atol=1e-12)


def truncated_network_kernels(activation, degree, w_std, b_std, x):
    """E[Gram] of one sketched hidden layer + readout: Mehler's sums cut at ``degree`` in place
    of K and K' (K0 = the first Dense layer's kernel); and Cauchy-Schwarz bounds of the cut."""
    module = resolve(activation)
    k0 = w_std**2 * (x @ x.T) / x.shape[1] + b_std**2
    q = np.diag(k0).copy()
    a, b = (np.asarray(c) for c in module.feature_coefficients(q, degree))
    rho = np.clip(k0 / np.sqrt(np.outer(q, q)), -1.0, 1.0)
    powers = rho[..., None] ** np.arange(degree + 1)
    k_p = np.einsum("ik,jk,ijk->ij", a, a, powers)
    dk_p = np.einsum("ik,jk,ijk->ij", b, b, powers)
    nngp = w_std**2 * k_p + b_std**2
    ntk = nngp + w_std**2 * dk_p * k0
    tail = np.asarray(module.nngp_edges(q)[0]) - np.sum(a * a, axis=1)
    dtail = np.asarray(module.dnngp_edges(q)[0]) - np.sum(b * b, axis=1)
    nngp_cut = w_std**2 * np.sqrt(np.outer(tail, tail))
    ntk_cut = nngp_cut + w_std**2 * np.sqrt(np.outer(dtail, dtail)) * np.abs(k0)
    return {"nngp": (nngp, nngp_cut), "ntk": (ntk, ntk_cut)}


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_one_hidden_layer_features_are_unbiased_for_the_exact_estimators_network(activation):
    """Dense -> activation -> Dense readout, 48 random_states: the mean Gram matrix of the
    transformer's features is Mehler's sums cut at the degree (the PolySketch blocks, the
    TensorSRHT and the final SRHT are unbiased) to within 5 standard errors per entry, and
    those sums are within the Cauchy-Schwarz tail bound of the exact network kernel. A wrong
    readout, or draws that do not change with random_state, fail this."""
    x = X[:6]
    w_std, b_std, degree, states = 1.3, 0.2, 6, 48
    truncated = truncated_network_kernels(activation, degree, w_std, b_std, x)
    for kernel in ("nngp", "ntk"):
        grams = []
        for state in range(states):
            transformer = NeuralKernelFeatures(
                activation, 1, get=kernel, n_components=64, degree=degree, W_std=w_std,
                b_std=b_std, random_state=state,
            )  # fmt: skip
            f = transformer.fit_transform(x)
            grams.append(f @ f.T)
        grams = np.stack(grams)
        expected, cut = truncated[kernel]
        se = grams.std(axis=0, ddof=1) / np.sqrt(states)
        slack = SIGMAS * se + 1e-12 * np.abs(expected).max()
        assert np.all(np.abs(grams.mean(axis=0) - expected) <= slack), kernel
        exact = exact_kernel(activation, 1, kernel, w_std, b_std, x)
        assert np.all(np.abs(expected - exact) <= cut + 1e-12), kernel


def test_sketched_ridge_tracks_the_exact_ridge():
    """Depth 2, NTK: for each random_state the sketched predictions are within the ridge
    perturbation bound computed from the measured kernel errors (an exact inequality), and
    the errors, averaged over 3 states, shrink with m like the sketch's standard deviation:
    4 x m halves it (variance ~ 1/m; the O(1/m) bias of normalising noisy features falls
    faster), so the mean at 4m must be at most half the mean at m, plus 5 standard errors.
    Predictions at m = 64 come from the transformer's features (ridge on them is the model:
    test_transformer_plus_sklearn_ridge_equals_sketched_ridge), at m = 256 from the model."""
    alpha = 0.05
    params = {k: v for k, v in SKETCH.items() if k != "n_components"}
    exact_args = ("gelu", 2, "ntk", SKETCH["W_std"], SKETCH["b_std"])
    k, k_new = exact_kernel(*exact_args, X), exact_kernel(*exact_args, X_NEW, X)
    exact = NeuralKernelRidge(
        "gelu", 2, "ntk", alpha=alpha, W_std=SKETCH["W_std"], b_std=SKETCH["b_std"]
    ).fit(X, Y)
    p = exact.predict(X_NEW)
    np.testing.assert_allclose(p, k_new @ np.linalg.solve(k + alpha * np.eye(len(X)), Y))
    errors = {}
    for m in (64, 256):
        kernel_errors, prediction_errors = [], []
        for state in range(3):
            transformer = NeuralKernelFeatures(n_components=m, random_state=state, **params)
            f, f_new = transformer.fit_transform(X), transformer.transform(X_NEW)
            k_hat, k_new_hat = f @ f.T, f_new @ f.T
            if m == 256:
                model = SketchedKernelRidge(**SKETCH, alpha=alpha, random_state=state)
                p_hat = model.fit(X, Y).predict(X_NEW)
            else:
                p_hat = k_new_hat @ np.linalg.solve(k_hat + alpha * np.eye(len(X)), Y)
            bound = ridge_perturbation_bound(k, k_new, k_hat, k_new_hat, Y, alpha)
            assert np.all(np.abs(p_hat - p) <= bound * (1 + 1e-9) + 1e-12), (m, state)
            kernel_errors.append(np.linalg.norm(k_hat - k) / np.linalg.norm(k))
            prediction_errors.append(np.linalg.norm(p_hat - p) / np.linalg.norm(p))
        errors[m] = np.array([kernel_errors, prediction_errors])
    mean = {m: e.mean(axis=1) for m, e in errors.items()}
    se = {m: e.std(axis=1, ddof=1) / np.sqrt(e.shape[1]) for m, e in errors.items()}
    slack = SIGMAS * np.sqrt(se[256] ** 2 + 0.25 * se[64] ** 2)
    assert np.all(mean[256] <= 0.5 * mean[64] + slack), (mean, se)


def test_transformer_plus_sklearn_ridge_equals_sketched_ridge():
    """Same random_state, same features: scikit-learn's Ridge on NeuralKernelFeatures is the
    streaming ridge (normal equations either way: normwise 10 cond eps, as in test_streaming)."""
    features = NeuralKernelFeatures(**SKETCH, random_state=3)
    pipeline = make_pipeline(
        StandardScaler(), features, Ridge(alpha=0.2, fit_intercept=False, solver="cholesky")
    ).fit(X, Y)
    model = make_pipeline(
        StandardScaler(), SketchedKernelRidge(**SKETCH, alpha=0.2, random_state=3)
    ).fit(X, Y)
    f = pipeline[:2].transform(X)
    cond = np.linalg.cond(f.T @ f + 0.2 * np.eye(f.shape[1]))
    coef = model[-1].coef_
    error = np.linalg.norm(pipeline[-1].coef_ - coef) / np.linalg.norm(coef)
    assert error <= 10 * cond * np.finfo(np.float64).eps
    np.testing.assert_allclose(
        pipeline.predict(X_NEW), model.predict(X_NEW), rtol=10 * cond * np.finfo(float).eps
    )


def test_grid_search_refits_the_best_parameters():
    search = GridSearchCV(
        make_pipeline(StandardScaler(), SketchedKernelRidge(**SKETCH, random_state=0)),
        {"sketchedkernelridge__alpha": [0.01, 0.1, 1.0]},
        cv=KFold(3),
    ).fit(X, Y)
    best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
    direct = make_pipeline(
        StandardScaler(), SketchedKernelRidge(**SKETCH, random_state=0, **best)
    ).fit(X, Y)
    np.testing.assert_allclose(search.predict(X_NEW), direct.predict(X_NEW), rtol=1e-12)


def test_float32_inputs_use_the_same_sketch_rounded():
    """One random_state draws one sketch (in float64, cast): the float32 features are the
    float64 ones up to float32 rounding (at most 2^-13 relative: a thousand unit roundoffs
    through the layers' products and transforms), and the float32 model's predictions differ
    from the float64 model's by no more than the ridge perturbation bound of that rounding."""
    x32 = X.astype(np.float32)
    f64 = NeuralKernelFeatures(**SKETCH, random_state=1).fit(X)
    f32 = NeuralKernelFeatures(**SKETCH, random_state=1).fit(x32)
    a, b = f64.transform(X), f32.transform(x32)
    new64, new32 = f64.transform(X_NEW), f32.transform(X_NEW.astype(np.float32))
    assert b.dtype == np.float32 and np.all(np.isfinite(b))  # dtype of X
    assert np.max(np.abs(a - b)) <= 2.0**-13 * np.max(np.abs(a))
    m64 = SketchedKernelRidge(**SKETCH, alpha=0.1, random_state=1).fit(X, Y)
    m32 = SketchedKernelRidge(**SKETCH, alpha=0.1, random_state=1).fit(x32, Y)
    p64, p32 = m64.predict(X_NEW), m32.predict(X_NEW.astype(np.float32))
    assert p32.dtype == np.float32  # the dtype of X
    b, new32 = b.astype(np.float64), new32.astype(np.float64)
    bound = ridge_perturbation_bound(a @ a.T, new64 @ a.T, b @ b.T, new32 @ b.T, Y, 0.1)
    rounding = 2.0**-24 * np.abs(p64)  # the float32 output's own rounding
    assert np.all(np.abs(p32 - p64) <= bound * (1 + 1e-6) + rounding + 1e-12)


def test_bad_data_gets_sklearn_errors():
    model = SketchedKernelRidge(**SKETCH)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(np.where(X > 1.5, np.nan, X), Y)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        NeuralKernelFeatures(**SKETCH).fit(np.where(X > 1.5, np.inf, X))
    with pytest.raises(ValueError, match="Input y contains infinity"):
        model.fit(X, np.where(Y > 1, np.inf, Y))
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.fit(X[:, 0], Y)
    model.fit(X, Y)
    with pytest.raises(ValueError, match="X has 3 features, but SketchedKernelRidge is expecting"):
        model.predict(X_NEW[:, :3])
    features = NeuralKernelFeatures(**SKETCH).fit(X)
    with pytest.raises(ValueError, match="X has 5 features"):
        features.transform(np.ones((2, 5)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(n_components=0), "n_components must be a positive integer"),
        (dict(degree=0), "degree must be a positive integer"),
        (dict(method="magic"), "method must be one of"),
        (dict(method="arccos", activation="gelu"), "ReLU only"),
        (dict(get="cntk"), "get must be 'nngp' or 'ntk'"),
        (dict(depth=-1), "depth must be an integer >= 0"),
        (dict(alpha=0.0), "alpha must be finite and > 0"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
    ],
)
def test_bad_parameters_fail_at_fit_with_value_errors(params, message):
    model = SketchedKernelRidge(**{"n_components": 16, "degree": 2, **params})
    with pytest.raises(ValueError, match=message):
        model.fit(X, Y)

"""NeuralKernelRidge / NeuralKernelClassifier against numpy solves and brute-force leave-one-out.

Oracles: the kernel comes from an independently built dualcalc.nn network (other widths, no
padding, no blocks) and is solved with numpy.linalg.solve; leave-one-out errors are refits
without each point; scikit-learn's own estimator checks cover the API conventions.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from dualcalc import nn
from dualcalc.sklearn import NeuralKernelClassifier, NeuralKernelRidge

RNG = np.random.default_rng(20261202)
X = RNG.normal(size=(30, 4))
Y = np.stack([np.sin(X[:, 0]) + 0.1 * RNG.normal(size=30), X[:, 1] * X[:, 2]], axis=1)
X_NEW = RNG.normal(size=(6, 4))
ALPHAS = np.logspace(-3, 1, 9)


def reference_kernel(activation, depth, kernel, w_std, b_std, x1, x2=None):
    layers = []
    for _ in range(depth):
        layers += [nn.Dense(32, W_std=w_std, b_std=b_std), nn.Activation(activation)]
    kernel_fn = nn.serial(*layers, nn.Dense(3, W_std=w_std, b_std=b_std)).kernel_fn
    return kernel_fn(x1, x2, get=kernel)


def brute_force_loo(k, y, alpha):
    """Mean squared error of predicting each point from a refit on the others."""
    errors = []
    for i in range(len(k)):
        keep = np.arange(len(k)) != i
        coef = np.linalg.solve(k[np.ix_(keep, keep)] + alpha * np.eye(len(k) - 1), y[keep])
        errors.append((k[i, keep] @ coef - y[i]) ** 2)
    return np.mean(errors)


@parametrize_with_checks(
    [NeuralKernelRidge(), NeuralKernelClassifier(get="nngp", alpha=[0.1, 1.0, 10.0])]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    ("activation", "depth", "kernel", "w_std", "b_std"),
    [("relu", 2, "ntk", 1.0, 0.0), ("erf", 1, "nngp", 1.3, 0.2), ("tanh", 2, "ntk", 1.1, 0.1)],
)
def test_predictions_equal_a_direct_solve(activation, depth, kernel, w_std, b_std):
    model = NeuralKernelRidge(activation, depth, get=kernel, alpha=0.05, W_std=w_std, b_std=b_std)
    model.fit(X, Y)
    k = reference_kernel(activation, depth, kernel, w_std, b_std, X)
    coef = np.linalg.solve(k + 0.05 * np.eye(len(X)), Y)
    expected = reference_kernel(activation, depth, kernel, w_std, b_std, X_NEW, X) @ coef
    np.testing.assert_allclose(model.predict(X_NEW), expected, rtol=1e-10, atol=1e-12)
    assert model.alpha_ == 0.05 and not hasattr(model, "loo_errors_")


def test_leave_one_out_grid_equals_refits_without_each_point():
    model = NeuralKernelRidge("gelu", depth=2, alpha=ALPHAS).fit(X, Y[:, 0])
    k = reference_kernel("gelu", 2, "ntk", 1.0, 0.0, X)
    brute = np.array([brute_force_loo(k, Y[:, 0], a) for a in ALPHAS])
    np.testing.assert_allclose(model.loo_errors_, brute, rtol=1e-8)
    assert model.alpha_ == ALPHAS[np.argmin(brute)]
    single = NeuralKernelRidge("gelu", depth=2, alpha=model.alpha_).fit(X, Y[:, 0])
    np.testing.assert_allclose(model.predict(X_NEW), single.predict(X_NEW), rtol=1e-9)


def test_multi_output_is_one_fit_per_column_with_errors_averaged():
    model = NeuralKernelRidge("erf", depth=1, alpha=ALPHAS).fit(X, Y)
    columns = [NeuralKernelRidge("erf", depth=1, alpha=ALPHAS).fit(X, Y[:, j]) for j in (0, 1)]
    np.testing.assert_allclose(
        model.loo_errors_, np.mean([c.loo_errors_ for c in columns], axis=0), rtol=1e-12
    )
    fixed = NeuralKernelRidge("erf", depth=1, alpha=0.1).fit(X, Y).predict(X_NEW)
    for j in (0, 1):
        column = NeuralKernelRidge("erf", depth=1, alpha=0.1).fit(X, Y[:, j]).predict(X_NEW)
        np.testing.assert_allclose(fixed[:, j], column, rtol=1e-12)


def test_block_size_and_float32_do_not_change_the_model():
    reference = NeuralKernelRidge("relu", alpha=0.1).fit(X, Y).predict(X_NEW)
    blocked = NeuralKernelRidge("relu", alpha=0.1, batch_size=7).fit(X, Y).predict(X_NEW)
    np.testing.assert_allclose(blocked, reference, rtol=1e-12, atol=1e-14)
    single = NeuralKernelRidge("relu", alpha=0.1).fit(X.astype(np.float32), Y)
    # float32 inputs are read as float64 (exactly), so only the input rounding differs
    rounded = X.astype(np.float32).astype(np.float64)
    expected = NeuralKernelRidge("relu", alpha=0.1).fit(rounded, Y).predict(X_NEW)
    np.testing.assert_allclose(single.predict(X_NEW.astype(np.float32)), expected, rtol=1e-6)


def test_classifier_is_ridge_on_signed_one_hot_targets():
    labels = np.array(["a", "b", "c"])[np.argmax(Y @ [[1, -1, 0], [0, 1, -1]], axis=1)]
    model = NeuralKernelClassifier("relu", depth=2, alpha=ALPHAS).fit(X, labels)
    np.testing.assert_array_equal(model.classes_, ["a", "b", "c"])
    targets = np.where(labels[:, None] == model.classes_[None, :], 1.0, -1.0)
    k = reference_kernel("relu", 2, "ntk", 1.0, 0.0, X)
    brute = np.array([brute_force_loo(k, targets, a) for a in ALPHAS])
    np.testing.assert_allclose(model.loo_errors_, brute, rtol=1e-8)
    coef = np.linalg.solve(k + model.alpha_ * np.eye(len(X)), targets)
    scores = reference_kernel("relu", 2, "ntk", 1.0, 0.0, X_NEW, X) @ coef
    np.testing.assert_allclose(model.decision_function(X_NEW), scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X_NEW), model.classes_[np.argmax(scores, 1)])


def test_binary_classifier_scores_one_column():
    labels = np.where(Y[:, 0] > 0, 3, -7)
    model = NeuralKernelClassifier("gelu", alpha=0.1).fit(X, labels)
    scores = model.decision_function(X_NEW)
    assert scores.shape == (6,)
    np.testing.assert_array_equal(model.predict(X_NEW), np.where(scores > 0, 3, -7))


def test_pipeline_and_grid_search():
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuralKernelRidge("gelu", depth=1)),
        {"neuralkernelridge__alpha": [0.01, 1.0], "neuralkernelridge__get": ["nngp", "ntk"]},
        cv=KFold(3),
    ).fit(X, Y[:, 0])
    best = search.best_params_
    direct = make_pipeline(
        StandardScaler(),
        NeuralKernelRidge(
            "gelu",
            depth=1,
            alpha=best["neuralkernelridge__alpha"],
            get=best["neuralkernelridge__get"],
        ),
    ).fit(X, Y[:, 0])
    np.testing.assert_allclose(search.predict(X_NEW), direct.predict(X_NEW), rtol=1e-12)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(alpha=0.0), "alpha must be finite and > 0"),
        (dict(alpha=[1.0, -1.0]), "alpha must be finite and > 0"),
        (dict(alpha=[[1.0]]), "1-D grid"),
        (dict(get="cntk"), "get must be 'nngp' or 'ntk'"),
        (dict(depth=-1), "depth must be an integer >= 0"),
        (dict(W_std=np.inf), "W_std must be a finite number"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(activation=3), "activation must be an activation text"),
        (dict(activation="relu(x"), "relu"),
    ],
)
def test_bad_parameters_fail_at_fit_with_value_errors(params, message):
    model = NeuralKernelRidge(**params)  # no validation in __init__ (scikit-learn convention)
    with pytest.raises(ValueError, match=message):
        model.fit(X, Y)


def test_bad_data_gets_sklearn_errors():
    with pytest.raises(ValueError, match="Input X contains NaN"):
        NeuralKernelRidge().fit(np.where(X > 2, np.nan, X), Y)
    with pytest.raises(ValueError, match="Input y contains infinity"):
        NeuralKernelRidge().fit(X, np.where(Y > 1, np.inf, Y))
    model = NeuralKernelRidge().fit(X, Y)
    with pytest.raises(ValueError, match="X has 3 features, but NeuralKernelRidge is expecting 4"):
        model.predict(X_NEW[:, :3])
    with pytest.raises(ValueError, match="one class"):
        NeuralKernelClassifier().fit(X, np.zeros(len(X)))

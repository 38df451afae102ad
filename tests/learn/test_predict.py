"""dualcalc.predict against independent oracles: closed-form limits, matrix exponentials, training.

Oracles: t = 0 is the prior N(0, K_xx); t = inf is kernel ridge solved with numpy.linalg.solve;
finite t is the linear ODE of the infinite-width network solved with scipy.linalg.expm, the
covariance propagated through the affine map f0 -> f_t directly (no eigendecomposition); and
finite-width networks of the same nn.serial trained by full-batch gradient descent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual
from scipy.linalg import expm

from dualcalc import DualcalcError, nn, predict

RNG = np.random.default_rng(20261201)
X_TRAIN = RNG.normal(size=(7, 3))
X_TEST = RNG.normal(size=(4, 3))
Y_TRAIN = np.stack([np.sin(X_TRAIN @ [1.0, -0.5, 0.7]), np.cos(X_TRAIN[:, 0])], axis=1)


def network(dual, width=512, w_std=1.5, b_std=0.1):
    return nn.serial(
        nn.Dense(width, W_std=w_std, b_std=b_std),
        nn.Activation(dual),
        nn.Dense(1, W_std=w_std, b_std=b_std),
    )


KERNEL_FN = network(ErfDual).kernel_fn


def kernels(x1, x2=None):
    nngp, ntk = KERNEL_FN(x1, x2, get=("nngp", "ntk"))
    return {"nngp": nngp, "ntk": ntk}


def direct_solution(name, t, x_test=X_TEST, y=Y_TRAIN, reg=0.0):
    """Mean and covariance of f_t(x_test) from the ODE df/dt = -Theta (f - y) / N, by expm.

    f_t(test) = f0(test) + B (y - f0(train)), B = Theta_td Theta^-1 (I - exp(-Theta t / N));
    (f0(test), f0(train)) ~ N(0, NNGP of the joint set), so cov = [I, -B] Sigma [I, -B]^T.
    """
    n = len(X_TRAIN)
    dyn = kernels(X_TRAIN)[name] + reg * np.eye(n)
    cross = KERNEL_FN(x_test, X_TRAIN, get=name)
    propagator = np.eye(n) - expm(-dyn * t / y.size)
    b = cross @ np.linalg.solve(dyn, propagator)
    joint = KERNEL_FN(np.vstack([x_test, X_TRAIN]), get="nngp")
    affine = np.hstack([np.eye(len(x_test)), -b])
    return b @ y, affine @ joint @ affine.T


@pytest.mark.parametrize("name", ["nngp", "ntk"])
def test_time_zero_is_the_prior(name):
    predict_fn = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)
    mean, cov = predict_fn(0.0, X_TEST, get=name, compute_cov=True)
    np.testing.assert_array_equal(mean, np.zeros((4, 2)))
    np.testing.assert_allclose(cov, kernels(X_TEST)["nngp"], rtol=1e-13, atol=1e-14)
    train_mean, train_cov = predict_fn(0.0, None, get=name, compute_cov=True)
    np.testing.assert_allclose(train_mean, 0.0, atol=1e-15)
    np.testing.assert_allclose(train_cov, kernels(X_TRAIN)["nngp"], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["nngp", "ntk"])
def test_infinite_time_is_kernel_ridge(name):
    k = kernels(X_TRAIN)
    k_td = KERNEL_FN(X_TEST, X_TRAIN, get=("nngp", "ntk"))
    k_td = {"nngp": k_td[0], "ntk": k_td[1]}
    k_tt = kernels(X_TEST)["nngp"]
    diag_reg = 1e-3
    ridge = diag_reg * np.trace(k[name]) / len(X_TRAIN)  # Neural Tangents' relative scale
    dyn = k[name] + ridge * np.eye(len(X_TRAIN))
    mean_ref = k_td[name] @ np.linalg.solve(dyn, Y_TRAIN)
    transfer = np.linalg.solve(dyn, k_td[name].T)
    if name == "nngp":
        cov_ref = k_tt - k_td["nngp"] @ transfer
    else:
        cross = k_td["nngp"] @ transfer
        cov_ref = k_tt + transfer.T @ k["nngp"] @ transfer - cross - cross.T

    predict_fn = predict.gradient_descent_mse_ensemble(
        KERNEL_FN, X_TRAIN, Y_TRAIN, diag_reg=diag_reg
    )
    for t in (None, np.inf):
        mean, cov = predict_fn(t, X_TEST, get=name, compute_cov=True)
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(cov, cov_ref, rtol=1e-8, atol=1e-10)
    # The training set is fitted exactly at t = inf, with no spread left.
    train_mean, train_cov = predict_fn(None, None, get=name, compute_cov=True)
    np.testing.assert_allclose(train_mean, Y_TRAIN, atol=1e-12)
    np.testing.assert_allclose(train_cov, 0.0, atol=1e-12)


def test_vanishing_regulariser_tends_to_the_interpolant():
    k = kernels(X_TRAIN)["ntk"]
    interpolant = KERNEL_FN(X_TEST, X_TRAIN, get="ntk") @ np.linalg.solve(k, Y_TRAIN)
    cond = np.linalg.cond(k)
    for diag_reg in (1e-4, 1e-7):
        predict_fn = predict.gradient_descent_mse_ensemble(
            KERNEL_FN, X_TRAIN, Y_TRAIN, diag_reg=diag_reg
        )
        # first order in the ridge: |change| <= ridge / l_min * |interpolant| ~ diag_reg * cond
        bound = 2.0 * diag_reg * cond * np.abs(interpolant).max() + 1e-12
        assert np.abs(predict_fn(None, X_TEST) - interpolant).max() < bound
    exact = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)
    np.testing.assert_allclose(exact(None, X_TEST), interpolant, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["nngp", "ntk"])
@pytest.mark.parametrize("t", [0.3, 4.0, 40.0])
def test_finite_time_matches_matrix_exponentials(name, t):
    predict_fn = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)
    mean, cov = predict_fn(t, X_TEST, get=name, compute_cov=True)
    mean_ref, cov_ref = direct_solution(name, t)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov, cov_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["nngp", "ntk"])
def test_training_set_at_finite_time(name):
    """f_t(train) = y + E (f0 - y), E = exp(-K t / N): mean (I - E) y, covariance E K_nngp E."""
    t, reg = 3.0, 1e-2
    k = kernels(X_TRAIN)
    ridge = reg * np.trace(k[name]) / len(X_TRAIN)
    e = expm(-(k[name] + ridge * np.eye(len(X_TRAIN))) * t / Y_TRAIN.size)
    predict_fn = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN, diag_reg=reg)
    mean, cov = predict_fn(t, None, get=name, compute_cov=True)
    np.testing.assert_allclose(mean, Y_TRAIN - e @ Y_TRAIN, rtol=1e-10, atol=1e-12)
    # NNGP: Neural Tangents regularises the prior too (U l e^{-2lt/N} U^T with l of K + ridge)
    prior = k["nngp"] + (ridge * np.eye(len(X_TRAIN)) if name == "nngp" else 0.0)
    np.testing.assert_allclose(cov, e @ prior @ e, rtol=1e-10, atol=1e-12)


def test_time_arrays_learning_rate_and_get_tuples():
    predict_fn = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)
    times = np.array([[0.5, 2.0], [8.0, np.inf]])
    stacked = predict_fn(times, X_TEST, get=("ntk", "nngp"), compute_cov=True)
    assert stacked[0].mean.shape == (2, 2, 4, 2) and stacked[0].covariance.shape == (2, 2, 4, 4)
    for index in np.ndindex(times.shape):
        ntk, nngp = predict_fn(times[index], X_TEST, get=("ntk", "nngp"), compute_cov=True)
        np.testing.assert_allclose(stacked[0].mean[index], ntk.mean, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(stacked[1].covariance[index], nngp.covariance, rtol=1e-13)
    faster = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN, learning_rate=4.0)
    np.testing.assert_allclose(faster(0.5, X_TEST), predict_fn(2.0, X_TEST), rtol=1e-13)
    both = predict_fn(2.0, X_TEST, get=None)
    np.testing.assert_array_equal(both[1], predict_fn(2.0, X_TEST, get="ntk"))
    one_output = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN[:, 0])
    # one output of two: N = y.size halves, so time runs twice as fast per output
    np.testing.assert_allclose(one_output(1.0, X_TEST), predict_fn(2.0, X_TEST)[:, 0], rtol=1e-12)


def test_float32_inputs_give_float32_results_close_to_float64():
    predict_fn = predict.gradient_descent_mse_ensemble(
        KERNEL_FN, X_TRAIN.astype(np.float32), Y_TRAIN.astype(np.float32)
    )
    mean = predict_fn(4.0, X_TEST.astype(np.float32))
    assert mean.dtype == np.float32  # the kernels' dtype (dtype in = dtype out)
    ref = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)(4.0, X_TEST)
    # float32 kernels (relative error ~1e-7) amplified by the conditioning of phi at t = 4
    np.testing.assert_allclose(mean, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(t=-1.0), "t must be >= 0"),
        (dict(t=np.nan), "t must be >= 0"),
        (dict(get="nmgp"), "get must be"),
        (dict(get=("ntk", "cntk")), "get must be"),
    ],
)
def test_bad_predict_arguments(kwargs, message):
    predict_fn = predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN)
    with pytest.raises(DualcalcError, match=message):
        predict_fn(**kwargs)


def test_bad_training_arguments():
    with pytest.raises(DualcalcError, match=r"y_train must have shape \(7,\)"):
        predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN[:5])
    with pytest.raises(DualcalcError, match="NaN"):
        predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN * np.nan)
    with pytest.raises(DualcalcError, match="diag_reg"):
        predict.gradient_descent_mse_ensemble(KERNEL_FN, X_TRAIN, Y_TRAIN, diag_reg=-1.0)


def test_finite_width_networks_trained_by_gradient_descent():
    """Wide networks, full-batch GD on ||f - y||^2 / (2N), averaged over 256 initialisations.

    Tolerances. Monte Carlo: each entry is compared with 4 standard errors (a Gaussian tail of
    6e-5 per entry; the outputs of a wide network are close to Gaussian): the mean with
    SE = sqrt(var / S), a covariance entry with SE = sqrt((S_ii S_jj + S_ij^2) / (S - 1)).
    Time: gradient descent with step eta multiplies mode l by (1 - eta l / N)^s instead of
    exp(-l t / N); that discretisation bias is computed exactly at infinite width and added.
    Width: the ensemble mean and covariance of a finite network differ from the limit by
    O(1 / width) (Dyer & Gur-Ari 2020); we allow 4 / width, about 0.002 here (a tenth of the
    Monte Carlo tolerance of the plain mean). A sharper check of the mean regresses each
    trained output on the initial outputs f0 (a control variate with E[f0] = 0 by the symmetry
    of the initialisation), which removes the initialisation noise: its SE is the residual
    spread / sqrt(S), about 1e-3, tested with the same 4 SE + bias + 4 / width.
    """
    width, seeds, eta = 2048, 256, 0.1
    checkpoints = {3.0: 30, 10.0: 100}
    x_train, x_test = X_TRAIN[:6], X_TEST[:3]
    y = Y_TRAIN[:6, :1]
    n = y.size
    init_fn, apply_fn, kernel_fn = network(ErfDual, width=width)

    def loss(params):
        return 0.5 * jnp.mean((apply_fn(params, x_train) - y) ** 2)

    def trained(key):
        _, params = init_fn(key, (-1, 3))
        f0 = apply_fn(params, jnp.vstack([x_test, x_train]))[:, 0]

        def step(p, _):
            grads = jax.grad(loss)(p)
            p = jax.tree.map(lambda a, g: a - eta * g, p, grads)
            return p, apply_fn(p, x_test)[:, 0]

        _, path = jax.lax.scan(step, params, None, length=max(checkpoints.values()))
        return path, f0

    keys = jax.random.split(jax.random.PRNGKey(7), seeds)
    paths, f0 = map(np.asarray, jax.jit(jax.vmap(trained))(keys))
    predict_fn = predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y)
    theta = kernel_fn(x_train, None, get="ntk")
    values, vectors = np.linalg.eigh(theta)
    allowance = 4.0 / width
    for t, steps in checkpoints.items():
        outputs = paths[:, steps - 1]
        mean, cov = predict_fn(t, x_test, get="ntk", compute_cov=True)
        mean = mean[:, 0]
        discrete = (1.0 - (1.0 - eta * values / n) ** steps) / values
        continuous = -np.expm1(-values * t / n) / values
        cross = kernel_fn(x_test, x_train, get="ntk")
        bias = np.abs(cross @ vectors @ ((discrete - continuous)[:, None] * (vectors.T @ y)))
        bias = bias[:, 0]

        se_mean = np.sqrt(np.diag(cov) / seeds)
        assert np.all(np.abs(outputs.mean(0) - mean) < 4 * se_mean + bias + allowance)
        emp_cov = np.cov(outputs, rowvar=False)
        se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / (seeds - 1))
        assert np.all(np.abs(emp_cov - cov) < 4 * se_cov + allowance)

        design = np.column_stack([f0, np.ones(seeds)])
        coef, *_ = np.linalg.lstsq(design, outputs, rcond=None)
        residual = outputs - design @ coef
        se_cv = residual.std(0, ddof=design.shape[1]) / np.sqrt(seeds)
        assert np.all(np.abs(coef[-1] - mean) < 4 * se_cv + bias + allowance)
        # the check has power: the control-variate tolerance is far below the signal
        assert np.all(4 * se_cv + bias + allowance < 0.1 * np.abs(mean).max())


def test_relu_network_infinite_time_matches_solve():
    kernel_fn = network(ReluDual).kernel_fn
    predict_fn = predict.gradient_descent_mse_ensemble(kernel_fn, X_TRAIN, Y_TRAIN, diag_reg=1e-2)
    k = kernel_fn(X_TRAIN, None, get="ntk")
    k = k + 1e-2 * np.mean(np.diag(k)) * np.eye(len(k))
    ref = kernel_fn(X_TEST, X_TRAIN, get="ntk") @ np.linalg.solve(k, Y_TRAIN)
    np.testing.assert_allclose(predict_fn(None, X_TEST), ref, rtol=1e-10, atol=1e-12)

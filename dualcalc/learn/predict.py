"""Infinite-width predictions: the ensemble of networks trained by gradient descent on MSE.

For training time t (learning rate eta, tau = eta t), N = y_train.size, a train-train kernel
K (NNGP) or Theta (NTK) with eigendecomposition U diag(l) U^T (plus the diagonal regulariser) and
phi(l, tau) = (1 - exp(-l tau / N)) / l (tau / N at l = 0), following Neural Tangents'
``predict.gradient_descent_mse_ensemble``:

    mean(x)      = K_xd U phi(l, tau) U^T y                              (test points x)
    nngp cov     = K_xx - K_xd U phi(l, 2 tau) U^T K_dx
    ntk cov      = K_xx + T^T K_dd T - (Theta_xd U phi U^T K_dx + transpose),
                   T = U phi(l, tau) U^T Theta_dx
    train mean   = U (1 - exp(-l tau / N)) U^T y
    train cov    = U l exp(-2 l tau / N) U^T (nngp),  E K_dd E with E = U exp(-l tau / N) U^T (ntk)

"nngp" is the NNGP posterior (training of the readout alone; t = inf: the Bayesian posterior);
"ntk" the ensemble of infinitely wide networks trained in full (Jacot et al. 2018, Lee et al.
2019). t = 0 gives the prior, t = inf kernel ridge with ridge diag_reg. One eigendecomposition
per kernel serves every t and every test set; all linear algebra is float64 numpy, and the
results come back in the kernels' dtype (float32 kernels: float32 predictions).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dualcalc.errors import DualcalcError
from dualcalc.learn.spectral import Spectrum, eigen_spectrum, plus_diagonal

KERNEL_NAMES = ("nngp", "ntk")


class Gaussian(NamedTuple):
    """Mean and covariance of the ensemble's outputs (unpacks as ``mean, covariance``)."""

    mean: np.ndarray
    covariance: np.ndarray


PredictFn = Callable[..., Any]


def gradient_descent_mse_ensemble(
    kernel_fn: Callable[..., Any],
    x_train: Any,
    y_train: Any,
    *,
    diag_reg: float = 0.0,
    learning_rate: float = 1.0,
    diag_reg_absolute_scale: bool = False,
    **kernel_fn_kwargs: Any,
) -> PredictFn:
    """``predict_fn(t=None, x_test=None, get="ntk", compute_cov=False)`` of the infinite ensemble.

    Gradient flow on the loss ||f(x_train) - y_train||^2 / (2 N), N = y_train.size, with the
    given learning rate, averaged over random initialisations of an infinitely wide network
    (Neural Tangents' semantics and normalisation).

    Parameters
    ----------
    kernel_fn : callable
        ``kernel_fn(x1, x2, get=..., **kernel_fn_kwargs)`` returning the NNGP / NTK, e.g. the
        third element of ``dualcalc.nn.serial(...)``. Must give ``(n1, n2)`` matrices.
    x_train : array, shape (n, ...)
    y_train : array, shape (n,) or (n, k)
        Targets; the k outputs share one kernel (they are independent in the limit).
    diag_reg : float, default 0.0
        Ridge added to the train-train kernel: ``diag_reg * mean(diag(K))`` (Neural Tangents'
        convention, trace / n), or ``diag_reg`` itself with ``diag_reg_absolute_scale=True``.
    learning_rate : float, default 1.0
        Time is measured in units of ``t * learning_rate``.
    diag_reg_absolute_scale : bool, default False
    **kernel_fn_kwargs
        Passed to every ``kernel_fn`` call (e.g. ``batch_size``).

    Returns
    -------
    predict_fn : callable
        ``predict_fn(t=None, x_test=None, get="ntk", compute_cov=False)``: ``t`` a number or an
        array of times (``None`` = infinity; array times add leading axes), ``x_test=None``
        predicts on the training points, ``get`` one of "nngp", "ntk", a tuple of them or
        None (both). Returns the mean (shape ``t.shape + (m,)`` or ``+ (m, k)``) or, with
        ``compute_cov``, a ``Gaussian(mean, covariance)`` with covariance
        ``t.shape + (m, m)``; a tuple of these, in the order of ``get``, for a tuple ``get``.

    Examples
    --------
    >>> from dualcalc import nn
    >>> _, _, kernel_fn = nn.serial(nn.Dense(512), nn.Activation("erf"), nn.Dense(1))
    >>> predict_fn = gradient_descent_mse_ensemble(kernel_fn, x_train, y_train)  # doctest: +SKIP
    >>> mean, cov = predict_fn(t=10.0, x_test=x_test, compute_cov=True)  # doctest: +SKIP

    References
    ----------
    Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
    descent", NeurIPS 2019. Novak et al., "Neural Tangents", ICLR 2020.
    """
    y = _check_targets(y_train, _n_points(x_train, "x_train"))
    reg = _check_nonnegative(diag_reg, "diag_reg")
    rate = _check_nonnegative(learning_rate, "learning_rate")
    normalisation = float(y.size)
    flat_y = y.reshape(len(y), -1)
    train_kernels: dict[str, np.ndarray] = {}
    spectra: dict[str, Spectrum] = {}
    out_dtype: list[np.dtype] = []  # the kernels' float dtype: predictions come back in it

    def train_kernel(names: tuple[str, ...]) -> dict[str, np.ndarray]:
        missing = tuple(n for n in names if n not in train_kernels)
        if missing:
            found = kernel_fn(x_train, None, get=missing, **kernel_fn_kwargs)
            if not out_dtype:
                out_dtype.append(np.result_type(np.asarray(found[0]).dtype, np.float32))
            train_kernels.update(zip(missing, (_as_matrix(k) for k in found), strict=True))
        return {n: train_kernels[n] for n in names}

    def spectrum(name: str) -> Spectrum:
        if name not in spectra:
            k = train_kernel((name,))[name]
            scale = reg if diag_reg_absolute_scale else reg * float(np.mean(np.diag(k)))
            spectra[name] = eigen_spectrum(plus_diagonal(k, scale))
        return spectra[name]

    def predict_fn(
        t: Any = None, x_test: Any = None, get: Any = "ntk", compute_cov: bool = False
    ) -> Any:
        names = _check_get(get)
        times = _check_times(t) * rate
        needed = _needed(names, compute_cov)
        k_dd = train_kernel(needed)
        if x_test is None:
            k_td, k_tt = None, None
        else:
            _n_points(x_test, "x_test")
            found = kernel_fn(x_test, x_train, get=needed, **kernel_fn_kwargs)
            k_td = dict(zip(needed, (_as_matrix(k) for k in found), strict=True))
            k_tt = _as_matrix(kernel_fn(x_test, None, get="nngp", **kernel_fn_kwargs))
        results = []
        for name in names:
            spec = spectrum(name)
            if k_td is None:
                mean = _train_mean(spec, flat_y, times, normalisation)
            else:
                mean = _test_mean(spec, k_td[name], flat_y, times, normalisation)
            mean = mean.reshape(times.shape + mean.shape[1:2] + y.shape[1:]).astype(out_dtype[0])
            if not compute_cov:
                results.append(mean)
                continue
            if k_td is None:
                cov = _train_cov(name, spec, k_dd.get("nngp"), times, normalisation)
            else:
                cov = _test_cov(name, spec, k_dd, k_td, k_tt, times, normalisation)
            cov = cov.reshape(times.shape + cov.shape[1:]).astype(out_dtype[0])
            results.append(Gaussian(mean, cov))
        return results[0] if isinstance(get, str) else tuple(results)

    return predict_fn


def phi(values: np.ndarray, times: np.ndarray, normalisation: float) -> np.ndarray:
    """(1 - exp(-l tau / N)) / l per (time, eigenvalue); tau / N at l = 0 (0 if tau = inf)."""
    tau = times.reshape(-1, 1)
    safe = np.where(values > 0, values, 1.0)
    with np.errstate(invalid="ignore"):
        positive = -np.expm1(-safe * tau / normalisation) / safe
        at_zero = np.where(np.isinf(tau), 0.0, tau / normalisation)
    return np.where(values > 0, positive, at_zero)


def decay(values: np.ndarray, times: np.ndarray, normalisation: float) -> np.ndarray:
    """exp(-l tau / N) per (time, eigenvalue); exactly 1 at l = 0 (even for tau = inf)."""
    tau = times.reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        out = np.exp(-values * tau / normalisation)
    return np.where(values > 0, out, 1.0)


def _train_mean(spec: Spectrum, y: np.ndarray, times: np.ndarray, n: float) -> np.ndarray:
    u, e = spec.vectors, decay(spec.values, times, n)
    return np.einsum("ji,ti,ki,ko->tjo", u, 1.0 - e, u, y)


def _test_mean(
    spec: Spectrum, k_td: np.ndarray, y: np.ndarray, times: np.ndarray, n: float
) -> np.ndarray:
    u, p = spec.vectors, phi(spec.values, times, n)
    return np.einsum("mi,ti,io->tmo", k_td @ u, p, u.T @ y)


def _train_cov(
    name: str, spec: Spectrum, nngp_dd: np.ndarray | None, times: np.ndarray, n: float
) -> np.ndarray:
    u, e = spec.vectors, decay(spec.values, times, n)
    if name == "nngp":
        return np.einsum("ji,ti,ki->tjk", u, spec.values * e**2, u)
    propagator = np.einsum("ji,ti,ki->tjk", u, e, u)
    return propagator @ nngp_dd @ propagator.transpose(0, 2, 1)


def _test_cov(
    name: str,
    spec: Spectrum,
    k_dd: dict[str, np.ndarray],
    k_td: dict[str, np.ndarray],
    k_tt: np.ndarray,
    times: np.ndarray,
    n: float,
) -> np.ndarray:
    u = spec.vectors
    projected = k_td[name] @ u
    if name == "nngp":
        p2 = phi(spec.values, 2.0 * times, n)
        return k_tt[None] - np.einsum("mi,ti,li->tml", projected, p2, projected)
    p = phi(spec.values, times, n)
    nngp_projected = k_td["nngp"] @ u
    transfer = np.einsum("ji,ti,mi->tjm", u, p, projected)
    first = np.einsum("tjm,jk,tkl->tml", transfer, k_dd["nngp"], transfer)
    cross = np.einsum("mi,ti,li->tml", projected, p, nngp_projected)
    return k_tt[None] + first - cross - cross.transpose(0, 2, 1)


def _needed(names: tuple[str, ...], compute_cov: bool) -> tuple[str, ...]:
    """Kernels a request needs: the NTK covariance also needs the NNGP (the prior)."""
    wanted = set(names) | ({"nngp"} if compute_cov else set())
    return tuple(n for n in KERNEL_NAMES if n in wanted)


def _as_matrix(k: Any) -> np.ndarray:
    arr = np.asarray(k, dtype=np.float64)
    if arr.ndim != 2:
        raise DualcalcError(
            f"gradient_descent_mse_ensemble needs (n1, n2) kernels (a network ending in a flat "
            f"layer), got shape {arr.shape}"
        )
    return arr


def _n_points(x: Any, name: str) -> int:
    shape = np.shape(x)
    if len(shape) < 2 or shape[0] == 0:
        raise DualcalcError(f"{name} must have shape (n, features) with n >= 1, got {shape}")
    return shape[0]


def _check_targets(y_train: Any, n: int) -> np.ndarray:
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim not in (1, 2) or len(y) != n or y.size == 0:
        raise DualcalcError(
            f"y_train must have shape ({n},) or ({n}, k) to match x_train, got {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise DualcalcError("y_train contains NaN or inf")
    return y


def _check_nonnegative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise DualcalcError(f"{name} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(value):
        raise DualcalcError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_get(get: Any) -> tuple[str, ...]:
    names = KERNEL_NAMES if get is None else ((get,) if isinstance(get, str) else get)
    try:
        names = tuple(names)
    except TypeError:
        names = ()
    if not names or any(n not in KERNEL_NAMES for n in names):
        raise DualcalcError(f"get must be 'nngp', 'ntk', a tuple of them or None, got {get!r}")
    return names


def _check_times(t: Any) -> np.ndarray:
    times = np.array(np.inf if t is None else t, dtype=np.float64)
    if np.any(np.isnan(times)) or np.any(times < 0):
        raise DualcalcError(f"t must be >= 0 (None or inf for the end of training), got {t!r}")
    return times

"""Exact neural-kernel ridge regression and classification, scikit-learn estimators.

f(x) = K(x, X) (K(X, X) + alpha I)^-1 y with K the NNGP or NTK of a fully connected network
(``dualcalc.learn.network``); a grid of alphas is resolved by exact leave-one-out from one
eigendecomposition (``dualcalc.learn.ridge_path``). No intercept, like scikit-learn's
``KernelRidge``: centre the targets (or use ``b_std > 0``) when their mean matters.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from dualcalc.learn.network import (
    check_batch_size,
    check_network_params,
    check_readout,
    fc_network,
    kernel_matrix,
)
from dualcalc.learn.renamed import estimator_get
from dualcalc.learn.ridge_path import fit_ridge


class _NeuralKernelModel(BaseEstimator):
    """Shared parameters, kernel evaluation and ridge fit of the two exact-kernel estimators."""

    def __init__(
        self,
        activation: str = "relu",
        depth: int = 2,
        kernel: str | None = None,
        *,
        get: str = "ntk",
        alpha: Any = 1.0,
        W_std: float = 1.0,
        b_std: float = 0.0,
        readout: bool = True,
        batch_size: int = 256,
    ):
        self.activation = activation
        self.depth = depth
        self.kernel = kernel
        self.get = get
        self.alpha = alpha
        self.W_std = W_std
        self.b_std = b_std
        self.readout = readout
        self.batch_size = batch_size

    def _kernel(self, x1: np.ndarray, x2: np.ndarray | None) -> np.ndarray:
        """K(x1, x2) of this estimator's network (x2=None: the symmetric K(x1, x1))."""
        activation, depth, get, w_std, b_std = check_network_params(
            self.activation, self.depth, estimator_get(self), self.W_std, self.b_std
        )
        network = fc_network(activation, depth, w_std, b_std, check_readout(self.readout))
        with jax.enable_x64(True):  # float64 kernels whatever the caller's JAX mode
            return kernel_matrix(network, x1, x2, get, check_batch_size(self.batch_size))

    def _fit_targets(self, X: np.ndarray, targets: np.ndarray) -> None:
        X = X.astype(np.float64)
        fit = fit_ridge(self._kernel(X, None), targets, self.alpha)
        self.X_fit_ = X
        self.dual_coef_ = fit.dual_coef
        self.alpha_ = fit.alpha
        if fit.loo_errors is not None:
            self.loo_errors_ = fit.loo_errors
        elif hasattr(self, "loo_errors_"):
            del self.loo_errors_

    def _raw_predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        scores = self._kernel(X.astype(np.float64), self.X_fit_) @ self.dual_coef_
        return scores.astype(X.dtype, copy=False)  # computed in float64, returned in X's dtype


class NeuralKernelRidge(RegressorMixin, _NeuralKernelModel):
    """Kernel ridge regression with the exact NNGP / NTK of a fully connected network.

    The network is ``serial(*[Dense(w, W_std, b_std), Activation(activation)] * depth,
    Dense(1, W_std, b_std))`` in the NTK parameterisation (the readout ``Dense`` only with
    ``readout=True``); its kernels do not depend on the widths. Predictions are
    f(x) = K(x, X) (K(X, X) + alpha I)^-1 y, one kernel shared by all outputs. No intercept is
    fitted.

    Parameters
    ----------
    activation : str, default="relu"
        Any activation text of dualcalc's language ("gelu", "tanh", "x*exp(-x**2/2)", ...).
    depth : int, default=2
        Number of hidden (Dense, Activation) pairs.
    kernel : {"ntk", "nngp"} or None, default=None
        Deprecated spelling of ``get`` (honoured with a DeprecationWarning at fit).
    get : {"ntk", "nngp"}, default="ntk"
        Neural tangent kernel (a trained infinite network) or NNGP (a Bayesian one).
    alpha : float or array-like of shape (n_alphas,), default=1.0
        Ridge, in absolute units of the kernel. A 1-D grid is resolved by exact leave-one-out
        error from one eigendecomposition of K(X, X).
    W_std, b_std : float, default=1.0, 0.0
        Weight and bias standard deviations of every Dense layer.
    readout : bool, default=True
        End on a Dense(1) readout layer; False ends on the last activation.
    batch_size : int, default=256
        Rows per kernel block (points of each side; memory per block ~ batch_size^2).

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (float64), needed to predict.
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        (K + alpha_ I)^-1 y.
    alpha_ : float
        The ridge used (the grid's best with a grid).
    loo_errors_ : ndarray of shape (n_alphas,)
        Mean squared leave-one-out error of each alpha of the grid (only with a grid).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string feature names.

    Examples
    --------
    >>> import numpy as np
    >>> from dualcalc.sklearn import NeuralKernelRidge
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> y = np.sin(X[:, 0])
    >>> model = NeuralKernelRidge("gelu", depth=2, alpha=np.logspace(-4, 1, 12)).fit(X, y)
    >>> model.alpha_, model.predict(X[:2]).shape  # doctest: +SKIP
    (0.0017..., (2,))

    References
    ----------
    Jacot, Gabriel and Hongler, "Neural tangent kernel", NeurIPS 2018.
    Lee et al., "Deep neural networks as Gaussian processes", ICLR 2018.
    Allen, "The relationship between variable selection and data augmentation and a method for
    prediction", Technometrics 1974 (leave-one-out of linear smoothers).
    """

    def fit(self, X: Any, y: Any) -> NeuralKernelRidge:
        """Fit on X of shape (n_samples, n_features) and y of shape (n_samples[, n_targets])."""
        X, y = validate_data(
            self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True
        )
        self._fit_targets(X, np.asarray(y, dtype=np.float64))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """K(X, X_fit_) dual_coef_: shape (n,) or (n, n_targets), like y; X's float dtype."""
        return self._raw_predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NeuralKernelClassifier(ClassifierMixin, _NeuralKernelModel):
    """One-vs-rest kernel ridge classification with the exact NNGP / NTK of a network.

    Labels become +-1 targets (one column for two classes, one per class otherwise, as in
    scikit-learn's ``RidgeClassifier``), fitted by kernel ridge; the predicted class is the
    sign (two classes) or the largest score.

    Parameters
    ----------
    activation : str, default="relu"
    depth : int, default=2
    kernel : {"ntk", "nngp"} or None, default=None
        Deprecated spelling of ``get``.
    get : {"ntk", "nngp"}, default="ntk"
    alpha : float or array-like of shape (n_alphas,), default=1.0
        A grid is resolved by the leave-one-out squared error on the +-1 targets.
    W_std, b_std : float, default=1.0, 0.0
    readout : bool, default=True
    batch_size : int, default=256
        See ``NeuralKernelRidge``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    X_fit_ : ndarray of shape (n_samples, n_features)
    dual_coef_ : ndarray of shape (n_samples, 1) or (n_samples, n_classes)
    alpha_ : float
    loo_errors_ : ndarray of shape (n_alphas,)
        Only with a grid.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from dualcalc.sklearn import NeuralKernelClassifier
    >>> X, y = load_wine(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NeuralKernelClassifier("erf", alpha=[0.1, 1, 10]))
    >>> model.fit(X, y).score(X, y)  # doctest: +SKIP
    1.0

    References
    ----------
    Arora et al., "Harnessing the power of infinitely wide deep nets on small-data tasks",
    ICLR 2020 (kernel regression on one-hot targets with the NTK).
    """

    def fit(self, X: Any, y: Any) -> NeuralKernelClassifier:
        """Fit on X of shape (n_samples, n_features) and class labels y of shape (n_samples,)."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        targets = binarizer.fit_transform(y).astype(np.float64)
        if len(binarizer.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least two classes; got one class: "
                f"{binarizer.classes_[0]!r}"
            )
        self.classes_ = binarizer.classes_
        self._fit_targets(X, targets)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Ridge scores: shape (n,) for two classes (> 0 means classes_[1]), else (n, k)."""
        scores = self._raw_predict(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The class of largest score (the sign of the score for two classes)."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[index]

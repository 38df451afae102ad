"""Scikit-learn estimators over a featurizer: streaming ridge in feature space, feature maps.

A *featurizer factory* is ``make_featurizer(n_features_in, random_state) -> featurizer``, with
``random_state`` a ``numpy.random.RandomState`` and ``featurizer`` a jit-able map from a (b, d)
batch to (b, m) features (preferably a ``jax.tree_util.Partial`` of a module-level function, so
its arrays stay arguments of the compiled step and the fitted estimator pickles). ``fit`` calls
the factory once (drawing any randomness), then streams the data through
``dualcalc.learn.streaming``. Subclasses that fix the feature map override ``_make_featurizer``
(which sees the validated X, so it can draw for X's dtype).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from dualcalc.learn import streaming
from dualcalc.learn.network import check_batch_size
from dualcalc.learn.renamed import estimator_progress
from dualcalc.learn.ridge_path import check_alphas


def identity_features(x: Any) -> Any:
    """The inputs themselves as features (linear ridge)."""
    return x


class _StreamingFeatures(BaseEstimator):
    """Featurizer construction and device layout shared by the feature-space estimators."""

    def _make_featurizer(self, X: np.ndarray, random_state: np.random.RandomState) -> Any:
        """The featurizer for the validated training inputs X (drawn once, at fit)."""
        if self.make_featurizer is None:
            return identity_features
        if not callable(self.make_featurizer):
            raise ValueError(
                "make_featurizer must be None or a callable (n_features_in, random_state) -> "
                f"featurizer, got {self.make_featurizer!r}"
            )
        return self.make_featurizer(X.shape[1], random_state)

    def _mesh(self, local: bool = False) -> Any:
        devices = jax.local_devices() if local else jax.devices()
        n = self.n_devices
        if n is None:
            return streaming.data_mesh(devices)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n:
            raise ValueError(f"n_devices must be None or a positive integer, got {n!r}")
        if n > len(devices):
            raise ValueError(f"n_devices={n} but only {len(devices)} devices are available")
        return streaming.data_mesh(devices[:n])

    def _stream_options(self, local: bool = False) -> dict[str, Any]:
        return dict(
            batch_size=check_batch_size(self.batch_size),
            mesh=self._mesh(local),
            progress=estimator_progress(self),
        )


class FeatureRidge(RegressorMixin, _StreamingFeatures):
    """Ridge regression on features F = featurizer(X), streamed over the data in batches.

    w = (F^T F + alpha I)^-1 F^T y, accumulated in float64 batch by batch (memory independent
    of n_samples, X read one batch at a time), batches sharded over the devices. No intercept.

    Parameters
    ----------
    make_featurizer : callable or None, default=None
        ``make_featurizer(n_features_in, random_state) -> featurizer``; None: X itself.
    alpha : float or array-like of shape (n_alphas,), default=1.0
        Ridge; a 1-D grid is resolved by generalised cross-validation,
        GCV(alpha) = RSS / n / (1 - df / n)^2 with df = tr F (F^T F + alpha I)^-1 F^T,
        from one eigendecomposition of F^T F.
    batch_size : int, default=1024
        Rows per batch (per process), rounded up to a multiple of the local devices.
    n_devices : int or None, default=None
        Shard batches over the first n devices (None: all devices of every process).
    random_state : int, RandomState instance or None, default=None
        Passed to make_featurizer as a RandomState.
    progress : bool or None, default=False
        Progress bars over the batches (None: only on a terminal).
    verbose : int or None, default=None
        Deprecated spelling of ``progress`` (``progress=bool(verbose)``, with a
        DeprecationWarning at fit).

    Attributes
    ----------
    featurizer_ : callable
        The featurizer drawn at fit.
    coef_ : ndarray of shape (n_features_out,) or (n_features_out, n_targets)
    alpha_ : float
    gcv_errors_ : ndarray of shape (n_alphas,)
        GCV error of each alpha of the grid (only with a grid).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from dualcalc.sklearn import FeatureRidge
    >>> X = np.load("x.npy", mmap_mode="r")  # doctest: +SKIP
    >>> model = FeatureRidge(alpha=np.logspace(-3, 3, 13), batch_size=8192)
    >>> model.fit(X, y).alpha_  # doctest: +SKIP

    References
    ----------
    Golub, Heath and Wahba, "Generalized cross-validation as a method for choosing a good ridge
    parameter", Technometrics 1979.
    """

    def __init__(
        self,
        make_featurizer: Any = None,
        *,
        alpha: Any = 1.0,
        batch_size: int = 1024,
        n_devices: int | None = None,
        random_state: Any = None,
        progress: bool | None = False,
        verbose: int | None = None,
    ):
        self.make_featurizer = make_featurizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.n_devices = n_devices
        self.random_state = random_state
        self.progress = progress
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> FeatureRidge:
        """Draw the featurizer, accumulate F^T F and F^T y in one pass, solve."""
        X, y = validate_data(
            self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True
        )
        check_alphas(self.alpha)  # before the pass over the data, not after it
        random_state = check_random_state(self.random_state)
        featurizer = self._make_featurizer(X, random_state)
        statistics = streaming.accumulate(featurizer, X, y, **self._stream_options())
        fit = streaming.fit_ridge(statistics, self.alpha)
        self.featurizer_ = featurizer
        self.coef_ = fit.coef
        self.alpha_ = fit.alpha
        if fit.gcv_errors is not None:
            self.gcv_errors_ = fit.gcv_errors
        elif hasattr(self, "gcv_errors_"):
            del self.gcv_errors_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """featurizer_(X) @ coef_, batch by batch, in X's float dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        out = streaming.predict(self.featurizer_, self.coef_, X, **self._stream_options(True))
        return out.astype(X.dtype, copy=False)  # accumulated in float64, returned in X's dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class FeatureTransformer(TransformerMixin, _StreamingFeatures):
    """The features F = featurizer(X) as a transformer: fit draws the map, transform applies it.

    Parameters
    ----------
    make_featurizer : callable or None, default=None
        ``make_featurizer(n_features_in, random_state) -> featurizer``; None: X itself.
    batch_size : int, default=1024
    n_devices : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    progress : bool or None, default=False
    verbose : int or None, default=None
        Deprecated spelling of ``progress``.

    Attributes
    ----------
    featurizer_ : callable
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> from dualcalc.sklearn import FeatureTransformer
    >>> FeatureTransformer().fit_transform([[1.0, 2.0]])
    array([[1., 2.]])
    """

    def __init__(
        self,
        make_featurizer: Any = None,
        *,
        batch_size: int = 1024,
        n_devices: int | None = None,
        random_state: Any = None,
        progress: bool | None = False,
        verbose: int | None = None,
    ):
        self.make_featurizer = make_featurizer
        self.batch_size = batch_size
        self.n_devices = n_devices
        self.random_state = random_state
        self.progress = progress
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> FeatureTransformer:
        """Draw the featurizer for X's number of features."""
        X = validate_data(self, X, dtype=(np.float64, np.float32))
        random_state = check_random_state(self.random_state)
        self.featurizer_ = self._make_featurizer(X, random_state)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """featurizer_(X), batch by batch: (n_samples, n_features_out) in the dtype of X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        features = streaming.transform(self.featurizer_, X, **self._stream_options(True))
        return features.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

"""Sketched neural-kernel estimators: the exact estimators' network through ``dualcalc.features``.

``NeuralKernelFeatures`` (a transformer) and ``SketchedKernelRidge`` (streaming ridge) sketch
the very network ``NeuralKernelRidge`` uses, ``fc_network(activation, depth, W_std, b_std)`` =
depth x (Dense, Activation) + a Dense readout in the NTK parameterisation, so that
<phi(x), phi(y)> ~ K(x, y) is an approximation of the exact estimators' own kernel and the
two are comparable at any n_components. A featurizer is ``jax.tree_util.Partial(apply,
params)``: ``apply`` a hashable description of the sketch (equal descriptions share one
compiled step; unpickling rebuilds the feature map from it), ``params`` the random draws,
made at fit from ``random_state`` in float64 and cast to the inputs' dtype (float32 and
float64 fits of one random_state share one sketch, up to rounding).
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin

from dualcalc import features
from dualcalc.features import METHODS, FeatureMap
from dualcalc.learn.feature_ridge import FeatureRidge, FeatureTransformer
from dualcalc.learn.network import (
    check_batch_size,
    check_network_params,
    check_readout,
    fc_network,
)
from dualcalc.learn.renamed import estimator_get

#: Rows per batch when NeuralKernelFeatures is given batch_size=None.
DEFAULT_BATCH = 1024


@dataclass(frozen=True)
class FCSketch:
    """The exact estimators' fully connected network, sketched to width n_components."""

    activation: str
    depth: int
    W_std: float
    b_std: float
    n_components: int
    method: str = "polysketch"
    degree: int | None = None
    readout: bool = True

    def feature_map(self) -> FeatureMap:
        """``features.sketch(fc_network(...))``, built once per description."""
        return _fc_feature_map(self)


@functools.lru_cache(maxsize=32)
def _fc_feature_map(sketch: FCSketch) -> FeatureMap:
    network = fc_network(
        sketch.activation, sketch.depth, sketch.W_std, sketch.b_std, sketch.readout
    )
    # the map's own key is never used: every draw passes its key explicitly
    return features.sketch(
        network,
        sketch.n_components,
        key=jax.random.PRNGKey(0),
        method=sketch.method,
        degree=sketch.degree,
    )


@dataclass(frozen=True)
class SketchApply:
    """(params, x) -> the ``get`` features of x (rows reshaped to example_shape, cast to dtype)."""

    sketch: FCSketch | FeatureMap
    get: str
    example_shape: tuple[int, ...]
    dtype: str

    def __call__(self, params: Any, x: Any) -> Any:
        feature_map = _feature_map_of(self.sketch)
        rows = jnp.reshape(x, (x.shape[0],) + self.example_shape).astype(self.dtype)
        return getattr(feature_map.apply(params, rows, with_ntk=self.get == "ntk"), self.get)


def sketched_featurizer(
    sketch: FCSketch | FeatureMap,
    key: Any,
    example_shape: tuple[int, ...],
    dtype: Any = np.float64,
    get: str = "ntk",
) -> jax.tree_util.Partial:
    """A streaming featurizer: (b, *example_shape) or (b, prod(example_shape)) rows -> (b, m).

    The draws are made from ``key`` in float64 and cast to ``dtype`` (numpy arrays, so the
    featurizer pickles); ``get`` is "ntk" or "nngp". Any ``FeatureMap`` works (a Myrtle CNTK
    on flattened images, say); an ``FCSketch`` also pickles.
    """
    if get not in ("nngp", "ntk"):
        raise ValueError(f"get must be 'nngp' or 'ntk', got {get!r}")
    dtype = np.dtype(dtype)
    feature_map = _feature_map_of(sketch)
    example_shape = tuple(int(s) for s in example_shape)
    with jax.enable_x64(True):
        drawn = feature_map.draw(key, example_shape, np.float64)
    params = jax.tree.map(lambda a: _cast_floats(np.asarray(a), dtype), drawn)
    return jax.tree_util.Partial(SketchApply(sketch, get, example_shape, dtype.name), params)


def _feature_map_of(sketch: FCSketch | FeatureMap) -> FeatureMap:
    return sketch.feature_map() if isinstance(sketch, FCSketch) else sketch


def _cast_floats(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a


class _SketchedNetwork:
    """The featurizer of the estimators' parameters, drawn at fit (shared by both classes)."""

    def _sketch(self) -> FCSketch:
        activation, depth, _, w_std, b_std = check_network_params(
            self.activation, self.depth, self._get(), self.W_std, self.b_std
        )
        n_components = _positive_int(self.n_components, "n_components")
        degree = None if self.degree is None else _positive_int(self.degree, "degree")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        readout = check_readout(self.readout)
        return FCSketch(
            activation, depth, w_std, b_std, n_components, self.method, degree, readout
        )

    def _get(self) -> str:
        return estimator_get(self)

    def _make_featurizer(self, X: np.ndarray, random_state: np.random.RandomState) -> Any:
        sketch = self._sketch()
        key = jax.random.PRNGKey(random_state.randint(np.iinfo(np.int32).max))
        return sketched_featurizer(sketch, key, (X.shape[1],), X.dtype, self._get())


class SketchedKernelRidge(_SketchedNetwork, FeatureRidge):
    """Ridge regression on sketched NNGP / NTK features of a fully connected network.

    The features phi (n_components columns) of ``dualcalc.features`` satisfy
    <phi(x), phi(y)> ~ K(x, y), K the kernel of ``NeuralKernelRidge`` with the same
    parameters (the same network: depth x (Dense, Activation) + Dense readout); the model is
    w = (F^T F + alpha I)^-1 F^T y, streamed over the data in batches (memory independent of
    n_samples, ``numpy.memmap`` welcome, batches sharded over the devices). Cost O(n m^2)
    instead of the exact kernel's O(n^2 d + n^3). No intercept.

    Parameters
    ----------
    activation : str, default="relu"
        Any activation text of dualcalc's language.
    depth : int, default=2
        Number of hidden (Dense, Activation) pairs.
    kernel : {"ntk", "nngp"} or None, default=None
        Deprecated spelling of ``get`` (honoured with a DeprecationWarning at fit).
    get : {"ntk", "nngp"}, default="ntk"
    n_components : int, default=2048
        Feature width m.
    degree : int or None, default=None
        Hermite degree of every sketched activation (polysketch; None: chosen per layer from
        the tail bound, ``dualcalc.features.degree``).
    W_std, b_std : float, default=1.0, 0.0
        Weight and bias standard deviations of every Dense layer.
    readout : bool, default=True
        End on a Dense readout layer; False ends on the last activation.
    method : {"polysketch", "random", "arccos", "leverage"}, default="polysketch"
        Sketch of each activation (see ``dualcalc.features.sketch``; the last two: ReLU only).
    alpha : float or array-like of shape (n_alphas,), default=1.0
        Ridge; a 1-D grid is resolved by generalised cross-validation from one
        eigendecomposition of F^T F (see ``FeatureRidge``).
    batch_size : int, default=1024
        Rows per batch (per process).
    n_devices : int or None, default=None
        Shard batches over the first n devices (None: all).
    random_state : int, RandomState instance or None, default=None
        Seeds the sketch's draws.
    progress : bool or None, default=False
        Progress bars over the batches (None: only on a terminal).
    verbose : int or None, default=None
        Deprecated spelling of ``progress``.

    Attributes
    ----------
    featurizer_ : jax.tree_util.Partial
        The drawn feature map: (b, n_features_in_) -> (b, n_components).
    coef_ : ndarray of shape (n_components,) or (n_components, n_targets)
    alpha_ : float
    gcv_errors_ : ndarray of shape (n_alphas,)
        Only with a grid.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from dualcalc.sklearn import SketchedKernelRidge
    >>> X = np.random.default_rng(0).normal(size=(500, 8))
    >>> y = np.sin(X[:, 0])
    >>> model = SketchedKernelRidge("gelu", n_components=512, alpha=[1e-3, 1e-2, 1e-1])
    >>> model.fit(X, y).predict(X[:2]).shape  # doctest: +SKIP
    (2,)

    References
    ----------
    Han et al., "Fast neural kernel embeddings for general activations", NeurIPS 2022.
    Zandieh et al., "Scaling neural tangent kernels via sketching and random features",
    NeurIPS 2021.
    """

    def __init__(
        self,
        activation: str = "relu",
        depth: int = 2,
        kernel: str | None = None,
        *,
        get: str = "ntk",
        n_components: int = 2048,
        degree: int | None = None,
        W_std: float = 1.0,
        b_std: float = 0.0,
        readout: bool = True,
        method: str = "polysketch",
        alpha: Any = 1.0,
        batch_size: int = 1024,
        n_devices: int | None = None,
        random_state: Any = None,
        progress: bool | None = False,
        verbose: int | None = None,
    ):
        self.activation = activation
        self.depth = depth
        self.kernel = kernel
        self.get = get
        self.n_components = n_components
        self.degree = degree
        self.W_std = W_std
        self.b_std = b_std
        self.readout = readout
        self.method = method
        self.alpha = alpha
        self.batch_size = batch_size
        self.n_devices = n_devices
        self.random_state = random_state
        self.progress = progress
        self.verbose = verbose


class NeuralKernelFeatures(_SketchedNetwork, ClassNamePrefixFeaturesOutMixin, FeatureTransformer):
    """Sketched NNGP / NTK features of a fully connected network, as a transformer.

    fit draws the sketch (for X's number of features), transform applies it in batches:
    <transform(x), transform(y)> ~ K(x, y), the kernel of ``NeuralKernelRidge`` with the same
    parameters. Ridge on these features is ``SketchedKernelRidge``.

    Parameters
    ----------
    activation : str, default="relu"
    depth : int, default=2
    kernel : {"ntk", "nngp"} or None, default=None
        Deprecated spelling of ``get``.
    get : {"ntk", "nngp"}, default="ntk"
    n_components : int, default=2048
    degree : int or None, default=None
    W_std, b_std : float, default=1.0, 0.0
    readout : bool, default=True
    method : {"polysketch", "random", "arccos", "leverage"}, default="polysketch"
        See ``SketchedKernelRidge``.
    random_state : int, RandomState instance or None, default=None
    batch_size : int or None, default=None
        Rows per batch of transform (None: 1024); runs on all local devices. Features come
        out in the dtype of X (float32 or float64).

    Attributes
    ----------
    featurizer_ : jax.tree_util.Partial
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> from sklearn.linear_model import RidgeCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from dualcalc.sklearn import NeuralKernelFeatures
    >>> model = make_pipeline(NeuralKernelFeatures("tanh", n_components=1024), RidgeCV())
    >>> model.fit(X, y).score(X_test, y_test)  # doctest: +SKIP

    References
    ----------
    Han et al., "Fast neural kernel embeddings for general activations", NeurIPS 2022.
    """

    def __init__(
        self,
        activation: str = "relu",
        depth: int = 2,
        kernel: str | None = None,
        *,
        get: str = "ntk",
        n_components: int = 2048,
        degree: int | None = None,
        W_std: float = 1.0,
        b_std: float = 0.0,
        readout: bool = True,
        method: str = "polysketch",
        random_state: Any = None,
        batch_size: int | None = None,
    ):
        self.activation = activation
        self.depth = depth
        self.kernel = kernel
        self.get = get
        self.n_components = n_components
        self.degree = degree
        self.W_std = W_std
        self.b_std = b_std
        self.readout = readout
        self.method = method
        self.random_state = random_state
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> NeuralKernelFeatures:
        """Draw the sketch for X's number of features (y is ignored)."""
        super().fit(X, y)
        self._n_features_out = self.n_components
        return self

    def _stream_options(self, local: bool = False) -> dict[str, Any]:
        size = DEFAULT_BATCH if self.batch_size is None else check_batch_size(self.batch_size)
        return dict(batch_size=size, mesh=None, progress=False)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)

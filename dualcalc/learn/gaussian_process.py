"""NeuralKernel: the NNGP / NTK of a network as a scikit-learn Gaussian-process kernel.

k(x, y) is the kernel of ``serial(*[Dense(w, W_std, b_std), Activation(s)] * depth,
Dense(1, W_std, b_std))`` (the readout Dense only with ``readout=True``); W_std and b_std are
hyperparameters in scikit-learn's form (theta = their logarithms), and
dK/dtheta = (W_std dK/dW_std, b_std dK/db_std) is exact, from forward-mode autodiff through the
kernel recursion (``dualcalc.learn.hyper_kernel``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax
import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from dualcalc.learn.hyper_kernel import compiled_diagonal, compiled_gradient, compiled_kernel
from dualcalc.learn.network import check_network_params, check_readout
from dualcalc.learn.renamed import estimator_get


class NeuralKernel(Kernel):
    """Exact NNGP or NTK of a fully connected network, for ``GaussianProcessRegressor``.

    Hyperparameters W_std and b_std are tuned in log space by the regressor's marginal
    likelihood; a hyperparameter whose value is 0 (e.g. ``b_std=0``, no biases) has no
    logarithm and is held fixed, as are those with bounds "fixed".

    Parameters
    ----------
    activation : str, default="relu"
        Any activation text of dualcalc's language.
    depth : int, default=2
        Number of hidden (Dense, Activation) pairs.
    kernel : {"nngp", "ntk"} or None, default=None
        Deprecated spelling of ``get`` (honoured with a DeprecationWarning).
    get : {"ntk", "nngp"}, default="ntk"
        The NTK (the default of every dualcalc function) or the NNGP (the prior of a
        Bayesian network, the usual Gaussian-process choice: ask for it with ``get="nngp"``).
    W_std : float, default=1.0
        Weight standard deviation of every Dense layer (kernel amplitude and shape).
    b_std : float, default=0.1
        Bias standard deviation of every Dense layer.
    readout : bool, default=True
        End on a Dense readout layer; False ends on the last activation.
    W_std_bounds, b_std_bounds : pair of floats >= 0 or "fixed", default=(1e-2, 1e2), (1e-3, 1e2)
        Search range of each hyperparameter.

    Attributes
    ----------
    hyperparameter_W_std, hyperparameter_b_std : Hyperparameter
    theta : ndarray
        log of the non-fixed hyperparameters, in the order W_std, b_std.

    Examples
    --------
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import WhiteKernel
    >>> from dualcalc.sklearn import NeuralKernel
    >>> gp = GaussianProcessRegressor(NeuralKernel("gelu", 3, get="nngp") + WhiteKernel())
    >>> gp.fit(X, y).predict(X_test, return_std=True)  # doctest: +SKIP

    References
    ----------
    Lee et al., "Deep neural networks as Gaussian processes", ICLR 2018.
    Rasmussen and Williams, "Gaussian processes for machine learning", MIT Press 2006, ch. 5.
    """

    def __init__(
        self,
        activation: str = "relu",
        depth: int = 2,
        kernel: str | None = None,
        *,
        get: str = "ntk",
        W_std: float = 1.0,
        b_std: float = 0.1,
        readout: bool = True,
        W_std_bounds: Any = (1e-2, 1e2),
        b_std_bounds: Any = (1e-3, 1e2),
    ):
        self.activation = activation
        self.depth = depth
        self.kernel = kernel
        self.get = get
        self.readout = readout
        self.W_std = W_std
        self.b_std = b_std
        self.W_std_bounds = W_std_bounds
        self.b_std_bounds = b_std_bounds

    @property
    def hyperparameter_W_std(self) -> Hyperparameter:
        return Hyperparameter("W_std", "numeric", _bounds(self.W_std, self.W_std_bounds))

    @property
    def hyperparameter_b_std(self) -> Hyperparameter:
        return Hyperparameter("b_std", "numeric", _bounds(self.b_std, self.b_std_bounds))

    def __call__(self, X: Any, Y: Any = None, eval_gradient: bool = False) -> Any:
        """K(X, Y) (Y=None: K(X, X)) and, with eval_gradient, dK/dtheta of shape (n, n, n_dims).

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
        Y : ndarray of shape (n_samples_Y, n_features), default=None
        eval_gradient : bool, default=False
            Gradient with respect to the log of the non-fixed hyperparameters; only with Y=None.
        """
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        activation, depth, get, w_std, b_std, readout = self._checked()
        x = _as_points(X)
        with _float64():
            if not eval_gradient:
                y = x if Y is None else _as_points(Y)
                fn = compiled_kernel(activation, depth, get, readout)
                return np.array(fn(x, y, Y is None, w_std, b_std), dtype=np.float64)
            fn = compiled_gradient(activation, depth, get, readout)
            k, jacobian = fn(x, np.array([w_std, b_std]))
        k, jacobian = np.array(k, dtype=np.float64), np.array(jacobian, dtype=np.float64)
        # d/d log p = p d/dp, for the hyperparameters that are not fixed (theta's order)
        columns = [
            (jacobian[..., 0] * w_std, self.hyperparameter_W_std),
            (jacobian[..., 1] * b_std, self.hyperparameter_b_std),
        ]
        free = [column for column, hyper in columns if not hyper.fixed]
        return k, np.stack(free, axis=-1) if free else np.empty(k.shape + (0,))

    def diag(self, X: Any) -> np.ndarray:
        """k(x, x) for every row of X, without the off-diagonal pairs."""
        activation, depth, get, w_std, b_std, readout = self._checked()
        with _float64():
            fn = compiled_diagonal(activation, depth, get, readout)
            return np.array(fn(_as_points(X), w_std, b_std), dtype=np.float64)

    def is_stationary(self) -> bool:
        """Dot-product kernels of a network are not translation invariant."""
        return False

    def __repr__(self) -> str:
        return (
            f"NeuralKernel(activation={self.activation!r}, depth={self.depth}, "
            f"get={self.get!r}, W_std={self.W_std:.3g}, b_std={self.b_std:.3g})"
        )

    def _checked(self) -> tuple[str, int, str, float, float, bool]:
        checked = check_network_params(
            self.activation, self.depth, estimator_get(self), self.W_std, self.b_std
        )
        readout = check_readout(self.readout)
        if checked[1] == 0 and not readout:
            raise ValueError("depth=0 with readout=False leaves no layer: the network needs one")
        return (*checked, readout)


def _bounds(value: Any, bounds: Any) -> Any:
    """A hyperparameter at 0 has no log (theta = -inf) and is held fixed."""
    return "fixed" if isinstance(bounds, str) or value == 0 else bounds


def _as_points(X: Any) -> np.ndarray:
    x = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if x.ndim != 2:
        raise ValueError(f"NeuralKernel expects X of shape (n_samples, n_features), got {x.shape}")
    return x


def _float64() -> contextlib.AbstractContextManager:
    return jax.enable_x64(True)

"""The estimators speak the public vocabulary: get, readout, progress; old spellings warn.

Oracles: the exact kernel of an independently built ``dualcalc.nn`` network (the readout
choice made explicit there) and the same estimator fitted with the new spelling.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from dualcalc import nn
from dualcalc.errors import DualcalcError
from dualcalc.sklearn import NeuralKernel, NeuralKernelRidge, SketchedKernelRidge

RNG = np.random.default_rng(7)
X = RNG.normal(size=(12, 3))
Y = np.sin(X[:, 0])
X_NEW = RNG.normal(size=(4, 3))


def network_kernel(get, x1, x2=None, readout=True):
    """K of 2 x (Dense(300), Activation("erf")) [+ Dense(3)], built here from dualcalc.nn."""
    layers = [nn.Dense(300, W_std=1.2, b_std=0.3), nn.Activation("erf")] * 2
    if readout:
        layers.append(nn.Dense(3, W_std=1.2, b_std=0.3))
    return np.asarray(nn.serial(*layers).kernel_fn(x1, x2, get=get))


@pytest.mark.parametrize("readout", [True, False])
def test_readout_choice_matches_the_network_kernel(readout):
    params = dict(get="nngp", W_std=1.2, b_std=0.3, readout=readout)
    model = NeuralKernelRidge("erf", 2, alpha=0.1, **params).fit(X, Y)
    k = network_kernel("nngp", X, readout=readout)
    expected = network_kernel("nngp", X_NEW, X, readout=readout) @ np.linalg.solve(
        k + 0.1 * np.eye(len(X)), Y
    )
    np.testing.assert_allclose(model.predict(X_NEW), expected, rtol=1e-10, atol=1e-12)
    gp_kernel = NeuralKernel("erf", 2, **params)
    np.testing.assert_allclose(gp_kernel(X_NEW, X), network_kernel("nngp", X_NEW, X, readout),
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(gp_kernel.diag(X), np.diag(k), rtol=1e-10)


def test_kernel_is_a_deprecated_spelling_of_get():
    old = NeuralKernelRidge("erf", 2, "nngp", alpha=0.1)
    assert old.get_params()["kernel"] == "nngp" and old.get_params()["get"] == "ntk"
    assert clone(old).get_params() == old.get_params()
    with pytest.warns(DeprecationWarning, match="kernel= is deprecated.*get="):
        old.fit(X, Y)
    new = NeuralKernelRidge("erf", 2, get="nngp", alpha=0.1).fit(X, Y)
    np.testing.assert_array_equal(old.predict(X_NEW), new.predict(X_NEW))
    with pytest.warns(DeprecationWarning, match="kernel= is deprecated"):
        np.testing.assert_array_equal(
            NeuralKernel("erf", 2, kernel="nngp")(X), NeuralKernel("erf", 2, get="nngp")(X)
        )


def test_new_spellings_do_not_warn_and_conflicts_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        NeuralKernelRidge("erf", 1, get="nngp").fit(X, Y)
        SketchedKernelRidge("erf", 1, n_components=32, progress=False, random_state=0).fit(X, Y)
    with pytest.raises(DualcalcError, match="give get= only"):
        NeuralKernelRidge("erf", 1, kernel="ntk", get="nngp").fit(X, Y)
    with pytest.raises(DualcalcError, match="give progress= only"):
        SketchedKernelRidge("erf", 1, n_components=32, verbose=1, progress=None).fit(X, Y)


def test_bad_readout_and_empty_network_are_refused():
    with pytest.raises(ValueError, match="readout must be True or False"):
        NeuralKernelRidge(readout="yes").fit(X, Y)
    with pytest.raises(ValueError, match="depth=0 with readout=False"):
        NeuralKernelRidge(depth=0, readout=False).fit(X, Y)
    with pytest.raises(ValueError, match="depth=0 with readout=False"):
        NeuralKernel(depth=0, readout=False)(X)

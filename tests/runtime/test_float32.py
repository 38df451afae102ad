"""float32 runs of the runtime's public paths: generated modules and network kernels, x64 off.

Each result must be float32, finite, and within a stated bound of the float64 result of the
same inputs (computed in the same test with x64 on); Gram matrices must be PSD to rounding.
Bounds (``float32_bounds``): EVALUATION_ULPS float32 ulps of the Cauchy-Schwarz scale
sqrt(K(q1, q1, q1) K(q2, q2, q2)) plus the input sensitivity for the dual kernels; for a
network, EVALUATION_ULPS ulps of max |K| per layer, premised on off-diagonal |rho| <= 0.99
(checked), where every dual has a bounded condition.
"""

import jax
import numpy as np
import pytest
from float32_bounds import (
    EPS32,
    EVALUATION_ULPS,
    assert_float32_close,
    assert_psd_to_rounding,
    input_sensitivity,
)

import dualcalc
from dualcalc import nn

Q = np.array([0.5, 1.0, 2.0, 4.0, 0.25, 1.0], dtype=np.float32)
Q2 = np.array([0.5, 4.0, 2.0, 1.0, 0.25, 1.0], dtype=np.float32)
RHO = np.array([1.0, -1.0, 0.3, -0.7, 0.999, 0.0])


def _pairs():
    """(q1, q2, c) in float32, c = rho sqrt(q1 q2) rounded; rho = +-1 pairs exactly on the edge."""
    c = (RHO * np.sqrt(Q.astype(np.float64) * Q2)).astype(np.float32)
    c[:2] = np.array([Q[0], -Q[1]], dtype=np.float32)  # q1 == q2 there: c = +-q exactly
    return Q, Q2, c


@pytest.mark.parametrize("activation", ["gelu", "relu", "tanh"])
def test_generated_module_functions_in_float32(float32, activation):
    module = dualcalc.load(activation)
    q1, q2, c = _pairs()
    with jax.enable_x64(True):
        def nngp64(a, b, cc):
            return np.asarray(module.nngp(a, b, cc))

        def dnngp64(a, b, cc):
            return np.asarray(module.dnngp(a, b, cc))

        args = tuple(np.asarray(v, dtype=np.float64) for v in (q1, q2, c))
        k64, dk64 = nngp64(*args), dnngp64(*args)
        scale = np.sqrt(nngp64(args[0], args[0], args[0]) * nngp64(args[1], args[1], args[1]))
        dscale = np.sqrt(dnngp64(args[0], args[0], args[0]) * dnngp64(args[1], args[1], args[1]))
        k_sens, dk_sens = input_sensitivity(nngp64, args), input_sensitivity(dnngp64, args)
    k32, dk32 = module.nngp(q1, q2, c), module.dnngp(q1, q2, c)
    for got, want, sens, s in ((k32, k64, k_sens, scale), (dk32, dk64, dk_sens, dscale)):
        got = np.asarray(got)
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        error = np.abs(got.astype(np.float64) - want)
        assert np.all(error <= EVALUATION_ULPS * EPS32 * s + 2 * sens), error / (EPS32 * s)
    grads = jax.grad(lambda c_: module.nngp(q1, q2, c_).sum())(c)
    assert grads.dtype == np.float32 and np.all(np.isfinite(grads))


def _network_check(layers, x32, n_layers):
    """kernel_fn in float32 against float64 at the same float32 inputs; PSD; bound above."""
    net = nn.serial(*layers)
    with jax.enable_x64(True):
        x64 = x32.astype(np.float64)
        k64 = {g: np.asarray(net.kernel_fn(x64, None, get=g)) for g in ("nngp", "ntk")}
    nngp, ntk = net.kernel_fn(x32, None, get=("nngp", "ntk"))
    flat = k64["nngp"].reshape(len(x32), len(x32))
    rho = flat / np.sqrt(np.outer(np.diag(flat), np.diag(flat)))
    assert np.abs(rho[~np.eye(len(x32), dtype=bool)]).max() <= 0.99  # the bound's premise
    for name, k32 in (("nngp", nngp), ("ntk", ntk)):
        want = k64[name]
        assert_float32_close(k32, want, EVALUATION_ULPS * n_layers, np.abs(want).max())
        assert_psd_to_rounding(np.asarray(k32).reshape(len(x32), len(x32)), name)


def test_fully_connected_kernel_fn_in_float32(float32):
    x32 = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    x32[5] = 0.0  # a zero-norm input
    layers = [nn.Dense(64, W_std=1.5, b_std=0.1), nn.Activation("gelu")]
    layers += [nn.Dense(64, W_std=1.5, b_std=0.1), nn.Activation("tanh"), nn.Dense(1)]
    _network_check(layers, x32, n_layers=5)


def test_small_conv_kernel_fn_in_float32(float32):
    x32 = np.random.default_rng(1).normal(size=(3, 4, 4, 2)).astype(np.float32)
    layers = [nn.Conv(8, (3, 3), W_std=1.4), nn.Activation("relu"), nn.AvgPool((2, 2))]
    layers += [nn.Flatten(), nn.Dense(1)]
    _network_check(layers, x32, n_layers=5)

"""dualcalc.nn with the product's own dual modules (``dualcalc.load``): GELU, tanh, composition.

Each network is checked against the layer-by-layer quadrature recursion (fully connected) or
the slow pixel-loop recursion (Myrtle-5), with the activations written again here in numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from conv_reference import IMAGES, reference_myrtle5
from nn_oracles import pair_expectation, reference_fc
from scipy.special import erf

import dualcalc
from dualcalc import nn
from dualcalc.runtime.elementwise import composed_text


def load_or_skip(text):
    try:
        return dualcalc.load(text)
    except ImportError as exc:  # a sibling engine (e.g. the Hermite runtime) has not landed
        pytest.skip(f"dualcalc.load({text!r}) unavailable: {exc}")


@dataclass(frozen=True)
class NumpyActivation:
    """s and s' in numpy, with the kinks of s, for the quadrature reference."""

    numpy: object
    numpy_derivative: object
    KINKS: tuple = ()


def _phi(x):
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


GELU = NumpyActivation(
    lambda x: x * _phi(x),
    lambda x: _phi(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi),
)
TANH = NumpyActivation(np.tanh, lambda x: 1.0 / np.cosh(x) ** 2)
COS_RELU = NumpyActivation(
    lambda x: np.cos(np.maximum(x, 0.0)),
    lambda x: np.where(x > 0, -np.sin(x), 0.0),
    (0.0,),
)
POINTS = np.random.default_rng(11).normal(size=(3, 6)) * np.array([[0.6], [1.0], [1.8]])


def fc(activations, depth, w_std, b_std):
    layers = []
    for _ in range(depth):
        layers.append(nn.Dense(32, W_std=w_std, b_std=b_std))
        layers += [nn.Activation(a) for a in activations]
    return nn.serial(*layers, nn.Dense(1, W_std=w_std, b_std=b_std))


def test_three_layer_gelu_network_matches_quadrature():
    load_or_skip("gelu")
    ref_nngp, ref_ntk = reference_fc(GELU, POINTS, 3, 1.2, 0.3)
    nngp, ntk = fc(["gelu"], 3, 1.2, 0.3).kernel_fn(POINTS, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-10)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-10)


def test_two_layer_tanh_network_matches_quadrature():
    load_or_skip("tanh")
    ref_nngp, ref_ntk = reference_fc(TANH, POINTS, 2, 1.5, 0.1)
    nngp, ntk = fc(["tanh"], 2, 1.5, 0.1).kernel_fn(POINTS, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-9)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-9)


def test_two_activations_in_a_row_compose():
    relu, cos = load_or_skip("relu"), load_or_skip("cos")
    assert composed_text([relu, cos]) == "cos(x*step(x))"
    assert dualcalc.parse(composed_text([relu, cos])).expr == dualcalc.parse("cos(relu(x))").expr
    load_or_skip("cos(relu(x))")
    ref_nngp, ref_ntk = reference_fc(COS_RELU, POINTS, 2, 1.3, 0.2)
    composed = fc(["relu", "cos"], 2, 1.3, 0.2).kernel_fn(POINTS, get=("nngp", "ntk"))
    direct = fc(["cos(relu(x))"], 2, 1.3, 0.2).kernel_fn(POINTS, get=("nngp", "ntk"))
    for got, same, ref in zip(composed, direct, (ref_nngp, ref_ntk), strict=True):
        np.testing.assert_array_equal(got, same)
        np.testing.assert_allclose(got, ref, rtol=1e-9)


def mehler_reference(f, df, degree=200, nodes=320):
    """A numpy dual by Mehler's series: a_k(q) by Gauss-Hermite (not the runtime's rule).

    At rho = 1, q1 = q2 (a pixel with itself) the exact E[f(u)^2], E[f'(u)^2] are used.
    """
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2.0 * math.pi)
    h = np.zeros((degree + 2, nodes))
    h[0], h[1] = 1.0, z
    for k in range(1, degree + 1):
        h[k + 1] = (z * h[k] - math.sqrt(k) * h[k - 1]) / math.sqrt(k + 1)

    def coefficients(q):
        distinct, where = np.unique(q, return_inverse=True)
        table = (f(np.sqrt(distinct)[:, None] * z) * w) @ h.T
        return table[where.reshape(q.shape)]

    def dual(q1, q2, c):
        q1, q2, c = np.broadcast_arrays(q1, q2, c)
        a1, a2 = coefficients(q1), coefficients(q2)
        rho = c / np.sqrt(q1 * q2)
        powers = rho[..., None] ** np.arange(degree + 2)
        nngp = np.sum(a1 * a2 * powers, axis=-1)
        k = np.arange(1, degree + 2)
        dot = np.sum(k * a1[..., 1:] * a2[..., 1:] * powers[..., :-1], axis=-1) / np.sqrt(q1 * q2)
        diagonal = (q1 == q2) & (c == q1)
        u = np.sqrt(q1)[..., None] * z
        nngp = np.where(diagonal, np.sum(f(u) ** 2 * w, axis=-1), nngp)
        dot = np.where(diagonal, np.sum(df(u) ** 2 * w, axis=-1), dot)
        return nngp, dot

    return dual


def test_myrtle5_tanh_matches_slow_recursion():
    load_or_skip("tanh")
    tanh_dual = mehler_reference(np.tanh, lambda x: 1.0 / np.cosh(x) ** 2)
    for q1, q2, c in [(2.0, 1.4, 0.9), (0.2, 0.5, -0.25), (3.5, 3.0, 3.2)]:  # the reference itself
        want = pair_expectation(np.tanh, np.tanh, q1, q2, c)
        assert tanh_dual(q1, q2, c)[0] == pytest.approx(want, rel=1e-12)
    images = IMAGES[:2]
    ref_k, ref_t = reference_myrtle5(images, tanh_dual, math.sqrt(2.0), 0.0)
    nngp, ntk = nn.myrtle(5, "tanh").kernel_fn(images, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref_k, rtol=1e-12)
    np.testing.assert_allclose(ntk, ref_t, rtol=1e-10)


def test_ntk_of_a_discontinuous_activation_is_refused_but_nngp_works():
    load_or_skip("sign")
    net = nn.serial(nn.Dense(8), nn.Activation("sign"), nn.Dense(1))
    nngp = net.kernel_fn(POINTS, get="nngp")
    rho = (POINTS @ POINTS.T) / np.sqrt(np.outer(*2 * [np.sum(POINTS**2, axis=1)]))
    np.testing.assert_allclose(nngp, 1.0 - 2.0 * np.arccos(np.clip(rho, -1, 1)) / np.pi, atol=1e-12)
    with pytest.raises(dualcalc.DualcalcError, match="distribution"):
        net.kernel_fn(POINTS, get="ntk")


def test_unknown_activation_text_is_an_expression_error():
    with pytest.raises(dualcalc.ExpressionError):
        nn.Activation("relu(x) + bogus(x)")

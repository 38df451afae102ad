"""float32 exact kernels against float64, within error bounds derived layer by layer.

The oracle is the float64 recursion of the published closed forms (``nn_oracles``: Cho & Saul's
arc-cosine kernel for relu, Williams' arcsin kernel for erf) on the same float32 inputs cast
to float64, so only the float32 arithmetic of dualcalc is measured. The bound, for
[Dense, act] * depth + Dense with pre-activation covariances A_h and NTK Theta_h:

* Gram product: |dA_0| <= W^2 gamma_d max q + 3u max|A_0|, gamma_d = d u / (1 - d u),
  u = eps32 / 2 (a sum of d products, Higham's bound; q = |x|^2 / d).
* Each dual is Lipschitz in (q1, q2, c) on the layer's variance band [q_lo, q_hi]:
  |dK| <= L_K delta, |dK'| <= omega(delta), with L_K, omega stated per activation below,
  plus ULPS eps32 of its scale for evaluating the printed form.
* relu's K' = 1 - theta / pi has infinite slope at rho = +-1: omega(delta) =
  arccos(1 - d_rho) / pi with d_rho = 2 delta / q_lo + 2 EDGE_ULPS eps32 (the worst
  increment of arccos is at the end of its domain; the edge snap moves rho by up to
  EDGE_ULPS ulps). This square root is what float32 costs near duplicated inputs.
* A_h = W^2 K(A_(h-1)) + b^2 and Theta_h = A_h + W^2 K' Theta_(h-1) carry the errors on,
  with 3u of rounding per affine step.

PSD: K32 = K64 + E with K64 PSD, so lambda_min(K32) >= -||E||_2 >= -n max|E_ij|.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual

from dualcalc import nn as stax
from dualcalc.runtime._support.guards import EDGE_ULPS

EPS32 = float(np.finfo(np.float32).eps)
UNIT = EPS32 / 2
#: Rounding of one printed dual evaluation, in eps32 of its scale (a few dozen operations).
ULPS = 64
W_STD, B_STD = 1.4, 0.1
DEPTHS = (0, 1, 2, 3)


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    """x1 (16 points, d = 256) and x2 with a duplicate, a negated and a rescaled x1 row."""
    rng = np.random.default_rng(7)
    d = 256
    x1 = rng.normal(size=(16, d))
    x1 *= rng.uniform(0.8, 1.25, size=(16, 1))
    x2 = rng.normal(size=(8, d))
    x2[0], x2[1], x2[2] = x1[3], -x1[5], 1.2 * x1[7]
    return x1.astype(np.float32), x2.astype(np.float32)


def _relu_lipschitz(q_lo: float, q_hi: float) -> tuple[float, float]:
    """(L_K, max K') for relu: K' = P(u > 0, v > 0) <= 1/2; K is 1-homogeneous, so
    dK/dq1 = (K - c K') / (2 q1) and |K|, |c| K' <= sqrt(q1 q2) / 2 give sqrt(q2 / q1) / 2."""
    ratio = math.sqrt(q_hi / q_lo)
    return 0.5 + ratio, 0.5


def _relu_omega(delta: float, q_lo: float, q_hi: float) -> float:
    """Worst change of K' = (pi - arccos rho) / pi for a change delta of (q1, q2, c)."""
    d_rho = min(2.0 * delta / q_lo + 2 * EDGE_ULPS * EPS32, 2.0)
    return math.acos(1.0 - d_rho) / math.pi


def _erf_lipschitz(q_lo: float, q_hi: float) -> tuple[float, float]:
    """(L_K, max K') for erf: K' = (4/pi) D^(-1/2), D = (1+2q1)(1+2q2) - 4c^2 >= 1 + 2q1 + 2q2;
    |dK/dq1| <= (1/pi) sqrt(1 + 4 q_hi) (see the module doc for the derivation)."""
    k_dot = (4 / math.pi) / math.sqrt(1 + 4 * q_lo)
    return k_dot + 2 * math.sqrt(1 + 4 * q_hi) / math.pi, k_dot


def _erf_omega(delta: float, q_lo: float, q_hi: float) -> float:
    """|dK'| <= (|dK'/dc| + 2 |dK'/dq|) delta: dK'/dc = (16/pi) c D^(-3/2) <= (16/pi) q_hi,
    dK'/dq1 = -(4/pi)(1 + 2 q2) D^(-3/2) <= (4/pi)(1 + 2 q_hi)."""
    return (16 / math.pi * q_hi + 8 / math.pi * (1 + 2 * q_hi)) * delta


CASES = {
    "relu": (ReluDual, _relu_lipschitz, _relu_omega),
    "erf": (ErfDual, _erf_lipschitz, _erf_omega),
}


def _reference(dual, x1: np.ndarray, x2: np.ndarray, depth: int) -> list[dict]:
    """float64 recursion on x1 ++ x2 with the fixture's closed forms; per layer the arrays
    and the scales the bound needs."""
    with jax.enable_x64(True):
        z = jnp.asarray(np.concatenate([x1, x2]), jnp.float64)
        a = W_STD**2 * (z @ z.T) / z.shape[1] + B_STD**2
        theta = a
        layers = [dict(nngp=np.asarray(a), ntk=np.asarray(theta))]
        for _ in range(depth):
            q = jnp.diag(a)
            k = dual.nngp(q[:, None], q[None, :], a)
            dot = dual.dnngp(q[:, None], q[None, :], a)
            a = W_STD**2 * k + B_STD**2
            theta = a + W_STD**2 * dot * theta
            layers.append(dict(nngp=np.asarray(a), ntk=np.asarray(theta), k=np.asarray(k)))
    return layers


def _bounds(lipschitz, omega, layers: list[dict], d: int) -> list[tuple[float, float]]:
    """(bound on |dA_h|, bound on |dTheta_h|) per layer h, entrywise (see the module doc)."""
    gamma = d * UNIT / (1 - d * UNIT)
    first = layers[0]
    q_in = (np.diag(first["nngp"]) - B_STD**2) / W_STD**2
    d_a = W_STD**2 * gamma * q_in.max() + 3 * UNIT * np.abs(first["nngp"]).max()
    d_t = d_a
    out = [(d_a, d_t)]
    for before, after in zip(layers[:-1], layers[1:], strict=True):
        q = np.diag(before["nngp"])
        q_lo, q_hi = float(q.min()), float(q.max())
        l_k, k_dot = lipschitz(q_lo, q_hi)
        scale_k = np.abs(after["k"]).max()
        d_k = l_k * d_a + ULPS * EPS32 * scale_k
        d_dot = omega(d_a, q_lo, q_hi) + ULPS * EPS32 * k_dot
        theta = np.abs(before["ntk"]).max()
        d_a = W_STD**2 * d_k + 3 * UNIT * np.abs(after["nngp"]).max()
        d_t = d_a + W_STD**2 * (k_dot * d_t + theta * d_dot) + 3 * UNIT * np.abs(after["ntk"]).max()
        out.append((d_a, d_t))
    return out


def _network(name: str, depth: int):
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(512, W_std=W_STD, b_std=B_STD), stax.Activation(name)]
    return stax.serial(*layers, stax.Dense(1, W_std=W_STD, b_std=B_STD))[2]


@pytest.mark.parametrize(
    "name, depth", [("relu", depth) for depth in DEPTHS] + [("erf", 1), ("erf", 3)]
)
def test_float32_within_layer_bounds(float32, name, depth):
    """Every entry of the float32 NNGP and NTK within the bound of its layer. The bounds are
    worst cases (d u for the Gram product, relu's square root at the edge): below 1e-3 of the
    kernel for the NNGP, 5% for the relu NTK at depth 3; measured errors are 1e-3 to 1e-6 of
    them. Checked below 10% of the kernel, so the test can fail."""
    dual, lipschitz, omega = CASES[name]
    x1, x2 = _inputs()
    layers = _reference(dual, x1, x2, depth)
    bound_a, bound_t = _bounds(lipschitz, omega, layers, x1.shape[1])[depth]
    nngp, ntk = _network(name, depth)(x1, x2, get=("nngp", "ntk"))
    assert nngp.dtype == np.float32 and ntk.dtype == np.float32
    want_a = layers[depth]["nngp"][: len(x1), len(x1) :]
    want_t = layers[depth]["ntk"][: len(x1), len(x1) :]
    assert bound_a < 0.1 * np.abs(want_a).max() and bound_t < 0.1 * np.abs(want_t).max()
    assert np.abs(nngp - want_a).max() <= bound_a
    assert np.abs(ntk - want_t).max() <= bound_t


def test_float32_psd_to_rounding(float32):
    """lambda_min(K32) >= -n max|E_ij| for the NTK of x1 with itself (x2=None), relu depth 3."""
    x1, _ = _inputs()
    x = np.concatenate([x1, x1[:2], -x1[2:3]])  # duplicated and mirrored rows: rank deficient
    layers = _reference(ReluDual, x, x[:0], 3)
    _, bound_t = _bounds(_relu_lipschitz, _relu_omega, layers, x.shape[1])[3]
    ntk = _network("relu", 3)(x, None, get="ntk")
    assert ntk.dtype == np.float32 and np.array_equal(ntk, ntk.T)
    smallest = np.linalg.eigvalsh(ntk.astype(np.float64)).min()
    assert smallest >= -len(x) * bound_t


def test_float32_finite_on_edges_and_extremes(float32):
    """No NaN or inf at rho = +-1 (duplicates, mirrors), zero-norm inputs, large variances."""
    x1, _ = _inputs()
    x = np.concatenate([x1[:4], np.zeros((1, x1.shape[1]), np.float32), -x1[:1], 1e3 * x1[1:2]])
    for name in ("relu", "erf"):
        nngp, ntk = _network(name, 3)(x, None, get=("nngp", "ntk"))
        assert np.isfinite(nngp).all() and np.isfinite(ntk).all(), name

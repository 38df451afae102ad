"""Test-only helpers for the network runtime tests: hand-written dual modules and oracles.

The dual modules below are fixtures typed in from published closed forms (Cho & Saul 2009
for ReLU, Williams 1997 for erf); they are not the product's kernels. The oracle integrates
E[f(u) g(v)] by Gauss-Legendre on pieces split at the kinks: an independent numerical
method, exponentially convergent on each smooth piece.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf as jerf
from scipy.special import erf as np_erf


class ReluDual:
    """Fixture: relu and its arc-cosine kernel of order 1 (Cho & Saul 2009)."""

    EXPRESSION = "x*Heaviside(x)"
    KINKS = (0.0,)

    @staticmethod
    def _angle(q1, q2, c):
        """(sqrt(q1 q2 - c^2), theta) without dividing by sqrt(q1 q2): exact at c = q1 = q2.

        XLA rewrites c / sqrt(y) as c * rsqrt(y), which can put rho one ulp below 1 where
        arccos has infinite slope (a 1e-8 error); (s - c)(s + c) is exactly 0 there.
        """
        s = jnp.sqrt(q1 * q2)
        sine = jnp.sqrt(jnp.maximum((s - c) * (s + c), 0.0))
        return sine, jnp.arctan2(sine, c)

    @staticmethod
    def nngp(q1, q2, c):
        sine, theta = ReluDual._angle(q1, q2, c)
        return (sine + (jnp.pi - theta) * c) / (2.0 * jnp.pi)

    @staticmethod
    def dnngp(q1, q2, c):
        return (jnp.pi - ReluDual._angle(q1, q2, c)[1]) / (2.0 * jnp.pi)

    @staticmethod
    def activation(x):
        return jnp.maximum(x, 0.0)

    @staticmethod
    def dactivation(x):
        return jnp.where(x > 0, 1.0, 0.0).astype(x.dtype)

    @staticmethod
    def numpy(x):
        return np.maximum(x, 0.0)

    @staticmethod
    def numpy_derivative(x):
        return np.where(x > 0, 1.0, 0.0)


class ErfDual:
    """Fixture: erf and its arcsin kernel (Williams 1997)."""

    EXPRESSION = "erf(x)"
    KINKS = ()

    @staticmethod
    def nngp(q1, q2, c):
        return (2.0 / jnp.pi) * jnp.arcsin(2.0 * c / jnp.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)))

    @staticmethod
    def dnngp(q1, q2, c):
        # (1 + 2 q1)(1 + 2 q2) - 4 c^2 written without the cancellation of large q (float32)
        s = jnp.sqrt(q1 * q2)
        rest = 1.0 + 2.0 * (q1 + q2) + 4.0 * jnp.maximum((s - c) * (s + c), 0.0)
        return (4.0 / jnp.pi) / jnp.sqrt(rest)

    @staticmethod
    def activation(x):
        return jerf(x)

    @staticmethod
    def dactivation(x):
        return 2.0 / jnp.sqrt(jnp.pi) * jnp.exp(-x * x)

    @staticmethod
    def numpy(x):
        return np_erf(x)

    @staticmethod
    def numpy_derivative(x):
        return 2.0 / np.sqrt(np.pi) * np.exp(-x * x)


def _pieces(points: np.ndarray, lo: float, hi: float, nodes: np.ndarray, weights: np.ndarray):
    """Gauss-Legendre nodes/weights on [lo, hi] split at ``points`` (one row per split set)."""
    cuts = np.clip(np.sort(points, axis=-1), lo, hi)
    edges = np.concatenate(
        [np.full(cuts.shape[:-1] + (1,), lo), cuts, np.full(cuts.shape[:-1] + (1,), hi)], -1
    )
    a, b = edges[..., :-1, None], edges[..., 1:, None]
    z = 0.5 * (b - a) * nodes + 0.5 * (a + b)
    w = 0.5 * (b - a) * weights
    return z.reshape(z.shape[:-2] + (-1,)), w.reshape(w.shape[:-2] + (-1,))


def pair_expectation(f, g, q1, q2, c, kinks_f=(), kinks_g=(), order=30, half_width=12.0):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]): split Gauss-Legendre in (z1, z2)."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    grid = list(np.arange(-half_width + 1.0, half_width))  # unit panels resolve narrow peaks
    rho = c / np.sqrt(q1 * q2)
    rest = np.sqrt(max(1.0 - rho * rho, 0.0))
    if rest < 1e-12:  # v = sign(rho) sqrt(q2) z: a one-dimensional integral
        sign = np.sign(rho)
        points = [k / np.sqrt(q1) for k in kinks_f] + [sign * k / np.sqrt(q2) for k in kinks_g]
        points += grid
        z, w = _pieces(np.array(points), -half_width, half_width, nodes, weights)
        density = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
        return float(np.sum(w * density * f(np.sqrt(q1) * z) * g(sign * np.sqrt(q2) * z)))
    z1, w1 = _pieces(
        np.array([k / np.sqrt(q1) for k in kinks_f] + grid), -half_width, half_width, nodes, weights
    )
    u = np.sqrt(q1) * z1
    kink_cuts = [(k / np.sqrt(q2) - rho * z1) / rest for k in kinks_g]
    split = np.stack(kink_cuts + [np.full_like(z1, t) for t in grid], axis=-1)
    z2, w2 = _pieces(split, -half_width, half_width, nodes, weights)
    v = np.sqrt(q2) * (rho * z1[:, None] + rest * z2)
    density = np.exp(-0.5 * z1 * z1)[:, None] * np.exp(-0.5 * z2 * z2) / (2.0 * np.pi)
    inner = np.sum(w2 * density * g(v), axis=1)
    return float(np.sum(w1 * f(u) * inner))


def reference_fc(dual, x, depth, w_std, b_std):
    """NNGP, NTK of [Dense, act] * depth + Dense on the rows of x; expectations by quadrature."""
    w2, b2 = w_std**2, b_std**2
    nngp = w2 * (x @ x.T) / x.shape[1] + b2
    ntk = nngp.copy()
    n = len(x)
    for _ in range(depth):
        q = np.diag(nngp).copy()
        act = np.empty_like(nngp)
        dot = np.empty_like(nngp)
        for i in range(n):
            for j in range(i, n):
                args = (q[i], q[j], nngp[i, j], dual.KINKS, dual.KINKS)
                act[i, j] = act[j, i] = pair_expectation(dual.numpy, dual.numpy, *args)
                dot[i, j] = dot[j, i] = pair_expectation(
                    dual.numpy_derivative, dual.numpy_derivative, *args
                )
        nngp = w2 * act + b2
        ntk = nngp + w2 * dot * ntk
    return nngp, ntk

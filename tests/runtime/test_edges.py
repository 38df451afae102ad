"""Kernels on the edge of their domain, on every evaluation path: rho = +-1, collinear points.

For every catalogued activation and a few composed ones, the Gram matrix of random points with
spread norms (the exact diagonal c = q, plus rows x2 = 2 x1 and x2 = -x1) is computed by
``Derivation.kernel`` / ``dkernel`` (float64) and by the generated module (float64 and float32).
Oracles: 1-D Gaussian quadrature of E[s(sqrt(q) z) s(+-sqrt(q) z)] and E[s(sqrt(q) z)
s(2 sqrt(q) z)] (``dualcalc.derivation.quadrature``, independent of the runtime). Checked:
finite everywhere, the diagonal and the mirrored pairs equal to the quadrature to 1e-13,
collinear pairs to the verification tolerance, and the Gram matrix positive semi-definite to
its accuracy (an error of e per entry moves an eigenvalue of an n x n matrix by at most n e).
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

import dualcalc
from dualcalc.codegen.slug import catalogue_names
from dualcalc.compiler.source import in_memory
from dualcalc.derivation import quadrature as quad
from dualcalc.expression.pieces import piecewise_numpy

COMPOSED = ["relu(x - 0.5)", "abs(x + 0.5)*x", "x*relu(x)", "relu(x) + 0.5*sin(x)", "elu(x)*x"]
ACTIVATIONS = catalogue_names() + COMPOSED
#: Edge values (diagonal, mirrored pairs) against 1-D quadrature, relative to E[s^2].
EDGE_TOL = 1e-13
#: Collinear pairs of different norms: the closed forms are verified to 1e-10.
COLLINEAR_TOL = 1e-10
#: float32 inputs: rounding the 8-term dot products moves rho by up to D * eps. A smooth dual
#: moves by that times its slope (a few, relative to the Cauchy-Schwarz scale) plus the
#: rounding of a few tens of operations: 64 D eps. A kinked dual has infinite slope at the
#: edge, where an angle sqrt(2 (1 - rho)) enters: it moves by up to sqrt(2 D eps).
D = 8
EPS32 = float(np.finfo(np.float32).eps)
FLOAT32_SMOOTH_TOL = 64 * D * EPS32
FLOAT32_KINKED_TOL = float(np.sqrt(2 * D * EPS32))


@functools.cache
def points() -> tuple[np.ndarray, slice, slice]:
    """24 random points in R^8 with norms in [0.3, 3] (the first six in [0.3, 1.5]), then
    2 x and -x of the first six, so that every variance is at most 9."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, D))
    norms = np.concatenate([rng.uniform(0.3, 1.5, 6), rng.uniform(0.3, 3.0, 18)])
    x *= norms[:, None] / np.linalg.norm(x, axis=1, keepdims=True)
    full = np.concatenate([x, 2.0 * x[:6], -x[:6]])
    return full, slice(24, 30), slice(30, 36)


def gram(x: np.ndarray):
    g = x @ x.T
    q = np.diag(g).copy()
    return q[:, None], q[None, :], g


@functools.cache
def derivation(text: str):
    return dualcalc.derive(text)


@functools.cache
def module(text: str):
    d = derivation(text)
    return d.module if d.module is not None else in_memory(d)


def expectation(act, f, g, q: float, ratio: float) -> float:
    """E[f(sqrt(q) z) g(ratio sqrt(q) z)] by 1-D quadrature, kinks of both factors."""
    kinks = list(act.kinks) + [k / ratio for k in act.kinks]
    return quad.gaussian_expectation(lambda x: f(x) * g(ratio * x), q, kinks)


def oracles(text: str, derivative: bool):
    """(diagonal, mirrored, collinear) references for the Gram matrix of ``points``."""
    act = dualcalc.parse(text)
    # Each smooth piece on its own interval: the canonical Heaviside form of s' cancels
    # catastrophically near poles of its pieces (softsign's x / (1 - x) at x = 1).
    f = piecewise_numpy(act, derivative=derivative)
    x, double, mirror = points()
    q = np.sum(x * x, axis=1)
    diag = np.array([expectation(act, f, f, v, 1.0) for v in q])
    anti = np.array([expectation(act, f, f, v, -1.0) for v in q[:6]])
    coll = np.array([expectation(act, f, f, v, 2.0) for v in q[:6]])
    return diag, anti, coll


def check_gram(k: np.ndarray, text: str, derivative: bool, edge_tol: float, coll_tol):
    """Finite; diagonal and K(x, -x) to edge_tol, K(x, 2x) to coll_tol (scalar or per pair),
    relative to the Cauchy-Schwarz scale; PSD up to n times the largest entry error."""
    x, double, mirror = points()
    assert np.all(np.isfinite(k)), f"{text}: non-finite entries"
    diag, anti, coll = oracles(text, derivative)
    scale = np.abs(diag)
    err = np.abs(np.diag(k) - diag) / scale
    assert err.max() <= edge_tol, f"{text}: diagonal off by {err.max():.2e}"
    idx = np.arange(6)
    mirrored = k[idx, np.arange(mirror.start, mirror.stop)]
    err = np.abs(mirrored - anti) / scale[:6]
    assert err.max() <= edge_tol, f"{text}: K(x, -x) off by {err.max():.2e}"
    collinear = k[idx, np.arange(double.start, double.stop)]
    scale2 = np.sqrt(scale[:6] * np.diag(k)[double])
    err = np.abs(collinear - coll) / scale2
    kind = "K'" if derivative else "K"
    assert np.all(err <= coll_tol), f"{text}: {kind}(x, 2x) off by {err.max():.2e}"
    n = len(k)
    eigs = np.linalg.eigvalsh(0.5 * (k + k.T))
    worst = max(np.max(coll_tol), COLLINEAR_TOL)
    assert eigs.min() >= -n * worst * np.abs(k).max(), f"{text}: not PSD ({eigs.min():.2e})"


def mehler_tail_bound(m, derivative: bool) -> np.ndarray:
    """sqrt(tail(q1) tail(q2)) / scale for the collinear pairs (x, 2x): the rigorous bound on
    a Mehler series truncated at HERMITE_DEGREE and summed at rho = 1 (Cauchy-Schwarz on the
    dropped terms), tail(q) = E[s(sqrt(q) z)^2] - sum_k a_k(q)^2 (b_k for K')."""
    x, double, _ = points()
    q = np.sum(x[:6] * x[:6], axis=1)
    tails = []
    for v in (q, 4.0 * q):
        a = np.asarray(m.hermite(v))
        if derivative:
            k = np.arange(1, a.shape[-1])
            coeffs = np.sqrt(k) * a[:, 1:] / np.sqrt(v)[:, None]
            second = np.asarray(m.dnngp_edges(v)[0])
        else:
            coeffs, second = a, np.asarray(m.nngp_edges(v)[0])
        tails.append((np.maximum(second - np.sum(coeffs**2, axis=1), 0.0), second))
    (t1, s1), (t2, s2) = tails
    return np.sqrt(t1 * t2) / np.sqrt(s1 * s2) + COLLINEAR_TOL


def has_derivative(text: str) -> bool:
    return not derivation(text).derivative_is_distribution


@pytest.mark.parametrize("text", ACTIVATIONS)
def test_kernels_on_the_edges_on_every_path(text):
    """Derivation.kernel / dkernel (float64), the generated module in float64 and float32.

    One test per activation, so that the generated functions compile once for all paths."""
    d, m = derivation(text), module(text)
    x = points()[0]
    q1, q2, g = gram(x)
    check_gram(d.kernel(q1, q2, g), text, False, EDGE_TOL, COLLINEAR_TOL)
    if has_derivative(text):
        check_gram(d.dkernel(q1, q2, g), text, True, EDGE_TOL, COLLINEAR_TOL)
    single_inputs = gram(x.astype(np.float32))
    float32_tol = FLOAT32_KINKED_TOL if m.KINKS else FLOAT32_SMOOTH_TOL
    for derivative in (False, True) if has_derivative(text) else (False,):
        fn = m.dnngp if derivative else m.nngp
        with jax.enable_x64(True):
            exact = np.asarray(fn(q1, q2, g))
            single = np.asarray(fn(*single_inputs))
        # Hermite-route series are truncated at a degree chosen at q = 1; collinear pairs of
        # different norms sum them at rho = 1, where only the tail bound limits the error.
        tol = COLLINEAR_TOL if m.CLOSED_FORM else mehler_tail_bound(m, derivative)
        check_gram(exact, text, derivative, EDGE_TOL, tol)
        name = "dnngp" if derivative else "nngp"
        assert single.dtype == np.float32 and np.all(np.isfinite(single)), (text, name)
        scale = np.sqrt(np.abs(np.diag(exact))[:, None] * np.abs(np.diag(exact))[None, :])
        err = np.abs(single - exact) / np.maximum(scale, np.finfo(np.float32).tiny)
        assert err.max() <= float32_tol, f"{text} {name}: float32 off by {err.max():.2e}"


@pytest.mark.parametrize("text", ["elu", "hardtanh"])  # the ELU family shares one form
def test_closed_forms_hold_at_large_variances(text):
    """Beyond the variance where the printed form cancels catastrophically (ELU's exp(q) erfc),
    the module sums Mehler's series. Reference at rho = +-0.5: the derivation engine's own
    coefficients (numpy, closed-form terms per piece; checked against mpmath in test_hermite)
    summed to degree 200, whose dropped part is at most 0.5^201 E[s^2]. float64 to 1e-10 and
    float32 to 1e-4 of the Cauchy-Schwarz scale; finite values at q = 1e6."""
    d = derivation(text)
    q = np.array([300.0, 1000.0, 3000.0])
    a = d.hermite(200, q)
    scale = np.array([quad.second_moment(d.activation, v) for v in q])
    for rho in (0.5, -0.5):
        exact = np.sum(a * a * rho ** np.arange(201), axis=1)
        with jax.enable_x64(True):
            k64 = np.asarray(d.module.nngp(q, q, rho * q))
            k32 = np.asarray(d.module.nngp(*(v.astype(np.float32) for v in (q, q, rho * q))))
        assert np.all(np.abs(k64 - exact) <= 1e-10 * scale), (text, rho, k64, exact)
        assert np.all(np.abs(k32 - exact) <= 1e-4 * scale), (text, rho, k32, exact)
    q = np.array([1e6, 1e6, 1.0])
    with jax.enable_x64(True):
        for fn in (d.module.nngp, d.module.dnngp):
            assert np.all(np.isfinite(np.asarray(fn(q, q[::-1], np.array([0.5e6, -1e6, 10.0])))))


def test_a_kernel_that_overflows_is_reported():
    """exp's kernel is exp(q1/2 + q2/2 + c): beyond float64 at q = 1000 it is inf in the
    generated module (the true value) and a clear error from Derivation.kernel."""
    d = derivation("exp")
    with jax.enable_x64(True):
        assert np.isinf(float(d.module.nngp(1000.0, 1000.0, 500.0)))
    with pytest.raises(dualcalc.DerivationError, match="overflows float64"):
        d.kernel(1000.0, 1000.0, 500.0)

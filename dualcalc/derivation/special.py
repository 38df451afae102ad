"""Special functions the closed forms need beyond sympy's own: normal CDFs in one and two variables.

``NormalCDF(z)`` = Phi(z) (tail-accurate; numpy: scipy.special.ndtr), ``Dawson(x)`` (a
stable stand-in for exp(-x^2) erfi(x); numpy: scipy.special.dawsn) and
``BivariateNormalCDF(h, k, rho)`` = P(Z1 <= h, Z2 <= k) for standard normals with correlation
rho. It is a sympy ``Function`` (exact values at h = k = 0 and rho = 0, derivatives, mpmath
evalf); ``bvn_cdf_numpy`` is its float64 numpy implementation (Owen's T from scipy) and
``dualcalc.runtime._support.special.bvn_cdf`` its pure-JAX one.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from scipy import special as sps


class NormalCDF(sp.Function):
    """Phi(z) = P(Z <= z) = erfc(-z / sqrt 2) / 2 for a standard normal Z.

    Its own class (not erf/erfc) because sympy rewrites erfc(-x) as 2 - erfc(x), which
    cancels catastrophically in the lower tail; numerically it is ``scipy.special.ndtr``.
    """

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half
        if z is sp.oo:
            return sp.S.One
        if z is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return normal_pdf(self.args[0])

    def _eval_rewrite_as_erfc(self, z, **kwargs):
        return sp.erfc(-z / sp.sqrt(2)) / 2

    def _eval_rewrite_as_erf(self, z, **kwargs):
        return (1 + sp.erf(z / sp.sqrt(2))) / 2

    def _eval_evalf(self, prec):
        z = self.args[0].evalf(prec)
        if not z.is_number:
            return None
        with mpmath.workprec(prec + 20):
            value = mpmath.ncdf(mpmath.mpmathify(complex(z)) if not z.is_real else mpmath.mpf(z))
        return sp.sympify(value).evalf(prec)

    def _latex(self, printer):
        return rf"\Phi\left({printer._print(self.args[0])}\right)"


class Dawson(sp.Function):
    """Dawson's integral D(x) = exp(-x^2) int_0^x exp(t^2) dt = sqrt(pi)/2 exp(-x^2) erfi(x).

    Kernels write exp(a) erfi(x) as 2/sqrt(pi) exp(a + x^2) D(x): the exponent stays bounded
    where erfi alone would overflow. numpy: ``scipy.special.dawsn``.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero
        if x.could_extract_minus_sign():
            return -cls(-x)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        x = self.args[0]
        return 1 - 2 * x * Dawson(x)

    def _eval_rewrite_as_erfi(self, x, **kwargs):
        return sp.sqrt(sp.pi) / 2 * sp.exp(-(x**2)) * sp.erfi(x)

    def _eval_evalf(self, prec):
        x = self.args[0].evalf(prec)
        if not (x.is_number and x.is_real):
            return None
        with mpmath.workprec(prec + 20):
            xm = mpmath.mpf(x)
            value = mpmath.sqrt(mpmath.pi) / 2 * mpmath.exp(-xm * xm) * mpmath.erfi(xm)
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        return rf"D\left({printer._print(self.args[0])}\right)"


def normal_cdf(z: sp.Expr) -> sp.Expr:
    """Phi(z) as the project's NormalCDF function."""
    return NormalCDF(z)


def normal_pdf(z: sp.Expr) -> sp.Expr:
    """phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."""
    return sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)


class BivariateNormalCDF(sp.Function):
    """Phi2(h, k; rho) = P(Z1 <= h, Z2 <= k), (Z1, Z2) standard normal with correlation rho."""

    nargs = 3

    @classmethod
    def eval(cls, h, k, rho):
        if h.is_zero and k.is_zero:
            return sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi)
        if rho.is_zero:
            return normal_cdf(h) * normal_cdf(k)
        return None

    def fdiff(self, argindex=1):
        h, k, rho = self.args
        root = sp.sqrt(1 - rho**2)
        if argindex == 1:
            return normal_pdf(h) * normal_cdf((k - rho * h) / root)
        if argindex == 2:
            return normal_pdf(k) * normal_cdf((h - rho * k) / root)
        if argindex == 3:
            quad = (h**2 - 2 * rho * h * k + k**2) / (2 * (1 - rho**2))
            return sp.exp(-quad) / (2 * sp.pi * root)
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec):
        h, k, rho = (a.evalf(prec) for a in self.args)
        if not all(a.is_real and a.is_number for a in (h, k, rho)):
            return None
        with mpmath.workprec(prec + 20):
            value = _bvn_mpmath(mpmath.mpf(h), mpmath.mpf(k), mpmath.mpf(rho))
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        h, k, rho = (printer._print(a) for a in self.args)
        return rf"\Phi_2\left({h}, {k}; {rho}\right)"


def _bvn_mpmath(h, k, rho):
    """Phi2 by Plackett's identity: Phi(h) Phi(k) + integral_0^rho phi2(h, k; r) dr."""

    def density(r):
        one = 1 - r * r
        quad = (h * h - 2 * r * h * k + k * k) / (2 * one)
        return mpmath.exp(-quad) / (2 * mpmath.pi * mpmath.sqrt(one))

    return mpmath.ncdf(h) * mpmath.ncdf(k) + mpmath.quad(density, [0, rho])


def owens_t_numpy(h: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Owen's T(h, a) = (1/2pi) int_0^a exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx (scipy)."""
    return sps.owens_t(h, a)


def bvn_cdf_numpy(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Phi2(h, k; rho) in float64, broadcasting; accurate relative to the lower tails.

    Positive arguments are reflected first (Phi2(h, k; r) = Phi(k) - Phi2(-h, k; -r)), so the
    Owen's T formula only ever sees h, k <= 0 and never subtracts from 1/2 or 1.
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (h, k, rho)))
    rho = np.clip(rho, -1.0, 1.0)
    flip_h, flip_k = h > 0, k > 0
    sign = np.where(flip_h ^ flip_k, -1.0, 1.0)
    core = _bvn_nonpositive(np.where(flip_h, -h, h), np.where(flip_k, -k, k), sign * rho)
    phi_h, phi_k = sps.ndtr(h), sps.ndtr(k)
    value = np.where(
        flip_h & flip_k,
        phi_h + phi_k - 1.0 + core,
        np.where(flip_h, phi_k - core, np.where(flip_k, phi_h - core, core)),
    )
    value = np.where(rho >= 1.0, sps.ndtr(np.minimum(h, k)), value)
    value = np.where(rho <= -1.0, np.maximum(0.0, sps.ndtr(h) - sps.ndtr(-k)), value)
    return np.clip(value, 0.0, 1.0)


def _bvn_nonpositive(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Phi2(h, k; rho) for h, k <= 0 by Owen's T (Owen 1956)."""
    root = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = np.where(h != 0, (k - rho * h) / (h * root), 0.0)
        a_k = np.where(k != 0, (h - rho * k) / (k * root), 0.0)
    t_h = _owens_t_edge(h, k, a_h, root)
    t_k = _owens_t_edge(k, h, a_k, root)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    value = 0.5 * (sps.ndtr(h) + sps.ndtr(k)) - t_h - t_k - beta
    both_zero = (h == 0) & (k == 0)
    return np.where(both_zero, 0.25 + np.arcsin(rho) / (2 * np.pi), value)


def _owens_t_edge(h, k, a, root):
    """T(h, a_h) with the h = 0 limit T(0, (k - rho h)/(h root)) -> sign(k) / 4."""
    with np.errstate(invalid="ignore", over="ignore"):
        regular = owens_t_numpy(h, np.where(root > 0, a, 0.0))
    at_zero = np.where(k == 0, 0.0, 0.25 * np.sign(k))
    degenerate = np.where(root > 0, regular, 0.0)
    return np.where(h == 0, at_zero, degenerate)


#: numpy implementations of this module's functions, by sympy class name (for lambdify).
NUMPY_FUNCTIONS = {
    "NormalCDF": sps.ndtr,
    "BivariateNormalCDF": bvn_cdf_numpy,
    "Dawson": sps.dawsn,
}

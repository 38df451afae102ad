"""Kernel ridge over a grid of ridges: dual coefficients and exact leave-one-out errors.

With K = U diag(l) U^T (one eigendecomposition for the whole grid) and G = (K + alpha I)^-1 =
U diag(1 / (l + alpha)) U^T, the dual coefficients are c = G y and the fitted values y - alpha c.
The leave-one-out residual of point i is r_i / (1 - H_ii) with H = K G (Allen 1974), which is
c_i / G_ii: no cancellation in 1 - H_ii. The error of an alpha is the mean over points and
outputs of the squared leave-one-out residuals (scikit-learn's RidgeCV criterion).
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg

from dualcalc.learn.spectral import Spectrum, eigen_spectrum, plus_diagonal


class RidgeFit(NamedTuple):
    """Dual coefficients at the chosen ridge; errors per grid ridge (None for one ridge)."""

    dual_coef: np.ndarray
    alpha: float
    loo_errors: np.ndarray | None


def check_alphas(alpha: Any) -> tuple[np.ndarray, bool]:
    """(ridges as a 1-D float64 array, whether a grid was given); each must be finite and > 0."""
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        grid, is_grid = np.array([float(alpha)]), False
    else:
        try:
            grid = np.asarray(alpha, dtype=np.float64)
        except (TypeError, ValueError):
            grid = np.array([np.nan])
        is_grid = True
        if grid.ndim != 1 or grid.size == 0:
            raise ValueError(
                f"alpha must be a number > 0 or a non-empty 1-D grid of them, got {alpha!r}"
            )
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alpha must be finite and > 0 (each value of a grid), got {alpha!r}")
    return grid, is_grid


def fit_ridge(k: np.ndarray, y: np.ndarray, alpha: Any) -> RidgeFit:
    """Kernel ridge c = (K + alpha I)^-1 y; a grid picks the alpha of least leave-one-out error."""
    grid, is_grid = check_alphas(alpha)
    if not is_grid:
        return RidgeFit(solve_dual(k, y, float(grid[0])), float(grid[0]), None)
    spectrum = eigen_spectrum(k)
    errors = loo_errors(spectrum, y, grid)
    best = float(grid[int(np.argmin(errors))])
    return RidgeFit(spectral_dual(spectrum, y, best), best, errors)


def loo_errors(spectrum: Spectrum, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Mean squared leave-one-out residual c_i / G_ii for each ridge of the grid."""
    u = spectrum.vectors
    inverse = 1.0 / (spectrum.values[None, :] + alphas[:, None])  # (n_alphas, n)
    projected = u.T @ y.reshape(len(y), -1)
    dual = np.einsum("ij,aj,jk->aik", u, inverse, projected)
    g_diag = np.einsum("ij,aj->ai", u**2, inverse)
    residuals = dual / g_diag[:, :, None]
    return np.mean(residuals**2, axis=(1, 2))


def spectral_dual(spectrum: Spectrum, y: np.ndarray, alpha: float) -> np.ndarray:
    """(K + alpha I)^-1 y from the eigendecomposition."""
    u = spectrum.vectors
    weights = 1.0 / (spectrum.values + alpha)
    flat = u @ (weights[:, None] * (u.T @ y.reshape(len(y), -1)))
    return flat.reshape(y.shape)


def solve_dual(k: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """(K + alpha I)^-1 y by Cholesky; by eigendecomposition if rounding makes it indefinite."""
    try:
        factor = scipy.linalg.cho_factor(plus_diagonal(k, alpha), lower=True, overwrite_a=True)
    except np.linalg.LinAlgError:
        return spectral_dual(eigen_spectrum(k), y, alpha)
    return scipy.linalg.cho_solve(factor, y)

"""Error bounds of float32 results against float64 ones, stated once for the float32 tests.

EPS32 is float32's machine epsilon (2^-23). A float32 evaluation of a well-conditioned formula
is within a few hundred ulps of the float64 value at the same inputs: EVALUATION_ULPS (256)
covers the rounding of the closed forms' transcendental functions and of a handful of products
and sums per layer. Where inputs are rounded to float32 first, the input sensitivity (measured
in float64 by perturbing each input by one float32 rounding) is added: a float32 result cannot
be closer than that.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
EVALUATION_ULPS = 256


def input_sensitivity(f64: Callable[..., np.ndarray], args: tuple[np.ndarray, ...]) -> np.ndarray:
    """max |f(args perturbed by +-EPS32 relative, all sign patterns) - f(args)|, in float64."""
    base = np.asarray(f64(*args))
    worst = np.zeros_like(base)
    for signs in itertools.product((-1.0, 0.0, 1.0), repeat=len(args)):
        moved = tuple(a * (1.0 + s * EPS32) for a, s in zip(args, signs, strict=True))
        worst = np.maximum(worst, np.abs(np.asarray(f64(*moved)) - base))
    return worst


def assert_psd_to_rounding(k: np.ndarray, name: str = "Gram matrix") -> None:
    """Smallest eigenvalue >= -n * EPS32 * ||K||_2 (Weyl: n entries rounded, each <= eps ||K||)."""
    k64 = np.asarray(k, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh((k64 + k64.T) / 2)
    bound = len(k64) * EPS32 * np.abs(eigenvalues).max()
    assert eigenvalues.min() >= -bound, f"{name}: smallest eigenvalue {eigenvalues.min():.3g}"


def assert_float32_close(a32: np.ndarray, a64: np.ndarray, ulps: float, scale: float) -> None:
    """float32 dtype, finite, and |a32 - a64| <= ulps * EPS32 * scale elementwise."""
    a32 = np.asarray(a32)
    assert a32.dtype == np.float32, a32.dtype
    assert np.all(np.isfinite(a32))
    error = np.abs(a32.astype(np.float64) - np.asarray(a64, dtype=np.float64))
    assert error.max() <= ulps * EPS32 * scale, (error.max() / (EPS32 * scale), ulps)

"""Eigendecomposition of a kernel matrix, the one factorisation every learner reuses.

K = U diag(l) U^T for a symmetric positive semi-definite K in float64; eigenvalues below
n eps max(l) are rounding noise of a (numerically) singular kernel and are set to exactly 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Spectrum(NamedTuple):
    """K = vectors diag(values) vectors^T, values ascending and >= 0."""

    values: np.ndarray
    vectors: np.ndarray


def eigen_spectrum(k: np.ndarray) -> Spectrum:
    """Eigendecomposition of a symmetric PSD matrix; values below n eps max(l) count as 0."""
    k = np.asarray(k, dtype=np.float64)
    symmetric = k + k.T  # one n x n temporary (an n = 20,000 kernel is 3.2 GB)
    symmetric *= 0.5
    values, vectors = np.linalg.eigh(symmetric)
    cutoff = len(k) * np.finfo(np.float64).eps * max(float(values[-1]), 0.0)
    return Spectrum(np.where(values > cutoff, values, 0.0), vectors)


def plus_diagonal(k: np.ndarray, value: float) -> np.ndarray:
    """K + value I as a new float64 array, without forming I (one copy of K, not three)."""
    out = np.array(k, dtype=np.float64, copy=True)
    out.flat[:: len(out) + 1] += value
    return out

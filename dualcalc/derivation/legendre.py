"""Gauss-Legendre nodes and weights on [-1, 1], cached: the rule both quadratures build on."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-point rule: int_-1^1 f dx ~ sum_i w_i f(x_i), exact for degree <= 2n - 1."""
    return np.polynomial.legendre.leggauss(n)

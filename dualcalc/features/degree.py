"""How many Hermite degrees an activation's sketch keeps: the tail bound against the noise.

Truncating Mehler's series at degree p drops sum_(k > p) a_k(q)^2 = E[s(sqrt(q) z)^2] -
sum_(k <= p) a_k(q)^2 of the diagonal (and the same with b_k for K'); off the diagonal the
dropped part is at most that, by Cauchy-Schwarz. A sketch of width m already errs by about
1 / sqrt(m) relative, so the degree is the smallest p whose relative tails, at the variances
the layer sees, are below ``TAIL_FACTOR / sqrt(m)``: the bias stays well under the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

#: Relative tail allowed per unit of the sketch's own relative error 1 / sqrt(m).
TAIL_FACTOR = 0.25
#: Largest degree chosen automatically (PolySketch costs grow like p log p).
MAX_DEGREE = 16
#: Per-channel input variances the layers' variances are propagated from (inputs are assumed
#: to be scaled like standardised data; the tails are checked over this whole range).
REFERENCE_VARIANCES = (0.1, 1.0, 10.0)


def relative_tails(module: Any, q: np.ndarray, degree: int) -> np.ndarray:
    """(len(q), degree + 1): max over K and K' of 1 - sum_(k <= p) c_k^2 / E[.^2], p <= degree."""
    with jax.enable_x64(True):
        q = np.asarray(q, np.float64)
        a, b = (np.asarray(c) for c in module.feature_coefficients(q, degree))
        square = np.asarray(module.nngp_edges(q)[0])
        tails = 1.0 - np.cumsum(a * a, axis=-1) / square[:, None]
        if not module.DERIVATIVE_IS_DISTRIBUTION:
            dsquare = np.asarray(module.dnngp_edges(q)[0])
            positive = dsquare > 0
            dtails = 1.0 - np.cumsum(b * b, axis=-1) / np.where(positive, dsquare, 1.0)[:, None]
            tails = np.maximum(tails, np.where(positive[:, None], dtails, 0.0))
    return np.maximum(tails, 0.0)


def choose_degree(module: Any, variances: Sequence[float], m: int) -> int:
    """Smallest degree in 1..MAX_DEGREE with relative tails <= TAIL_FACTOR / sqrt(m)."""
    tails = relative_tails(module, np.asarray(variances, np.float64), MAX_DEGREE).max(axis=0)
    tolerance = TAIL_FACTOR / np.sqrt(m)
    good = np.nonzero(tails[1:] <= tolerance)[0]
    return int(good[0]) + 1 if len(good) else MAX_DEGREE


def next_variances(module: Any, variances: Sequence[float]) -> list[float]:
    """The variances after the activation: E[s(sqrt(q) z)^2] (exact, 1-D quadrature)."""
    with jax.enable_x64(True):
        square = module.nngp_edges(np.asarray(variances, np.float64))[0]
    return [float(v) for v in np.asarray(square)]

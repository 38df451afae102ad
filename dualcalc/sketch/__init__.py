"""Randomized sketching primitives in pure JAX: linear maps S with E <S x, S y> = <x, y>.

One primitive per module, optax-style: ``*_init(key, ...)`` draws all randomness from an
explicit ``jax.random`` key into a small NamedTuple of arrays (a pytree: it passes through
``jax.jit`` / ``jax.vmap`` and can be stored), ``*_apply(params, x, ...)`` is a pure, jit-able
map on the last axis of x (any leading batch axes) that keeps x's dtype (float32 or float64).

- :mod:`~dualcalc.sketch.hartley`: the orthonormal Hartley transform behind SRHT (one rfft).
- :mod:`~dualcalc.sketch.srht`: SRHT, sqrt(d / m) [H D x]_P, rows sampled with replacement.
- :mod:`~dualcalc.sketch.gaussian`: Gaussian sketch G x / sqrt(m).
- :mod:`~dualcalc.sketch.countsketch`: CountSketch, and TensorSketch of x (x) y (FFT domain).
- :mod:`~dualcalc.sketch.tensor_srht`: TensorSRHT of x (x) y, sqrt(m) S1 x * S2 y.
- :mod:`~dualcalc.sketch.polysketch`: PolySketch, sketches of u^(tensor j) for all j <= p
  from one tree of TensorSRHTs.
"""

from dualcalc.sketch.countsketch import (
    CountSketchParams,
    TensorSketchParams,
    countsketch_apply,
    countsketch_init,
    tensorsketch_apply,
    tensorsketch_combine,
    tensorsketch_init,
)
from dualcalc.sketch.gaussian import GaussianParams, gaussian_apply, gaussian_init
from dualcalc.sketch.hartley import hartley, hartley_rows
from dualcalc.sketch.polysketch import (
    PolySketchParams,
    polysketch_apply,
    polysketch_init,
    polysketch_transform_count,
)
from dualcalc.sketch.srht import SRHTParams, srht_apply, srht_init
from dualcalc.sketch.tensor_srht import (
    TensorSRHTParams,
    tensor_srht_apply,
    tensor_srht_combine,
    tensor_srht_init,
)

__all__ = [
    "CountSketchParams",
    "GaussianParams",
    "PolySketchParams",
    "SRHTParams",
    "TensorSRHTParams",
    "TensorSketchParams",
    "countsketch_apply",
    "countsketch_init",
    "gaussian_apply",
    "gaussian_init",
    "hartley",
    "hartley_rows",
    "polysketch_apply",
    "polysketch_init",
    "polysketch_transform_count",
    "srht_apply",
    "srht_init",
    "tensor_srht_apply",
    "tensor_srht_combine",
    "tensor_srht_init",
    "tensorsketch_apply",
    "tensorsketch_combine",
    "tensorsketch_init",
]

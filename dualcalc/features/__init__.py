"""Sketched feature maps of networks: <phi(x), phi(y)> ~ NNGP / NTK / CNTK, linear in n.

>>> import jax
>>> from dualcalc import features, nn
>>> net = nn.serial(nn.Dense(512), nn.Activation("gelu"), nn.Dense(512), nn.Activation("tanh"))
>>> feature_map = features.sketch(net, m=4096, key=jax.random.PRNGKey(0))
>>> phi = feature_map(x)                      # doctest: +SKIP
>>> phi.ntk @ phi.ntk.T                        # ~ net.kernel_fn(x, None, "ntk")  # doctest: +SKIP

``sketch`` reads the network's layers (``kernel_fn.specs``); ``fc`` and ``myrtle`` build the
usual architectures. Methods: "polysketch" (default; any activation, any input norms, the
exact Hermite coefficients of each point's variance: Han et al. 2022), "random" (a finite
random network), "arccos" and "leverage" (ReLU random features of Zandieh et al. 2021 and
Han et al. 2021). Pipeline: layer specs -> ``feature_map`` (plan, draws) -> ``linear`` and
``activation`` (one layer each) -> sketches from ``dualcalc.sketch``.
"""

from __future__ import annotations

import math
from typing import Any

from dualcalc.features.feature_map import METHODS, FeatureMap, Features, sketch

__all__ = ["METHODS", "FeatureMap", "Features", "fc", "myrtle", "sketch"]


def fc(
    activation: Any,
    depth: int,
    *,
    m: int,
    key: Any,
    degree: int | None = None,
    W_std: float = 1.0,
    b_std: float = 0.0,
    method: str = "polysketch",
) -> FeatureMap:
    """Features of ``serial(*[Dense(w, W_std, b_std), Activation(activation)] * depth)``."""
    from dualcalc import nn

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        from dualcalc.errors import DualcalcError

        raise DualcalcError(f"depth must be a positive integer, got {depth!r}")
    layers = [nn.Dense(512, W_std=W_std, b_std=b_std), nn.Activation(activation)] * depth
    return sketch(nn.serial(*layers), m=m, key=key, method=method, degree=degree)


def myrtle(
    depth: int,
    activation: Any,
    *,
    m: int,
    key: Any,
    degree: int | None = None,
    method: str = "polysketch",
    W_std: float = math.sqrt(2.0),
    b_std: float = 0.0,
    out_dim: int = 10,
) -> FeatureMap:
    """Features of ``nn.myrtle(depth, activation, W_std=W_std, b_std=b_std)`` (the CNTK)."""
    from dualcalc import nn

    net = nn.myrtle(depth, activation, W_std=W_std, b_std=b_std, out_dim=out_dim)
    return sketch(net, m=m, key=key, method=method, degree=degree)

"""Sketched feature maps of networks: <phi(x), phi(y)> ~ NNGP / NTK / CNTK, linear in n.

>>> import jax
>>> from dualcalc import features, nn
>>> net = nn.serial(nn.Dense(512), nn.Activation("gelu"), nn.Dense(512), nn.Activation("tanh"))
>>> feature_map = features.sketch(net, m=4096, key=jax.random.PRNGKey(0))
>>> phi = feature_map(x)                      # doctest: +SKIP
>>> phi @ phi.T                                # ~ net.kernel_fn(x, None, "ntk")  # doctest: +SKIP

``sketch`` reads the network's spec tree (``kernel_fn.spec``); ``fc`` and ``myrtle`` build the
usual architectures (the same networks as ``nn.fc`` and ``nn.myrtle``). Methods: "polysketch"
(default; any activation, any input norms, the exact Hermite coefficients of each point's
variance: Han et al. 2022), "random" (a finite random network), "arccos" and "leverage" (ReLU
random features of Zandieh et al. 2021 and Han et al. 2021). Pipeline: spec tree -> ``plan``
(activations composed, degrees) -> draw and feature rules (``feature_map``, one per spec type)
-> ``linear`` and ``activation`` -> sketches from ``dualcalc.sketch``.
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
    readout: bool = True,
    degree: int | None = None,
    W_std: float = 1.0,
    b_std: float = 0.0,
    method: str = "polysketch",
) -> FeatureMap:
    """Features of ``nn.fc(activation, depth, readout=readout, W_std=W_std, b_std=b_std)``:
    depth hidden (Dense, activation) pairs, then a Dense readout (the estimators' network)."""
    from dualcalc import nn

    net = nn.fc(activation, depth, readout=readout, W_std=W_std, b_std=b_std)
    return sketch(net, m=m, key=key, method=method, degree=degree)


def myrtle(
    activation: Any,
    depth: int = 5,
    *,
    m: int,
    key: Any,
    degree: int | None = None,
    method: str = "polysketch",
    W_std: float = math.sqrt(2.0),
    b_std: float = 0.0,
    out_dim: int = 10,
) -> FeatureMap:
    """Features of ``nn.myrtle(activation, depth, W_std=W_std, b_std=b_std)`` (the CNTK).

    ``myrtle(depth, activation)`` (the previous order) still works, with a DeprecationWarning.
    """
    from dualcalc import nn
    from dualcalc.runtime.myrtle import activation_and_depth

    activation, depth = activation_and_depth(activation, depth)
    net = nn.myrtle(activation, depth, W_std=W_std, b_std=b_std, out_dim=out_dim)
    return sketch(net, m=m, key=key, method=method, degree=degree)

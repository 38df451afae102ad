"""The fully connected network's kernel as a JAX function of its hyperparameters (W_std, b_std).

The exact interpreter (``dualcalc.runtime.exact.kernel_rule``) run on the spec tree of
``network.fc_network`` with W_std and b_std as traced values: the spec fields hold them, and
the Dense rule is plain arithmetic in them (K <- W^2 K + b^2, Theta <- K_new + W^2 Theta), so
there is no second recursion. Derivatives come from forward-mode autodiff (two
hyperparameters: two tangent passes). A test checks it equals ``network.fc_network``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from dualcalc.runtime.elementwise import flush, resolve
from dualcalc.runtime.exact import kernel_rule
from dualcalc.runtime.kernel_state import input_state
from dualcalc.runtime.specs import ActivationSpec, DenseSpec, SerialSpec


def fc_spec(module: Any, depth: int, w_std: Any, b_std: Any, readout: bool = True) -> SerialSpec:
    """depth x (Dense, activation) [+ Dense readout], W_std and b_std possibly traced."""
    dense = DenseSpec(1, w_std, b_std)
    return SerialSpec((dense, ActivationSpec(module)) * depth + ((dense,) if readout else ()))


def fc_kernel(
    x1: Any,
    x2: Any,
    same: Any,
    w_std: Any,
    b_std: Any,
    module: Any,
    depth: int,
    kernel: str,
    readout: bool = True,
) -> Any:
    """NNGP or NTK of depth x (Dense, activation) [+ Dense readout], traced W_std and b_std."""
    state = input_state(x1, x2, kernel == "ntk", same)
    state = flush(kernel_rule(fc_spec(module, depth, w_std, b_std, readout), state))
    return state.ntk if kernel == "ntk" else state.nngp


@functools.lru_cache(maxsize=64)
def compiled_kernel(
    activation: str, depth: int, kernel: str, readout: bool = True
) -> Callable[..., Any]:
    """jit of (x1, x2, same, w_std, b_std) -> K."""
    module = resolve(activation)
    kernel_fn = functools.partial(
        fc_kernel, module=module, depth=depth, kernel=kernel, readout=readout
    )
    return jax.jit(kernel_fn)


@functools.lru_cache(maxsize=64)
def compiled_gradient(
    activation: str, depth: int, kernel: str, readout: bool = True
) -> Callable[..., Any]:
    """jit of (x, [W_std, b_std]) -> (K(x, x), dK/d[W_std, b_std] of shape (n, n, 2)), jacfwd."""
    module = resolve(activation)

    def with_value(params: Any, x: Any) -> tuple[Any, Any]:
        k = fc_kernel(x, x, True, params[0], params[1], module, depth, kernel, readout)
        return k, k

    def value_and_jacobian(x: Any, params: Any) -> tuple[Any, Any]:
        jacobian, k = jax.jacfwd(with_value, has_aux=True)(params, x)
        return k, jacobian

    return jax.jit(value_and_jacobian)


@functools.lru_cache(maxsize=64)
def compiled_diagonal(
    activation: str, depth: int, kernel: str, readout: bool = True
) -> Callable[..., Any]:
    """jit of (x, w_std, b_std) -> K(x_i, x_i) for every row, each point paired with itself."""
    module = resolve(activation)

    def one(row: Any, w_std: Any, b_std: Any) -> Any:
        point = row[None]
        k = fc_kernel(point, point, True, w_std, b_std, module, depth, kernel, readout)
        return k[0, 0]

    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))

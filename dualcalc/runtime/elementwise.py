"""Activation layers in the kernel recursion: resolving dual modules, composing, applying duals.

A *dual module* is anything with the generated-module protocol: pure JAX functions
``nngp(q1, q2, c)`` = E[s(u) s(v)], ``dnngp(q1, q2, c)`` = E[s'(u) s'(v)], ``activation(x)``,
``dactivation(x)`` and the canonical text ``EXPRESSION`` of s in ``x``. Strings go through
``dualcalc.load``. Two activations in a row are one activation in the infinite-width limit:
their expressions are substituted (s2(s1(x))) and the composition is loaded as a new module.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import sympy as sp
from jax import lax
from sympy.printing.str import StrPrinter

from dualcalc.errors import DualcalcError
from dualcalc.expression.symbols import X
from dualcalc.runtime.kernel_state import Array, KernelState, as_left, as_right, pixel_variances

PROTOCOL = ("nngp", "dnngp", "activation", "EXPRESSION")


def resolve(spec: Any) -> Any:
    """A dual module for ``spec``: a text goes through ``dualcalc.load``, a module is checked."""
    if isinstance(spec, str):
        return load_text(spec)
    missing = [name for name in PROTOCOL if not hasattr(spec, name)]
    if missing:
        raise DualcalcError(
            f"Activation expects an activation text or a dual module; {type(spec).__name__} "
            f"lacks {', '.join(missing)}"
        )
    return spec


@functools.lru_cache(maxsize=256)
def load_text(text: str) -> Any:
    """Load (derive and generate if needed) the dual module of an activation text."""
    try:
        from dualcalc import load
    except ImportError as exc:
        raise DualcalcError(
            "dualcalc.load is not available in this installation; pass a dual module instead"
        ) from exc
    return load(text)


class _LanguagePrinter(StrPrinter):
    """Prints canonical sympy expressions back in dualcalc's activation language."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "e"


def expression_of(module: Any) -> sp.Expr:
    """The sympy expression s(x) of a dual module (its EXPRESSION is trusted generated text)."""
    text = module.EXPRESSION
    if isinstance(text, sp.Expr):
        return text
    return sp.sympify(text, locals={"x": X, "Heaviside": sp.Heaviside})


def composed_text(modules: Sequence[Any]) -> str:
    """Activation-language text of s_n(...s_2(s_1(x))) for modules applied in order."""
    expr = X
    for module in modules:
        expr = expression_of(module).subs(X, expr)
    return _LanguagePrinter(dict(order="lex")).doprint(expr)


def compose(modules: Sequence[Any]) -> Any:
    """One dual module for several activations applied in a row."""
    if len(modules) == 1:
        return modules[0]
    return load_text(composed_text(modules))


def flush(state: KernelState) -> KernelState:
    """Apply the pending activations (composed into one) to the state."""
    if not state.pending:
        return state
    module = compose(state.pending)
    return replace(apply_dual(state, module), pending=())


def apply_dual(state: KernelState, module: Any) -> KernelState:
    """K <- E[s(u)s(v)], Theta <- E[s'(u)s'(v)] Theta, per pixel pair, with the right variances.

    Pairs at rho = 1 (a pixel of a point with itself, known statically when x2 is x1, and
    any pair that coincides up to rounding) take E[s(u)^2] and E[s'(u)^2] from 1-D
    quadrature where the dual is unreliable there (see ``self_moments``).
    """
    k = state.spatial_ndim
    v1, v2 = pixel_variances(state.cov1, k), pixel_variances(state.cov2, k)
    f1, f2 = _floored(v1, state.nngp.dtype), _floored(v2, state.nngp.dtype)
    duals = hermite_duals if is_hermite_route(module) else closed_duals
    with_dot = state.ntk is not None and not state.ntk_is_zero
    nngp, dot = duals(module, f1, f2, state.nngp, 2, with_dot)
    cov1, _ = duals(module, f1, f1, state.cov1, 1, False)
    cov2, _ = duals(module, f2, f2, state.cov2, 1, False)
    if needs_self_moments(module):
        square1, dsquare1 = self_moments(module, f1, with_dot)
        square2, _ = self_moments(module, f2, False)
        cov1 = _set_where(rho_one(state.cov1, v1, v1, 1, True), cov1, square1, 1)
        cov2 = _set_where(rho_one(state.cov2, v2, v2, 1, True), cov2, square2, 1)
        pairs = rho_one(state.nngp, v1, v2, 2, state.same_points)  # shared by K and K'
        nngp = _set_where(pairs, nngp, square1, 2)
        if dot is not None:
            dot = _set_where(pairs, dot, dsquare1, 2)
    ntk = dot * state.ntk if with_dot else _zeros_unless_none(state.ntk, nngp)
    return replace(state, nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2)


def _zeros_unless_none(ntk: Array | None, like: Array) -> Array | None:
    """The still-zero NTK in the shape of ``like`` (None stays None: the NTK is not wanted)."""
    return None if ntk is None else jnp.zeros_like(like)


def self_mask(shape: tuple[int, ...], batch_axes: int) -> Array:
    """True where an entry pairs a pixel of a point with itself (rho = 1 exactly)."""
    mask = jnp.ones((1,) * len(shape), dtype=bool)
    pairs = [(0, 1)] if batch_axes == 2 else []
    pairs += [(a, a + 1) for a in range(batch_axes, len(shape), 2)]
    for a, b in pairs:
        eye = jnp.eye(shape[a], shape[b], dtype=bool)
        dims = [1] * len(shape)
        dims[a], dims[b] = shape[a], shape[b]
        mask = mask & eye.reshape(dims)
    return mask


def coincident(c: Array, v1: Array, v2: Array, batch_axes: int) -> Array:
    """True where a pair is one Gaussian twice up to rounding: rho, q2 / q1 within 64 ulp of 1.

    Identical inputs (a test point that is also a training point, duplicated rows, equal
    pixel patches) reach rho = 1 only up to the rounding of their separate computations;
    a kinked dual's infinite slope there turns those ulps into errors of ~1e-8.
    """
    tol = 64 * jnp.finfo(c.dtype).eps
    q1, q2 = as_left(v1.astype(c.dtype), batch_axes), as_right(v2.astype(c.dtype), batch_axes)
    close = c >= (1 - tol) * (jnp.sqrt(q1) * jnp.sqrt(q2))
    return close & (jnp.abs(q1 - q2) <= tol * jnp.maximum(q1, q2))


def rho_one(c: Array, v1: Array, v2: Array, batch_axes: int, same: Array) -> Array:
    """True where a pair sits at rho = 1: coincident up to rounding, or a point with itself.

    ``same`` (a traced boolean is fine): the two batches are one, so the self-pairs are
    marked by position as well as by value.
    """
    return coincident(c, v1, v2, batch_axes) | (self_mask(c.shape, batch_axes) & same)


def _set_where(mask: Array, arr: Array, values: Array, batch_axes: int) -> Array:
    """arr with its masked pairs set to values[point, pixel] of the first point."""
    return jnp.where(mask, as_left(values.astype(arr.dtype), batch_axes), arr)


def needs_self_moments(module: Any) -> bool:
    """True when the dual is unreliable at rho = 1: kinked closed forms, every Hermite series."""
    return is_hermite_route(module) or _has_quadrature_inputs(module)


def _floored(v: Array, dtype: Any) -> Array:
    """Variances in ``dtype`` raised to eps^2: zero-norm inputs get the kernel's limit."""
    return jnp.maximum(v.astype(dtype), jnp.finfo(dtype).eps ** 2)


def self_moments(module: Any, v: Array, with_dot: bool) -> tuple[Array, Array | None]:
    """(E[s(u)^2], E[s'(u)^2]) for u ~ N(0, v), by 1-D quadrature, one per (floored) variance.

    At rho = 1 a kinked closed form in arccos(rho) or sqrt(q1 q2 - c^2) has infinite slope
    (one ulp of rounding costs ~1e-8, float32 much more) and a Mehler series converges
    slowly, so the self-pairs take these values instead.
    """
    from dualcalc.runtime import hermite

    kinks = tuple(float(r) for r in getattr(module, "KINKS", ()))
    nodes = hermite.default_nodes(400)  # fine panels: s(sqrt(q) z)^2 narrows as q grows

    def moment(fn: Any) -> Array:
        return hermite.coefficients(lambda x: fn(x) * fn(x), v, 0, kinks, nodes)[..., 0]

    return moment(module.activation), moment(module.dactivation) if with_dot else None


def closed_duals(
    module: Any, v1: Array, v2: Array, c: Array, batch_axes: int, with_dot: bool
) -> tuple[Array, Array | None]:
    """(K, K') from the module's own nngp / dnngp; v1, v2 floored variances, c clipped here."""
    q1, q2 = as_left(v1, batch_axes), as_right(v2, batch_axes)
    nngp = _dual(module.nngp, q1, q2, c)
    dot = _dual(module.dnngp, q1, q2, c) if with_dot else None
    return nngp, dot


def _has_quadrature_inputs(module: Any) -> bool:
    """Kinked s (singular duals at rho = +-1) with s, s' and the kinks known for 1-D quadrature."""
    return (
        callable(getattr(module, "activation", None))
        and callable(getattr(module, "dactivation", None))
        and len(getattr(module, "KINKS", ())) > 0
    )


def is_hermite_route(module: Any) -> bool:
    """True for generated Hermite-route modules (coefficients a_k(q) instead of a closed form)."""
    return (
        getattr(module, "CLOSED_FORM", True) is False
        and callable(getattr(module, "hermite", None))
        and isinstance(getattr(module, "HERMITE_DEGREE", None), int)
    )


def hermite_duals(
    module: Any, v1: Array, v2: Array, c: Array, batch_axes: int, with_dot: bool
) -> tuple[Array, Array | None]:
    """Mehler sums with coefficients computed once per pixel variance, not per pixel pair.

    K = sum_k a_k(q1) a_k(q2) rho^k and K' = sum_k b_k(q1) b_k(q2) rho^k with
    b_k = sqrt(k + 1) a_(k+1) / sqrt(q); v1, v2 are floored variances (``_floored``).
    """
    q1, q2 = as_left(v1, batch_axes), as_right(v2, batch_axes)
    bound = jnp.sqrt(q1) * jnp.sqrt(q2)
    rho = jnp.clip(c / bound, -1.0, 1.0)
    a1 = _coefficients(module, v1, as_left, batch_axes)
    a2 = _coefficients(module, v2, as_right, batch_axes)
    nngp = _horner(a1, a2, rho)
    if not with_dot:
        return nngp, None
    b1 = _derivative_coefficients(a1, q1)
    b2 = _derivative_coefficients(a2, q2)
    return nngp, _horner(b1, b2, rho)


def _coefficients(module: Any, v: Array, place: Any, batch_axes: int) -> Array:
    """a_k(v) for every pixel variance, shaped (degree + 1, *broadcastable pair shape)."""
    a = module.hermite(v, module.HERMITE_DEGREE).astype(v.dtype)
    return jax.vmap(lambda row: place(row, batch_axes))(jnp.moveaxis(a, -1, 0))


def _derivative_coefficients(a: Array, q: Array) -> Array:
    """b_k = sqrt(k + 1) a_(k+1) / sqrt(q): the Hermite coefficients of s'(sqrt(q) z)."""
    k = jnp.sqrt(jnp.arange(1, a.shape[0], dtype=a.dtype))
    k = k.reshape((-1,) + (1,) * (a.ndim - 1))
    return k * a[1:] / jnp.sqrt(q)[None]


#: Horner steps fused per loop iteration: the pair-sized accumulator is written to memory once
#: per HORNER_UNROLL coefficients (Myrtle-5 tanh, degree 128: 9.5 s -> 3.2 s per 64 x 64 block).
HORNER_UNROLL = 16


def _horner(a1: Array, a2: Array, rho: Array) -> Array:
    """sum_k a1[k] a2[k] rho^k, one pair-sized accumulator (the products are never stored)."""

    def step(acc: Array, pair: tuple[Array, Array]) -> tuple[Array, None]:
        return acc * rho + pair[0] * pair[1], None

    total, _ = lax.scan(step, jnp.zeros_like(rho), (a1[::-1], a2[::-1]), unroll=HORNER_UNROLL)
    return total


def _dual(fn: Any, q1: Array, q2: Array, c: Array) -> Array:
    """Evaluate a dual at floored variances with |c| <= sqrt(q1 q2)."""
    bound = jnp.sqrt(q1) * jnp.sqrt(q2)  # square roots per point, not per pair
    value = fn(q1, q2, jnp.clip(c, -bound, bound))
    return jnp.broadcast_to(jnp.asarray(value, dtype=c.dtype), c.shape)

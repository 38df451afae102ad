"""Activations with kinks: sum over intervals of a smooth piece times its interval's indicator."""

from __future__ import annotations

import jax.numpy as jnp


def piecewise(x, kinks, pieces):
    """sum_i w_i(x) p_i(x clamped to interval i), w_i = H(x - r_i) - H(x - r_(i+1)), H(0) = 1/2.

    Each smooth piece is evaluated only inside its own interval, so a piece that overflows
    elsewhere (exp(x) of ELU's left piece at x = 1000) never leaks inf or NaN."""
    edges = (None, *kinks, None)
    steps = [1.0] + [jnp.heaviside(x - r, 0.5) for r in kinks] + [0.0]
    total = jnp.zeros_like(x)
    for i, piece in enumerate(pieces):
        lo, hi = edges[i], edges[i + 1]
        inside = x
        if lo is not None:
            inside = jnp.where(inside < lo, lo, inside)
        if hi is not None:
            inside = jnp.where(inside > hi, hi, inside)
        total = total + (steps[i] - steps[i + 1]) * piece(inside)
    return total

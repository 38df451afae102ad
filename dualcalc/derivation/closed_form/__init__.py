"""Closed-form engine: symbolic Gaussian integration of activations into NNGP/NTK dual kernels."""

from .engine import derive_closed_form
from .steps import ClosedForm, Step

__all__ = ["ClosedForm", "Step", "derive_closed_form"]

"""dualcalc: a symbolic dual-activation compiler for NNGP and NTK kernels."""

from dualcalc.errors import DerivationError, DualcalcError, ExpressionError, NoClosedFormError

__version__ = "0.1.0"

__all__ = [
    "DerivationError",
    "DualcalcError",
    "ExpressionError",
    "NoClosedFormError",
    "__version__",
]

"""dualcalc: a symbolic dual-activation compiler for NNGP and NTK kernels.

Pipeline: ``parse`` (text -> Activation) -> ``derive`` (closed form or Hermite
route) -> code generation into ``generated/`` -> JAX runtime (``dualcalc.nn``).
"""

from dualcalc.codegen.loader import load
from dualcalc.derivation.derivation import Derivation, derive
from dualcalc.errors import DerivationError, DualcalcError, ExpressionError, NoClosedFormError
from dualcalc.expression.activation import Activation
from dualcalc.expression.parser import parse

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Derivation",
    "DerivationError",
    "DualcalcError",
    "ExpressionError",
    "NoClosedFormError",
    "__version__",
    "derive",
    "load",
    "parse",
]

"""dualcalc: a symbolic dual-activation compiler for NNGP and NTK kernels.

Pipeline: ``parse`` (text -> Activation) -> ``derive`` (closed form or Hermite
route) -> code generation into ``generated/`` -> JAX runtime (``dualcalc.nn``).

The public names are imported on first use, so generated modules can use
``dualcalc.runtime`` without loading sympy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dualcalc.errors import DerivationError, DualcalcError, ExpressionError, NoClosedFormError

if TYPE_CHECKING:
    from dualcalc.compiler.compile import derive
    from dualcalc.compiler.loader import load
    from dualcalc.derivation.derivation import Derivation
    from dualcalc.expression.activation import Activation
    from dualcalc.expression.parser import parse

__version__ = "0.1.0"

_LAZY = {
    "Activation": "dualcalc.expression.activation",
    "Derivation": "dualcalc.derivation.derivation",
    "derive": "dualcalc.compiler.compile",
    "load": "dualcalc.compiler.loader",
    "parse": "dualcalc.expression.parser",
}
# Submodules reachable as attributes of the package (dualcalc.sklearn needs scikit-learn).
_SUBMODULES = ("predict", "sklearn")

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


def __getattr__(name: str):
    """Import a public name from its module on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"dualcalc.{name}")
    raise AttributeError(f"module 'dualcalc' has no attribute {name!r}")

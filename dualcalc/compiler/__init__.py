"""The compile stage: expression -> verified, calibrated, written and loaded dual module.

Sits above derivation (symbolic results) and codegen (a pure printer): ``compile.derive``
decides between a verified closed form and the Hermite route, ``calibrate`` measures where a
printed form holds, ``verify`` checks it against quadrature, ``source`` renders and executes
in memory, ``writer`` writes ``generated/`` and ``loader`` (``dualcalc.load``) reads it back.
"""

from dualcalc.compiler import composition
from dualcalc.compiler.compile import derive
from dualcalc.compiler.loader import load
from dualcalc.compiler.source import in_memory, render_module
from dualcalc.compiler.writer import generate_catalogue, write_module

__all__ = [
    "composition",
    "derive", "generate_catalogue", "in_memory", "load",
    "render_module",
    "write_module",
]

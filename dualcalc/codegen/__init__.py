"""Code generation: derivations -> small JAX modules in ``generated/``, and the loader.

Pipeline: ``render_module`` (template + ``KernelPrinter``) -> ``write_module`` (atomic file
and index entry under a lock) -> ``load`` (hash-checked module, derived on demand).
"""

from dualcalc.codegen.loader import load
from dualcalc.codegen.manifest import GeneratedModuleError
from dualcalc.codegen.template import render_module
from dualcalc.codegen.writer import (
    catalogue_names,
    default_directory,
    generate_catalogue,
    write_module,
)

__all__ = [
    "GeneratedModuleError",
    "catalogue_names",
    "default_directory",
    "generate_catalogue",
    "load",
    "render_module",
    "write_module",
]

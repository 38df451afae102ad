"""Code generation: a pure printer from (derivation, calibration) to the source of a JAX module.

``template.render`` (template + ``KernelPrinter``) prints; ``slug``, ``manifest``, ``folders``
and ``support`` name, index and lay out the files of ``generated/``. Calibrating, verifying,
writing and loading modules is the compile stage's (``dualcalc.compiler``).
"""

from dualcalc.codegen.calibration import Calibration
from dualcalc.codegen.folders import default_directory
from dualcalc.codegen.manifest import GeneratedModuleError
from dualcalc.codegen.slug import catalogue_names
from dualcalc.codegen.template import render

__all__ = [
    "Calibration",
    "GeneratedModuleError",
    "catalogue_names",
    "default_directory",
    "render",
]

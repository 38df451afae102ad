"""Sphinx configuration of the dualcalc documentation (``make docs``).

Markdown pages through MyST; the committed, already-executed notebooks are shown as they are
(copied from ``notebooks/`` at build time, never executed); the API reference is autodoc with
NumPy-style docstrings (napoleon); ``sphinx-build -b doctest`` runs every example.
"""

import os
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "dualcalc"
author = "dualcalc developers"
copyright = "dualcalc developers"  # noqa: A001 (Sphinx's name)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "notebooks/.ipynb_checkpoints"]
html_theme = "alabaster"
html_static_path: list[str] = []

# Notebooks: committed executed in notebooks/; shown with their outputs, never re-run.
nb_execution_mode = "off"
NOTEBOOKS = pathlib.Path(__file__).parent / "notebooks"
NOTEBOOKS.mkdir(exist_ok=True)
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copyfile(notebook, NOTEBOOKS / notebook.name)

myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signature line stays readable; types are in the docstrings
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# The estimators' docstrings list attributes in a numpy "Attributes" section; as ivar
# fields they do not collide with the attributes autodoc documents.
napoleon_use_ivar = True

doctest_global_setup = """
import os
import re
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
"""
# Every ``>>>`` block runs, the docstrings' included (skipped ones say ``+SKIP``).
doctest_test_doctest_blocks = "default"
suppress_warnings = ["myst.header"]
autodoc_default_options["exclude-members"] = ",".join(
    # scikit-learn's generated metadata-routing and parameter methods: documented upstream
    f"set_{name}_request" for name in ("fit", "predict", "score", "transform")
) + ",set_output,get_metadata_routing"

# The docstrings are plain text (ASCII maths such as |rho|, x * y, X_fit_): read as
# reStructuredText they would be substitutions, emphasis and link targets. Before napoleon
# reads the sections, escape those characters outside ``literals`` and doctest examples.
LITERAL = re.compile(r"(``.*?``|`[^`]*`)")
TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?![\w`])")


def _escape_plain(text: str) -> str:
    """Escape |, * and trailing-underscore names of plain text (not inside literals)."""
    parts = LITERAL.split(text)
    for i in range(0, len(parts), 2):
        part = parts[i].replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
        parts[i] = TRAILING_UNDERSCORE.sub(r"\\_", part)
    return "".join(parts)


def escape_plain_docstring(app, what, name, obj, options, lines):  # noqa: ARG001
    """autodoc-process-docstring: plain-text docstrings made safe for reStructuredText."""
    in_example = in_block = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped:
            in_example = False
            continue
        if in_example:
            continue
        if in_block and (line.startswith(" ") or line.startswith("\t")):
            continue
        in_block = stripped.endswith("::")
        if re.match(r"^\*{1,2}\w+$", stripped):  # a **kwargs parameter: napoleon escapes it
            continue
        lines[i] = _escape_plain(line)


def setup(app):
    app.connect("autodoc-process-docstring", escape_plain_docstring, priority=100)

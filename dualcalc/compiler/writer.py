"""Derivation -> ``<slug>.py`` in a folder plus its ``index.json`` entry, atomically.

``write_module`` is what ``dualcalc derive`` and ``dualcalc generate`` call (it also keeps the
folder's ``_support`` copy current, see ``support``);
``generate_catalogue`` regenerates every named activation that can be used bare.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sympy as sp

from dualcalc.codegen.atomic import write_atomic

# default_directory ($DUALCALC_GENERATED, the checkout's generated/ or the per-user cache of an
# installation) lives in folders.py and is re-exported here for existing callers.
from dualcalc.codegen.folders import DIRECTORY_ENV, default_directory  # noqa: F401
from dualcalc.codegen.manifest import (
    Entry,
    locked,
    read_index,
    sha256_hex,
    write_index,
)
from dualcalc.codegen.slug import canonical_name, catalogue_names, slug_of
from dualcalc.codegen.support import write_support
from dualcalc.compiler.compile import derive
from dualcalc.compiler.source import render_module
from dualcalc.compiler.verify import VERIFY_TOLERANCE


def entry_for(derivation: Any, source: bytes) -> Entry:
    """The index entry of a derivation whose module source is ``source``."""
    activation = derivation.activation
    return Entry(
        slug=slug_of(activation),
        expression=activation.text,
        name=canonical_name(activation),
        closed_form=bool(derivation.closed_form),
        sha256=sha256_hex(source),
        latex=derivation_latex(derivation),
        verified_to=VERIFY_TOLERANCE if derivation.closed_form else None,
    )


def derivation_latex(derivation: Any) -> dict[str, Any]:
    """K, K' and the steps of a derivation as LaTeX strings."""
    return {
        "activation": sp.latex(derivation.activation.expr),
        "nngp": None if derivation.nngp is None else sp.latex(derivation.nngp),
        "dnngp": None if derivation.dnngp is None else sp.latex(derivation.dnngp),
        "steps": [
            {"rule": str(s.rule), "description": str(s.description), "latex": str(s.latex)}
            for s in derivation.steps
        ],
    }


def write_module(derivation: Any, out_dir: str | os.PathLike = "generated") -> Path:
    """Write ``<slug>.py`` for a derivation into ``out_dir``, record it in index.json, and
    bring the folder's ``_support`` package (what the module imports) up to date."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    source = render_module(derivation).encode("utf-8")
    entry = entry_for(derivation, source)
    path = directory / f"{entry.slug}.py"
    with locked(directory, exclusive=True):
        write_support(directory)
        write_atomic(path, source)
        entries = read_index(directory)
        if entries.get(entry.slug) != entry:
            entries[entry.slug] = entry
            write_index(directory, entries)
    return path


def generate_catalogue(
    out_dir: str | os.PathLike,
    names: Iterable[str] | None = None,
    progress: Callable[[str, Path | Exception], None] | None = None,
) -> tuple[list[Path], dict[str, Exception]]:
    """Derive and write every bare named activation (or ``names``): paths and failures by name.

    A failure of one activation is recorded and reported; it does not stop the others.
    """
    paths, failures = [], {}
    for name in names if names is not None else catalogue_names():
        try:
            path = write_module(derive(name), out_dir)
        except Exception as exc:  # noqa: BLE001 - batch job: report every failure at the end
            failures[name] = exc
            if progress is not None:
                progress(name, exc)
            continue
        if progress is not None:
            progress(name, path)
        paths.append(path)
    return paths, failures

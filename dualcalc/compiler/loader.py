"""``dualcalc.load``: the generated module of an activation, verified by its sha256.

Lookup order: the folders of ``folders.search_directories()`` (the writable folder, then
the shipped catalogue), or only ``directory`` when given; in each, the index entry for the
canonical expression -> the file's bytes, checked against the recorded sha256 (a mismatch
is refused) -> executed as a fresh module object. With no entry anywhere, the activation is
derived and written to the first folder (``write_module``); when that folder is not
writable the module is built in memory from the same source (``in_memory``). Modules run
with ``__package__ = "dualcalc.runtime"``, so their ``._support`` imports resolve to the
installed support package, the same code as the folder's ``_support`` copy.
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any

from dualcalc.codegen.folders import search_directories
from dualcalc.codegen.manifest import (
    GeneratedModuleError,
    find_by_expression,
    locked,
    read_index,
    sha256_hex,
)
from dualcalc.compiler.compile import derive
from dualcalc.compiler.execute import load_source
from dualcalc.compiler.source import in_memory
from dualcalc.compiler.writer import write_module
from dualcalc.expression.activation import Activation
from dualcalc.expression.parser import parse


def load(spec: Any, directory: str | os.PathLike | None = None) -> types.ModuleType:
    """The generated JAX module (nngp, dnngp, hermite, activation, ...) of an activation."""
    activation = spec if isinstance(spec, Activation) else parse(spec)
    folders = [Path(directory)] if directory is not None else search_directories()
    for folder in folders:
        found = _load_recorded(folder, activation.text)
        if found is not None:
            return found
    return _derive_and_load(activation, folders[0])


def _load_recorded(folder: Path, expression: str) -> types.ModuleType | None:
    """The verified module recorded for ``expression`` in ``folder``, or None if unrecorded."""
    if not (folder / "index.json").is_file():
        return None
    with locked(folder, exclusive=False):
        entry = find_by_expression(read_index(folder), expression)
        if entry is None:
            return None
        path = folder / f"{entry.slug}.py"
        try:
            source = path.read_bytes()
        except FileNotFoundError:
            return None
    digest = sha256_hex(source)
    if digest != entry.sha256:
        raise GeneratedModuleError(
            f"{path} does not match its sha256 in {folder / 'index.json'} "
            f"(recorded {entry.sha256[:12]}..., file {digest[:12]}...): it was edited or "
            f"corrupted; refusing to load it. Regenerate it with `dualcalc generate {entry.slug}` "
            "or delete it"
        )
    return load_source(entry.slug, source, str(path), digest)


def _derive_and_load(activation: Any, folder: Path) -> types.ModuleType:
    derivation = derive(activation)
    try:
        path = write_module(derivation, folder)
    except OSError:
        return in_memory(derivation)
    source = path.read_bytes()
    return load_source(path.stem, source, str(path), sha256_hex(source))

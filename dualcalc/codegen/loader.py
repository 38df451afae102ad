"""``dualcalc.load``: the generated module of an activation, verified by its sha256.

Lookup order: the index entry for the canonical expression -> the file's bytes, checked
against the recorded sha256 (a mismatch is refused) -> executed as a fresh module object.
With no entry, the activation is derived and written (``write_module``); when the folder is
not writable the module is built in memory from the same source.
"""

from __future__ import annotations

import os
import threading
import types
from pathlib import Path
from typing import Any

from dualcalc.codegen.manifest import (
    GeneratedModuleError,
    find_by_expression,
    locked,
    read_index,
    sha256_hex,
)
from dualcalc.codegen.template import render_module
from dualcalc.codegen.writer import default_directory, write_module

_CACHE: dict[tuple[str, str, str], types.ModuleType] = {}
_CACHE_LOCK = threading.Lock()


def load(spec: Any, directory: str | os.PathLike | None = None) -> types.ModuleType:
    """The generated JAX module (nngp, dnngp, hermite, activation, ...) of an activation."""
    from dualcalc.expression.activation import Activation
    from dualcalc.expression.parser import parse

    activation = spec if isinstance(spec, Activation) else parse(spec)
    folder = Path(directory) if directory is not None else default_directory()
    found = _load_recorded(folder, activation.text)
    if found is not None:
        return found
    return _derive_and_load(activation, folder)


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
    return _module_from_source(entry.slug, source, str(path), digest)


def _derive_and_load(activation: Any, folder: Path) -> types.ModuleType:
    from dualcalc.derivation.derivation import derive

    derivation = derive(activation)
    try:
        path = write_module(derivation, folder)
    except OSError:
        source = render_module(derivation).encode("utf-8")
        digest = sha256_hex(source)
        slug = f"dualcalc_memory_{digest[:12]}"
        return _module_from_source(slug, source, f"<dualcalc:{activation.text}>", digest)
    source = path.read_bytes()
    return _module_from_source(path.stem, source, str(path), sha256_hex(source))


def _module_from_source(slug: str, source: bytes, filename: str, digest: str) -> types.ModuleType:
    """Execute verified generated source as a new module object (cached by its hash)."""
    key = (slug, filename, digest)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    module = types.ModuleType(f"generated.{slug}")
    module.__file__ = filename
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102 - our own generated source, hash-verified
    with _CACHE_LOCK:
        return _CACHE.setdefault(key, module)

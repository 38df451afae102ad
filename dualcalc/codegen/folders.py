"""Where generated modules live: the shipped catalogue, the writable folder, the search order.

- The *shipped catalogue* is the ``generated`` package beside ``dualcalc``: the repository's
  ``generated/`` in a source checkout, ``site-packages/generated`` in an installation (the
  wheel ships it, ``from generated import gelu`` works). It is only ever read by an
  installation.
- New modules are written to ``default_directory()``: ``$DUALCALC_GENERATED`` when set; in a
  source checkout the repository's ``generated/`` (the committed catalogue's workflow);
  otherwise a per-user cache, ``$XDG_CACHE_HOME/dualcalc/generated`` or
  ``~/.cache/dualcalc/generated``, never site-packages (which may be read-only).
- ``dualcalc.load`` looks in ``search_directories()``: the writable folder first (a module
  the user regenerated wins), then, in an installation, the shipped catalogue. In a source
  checkout the catalogue may be mid-regeneration, so only the writable folder is read (the
  checkout's generated/ itself unless $DUALCALC_GENERATED says otherwise). Every module is
  hash-checked.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the folder new modules are written to (and read first).
DIRECTORY_ENV = "DUALCALC_GENERATED"
#: The XDG base-directory variable for per-user caches.
CACHE_ENV = "XDG_CACHE_HOME"


def shipped_directory() -> Path:
    """The ``generated`` package beside the dualcalc package (repo root or site-packages)."""
    return Path(__file__).resolve().parents[2] / "generated"


def is_source_checkout() -> bool:
    """True when dualcalc runs from its repository (pyproject.toml beside generated/)."""
    root = Path(__file__).resolve().parents[2]
    return (root / "pyproject.toml").is_file() and (root / "generated").is_dir()


def user_directory() -> Path:
    """$XDG_CACHE_HOME/dualcalc/generated, else ~/.cache/dualcalc/generated."""
    cache = os.environ.get(CACHE_ENV, "")
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "dualcalc" / "generated"


def default_directory() -> Path:
    """Where new modules go: $DUALCALC_GENERATED, the checkout's generated/, or the user cache."""
    configured = os.environ.get(DIRECTORY_ENV)
    if configured:
        return Path(configured)
    if is_source_checkout():
        return shipped_directory()
    return user_directory()


def search_directories() -> list[Path]:
    """Folders ``dualcalc.load`` reads, in order: default_directory(), then (installed) the
    shipped catalogue."""
    folders = [default_directory()]
    shipped = shipped_directory()
    if not is_source_checkout() and shipped.is_dir() and not _same_folder(folders[0], shipped):
        folders.append(shipped)
    return folders


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


__all__ = [
    "CACHE_ENV",
    "DIRECTORY_ENV",
    "default_directory",
    "is_source_checkout",
    "search_directories",
    "shipped_directory",
    "user_directory",
]

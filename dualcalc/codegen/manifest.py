"""``generated/index.json``: one entry per generated module, read and written under a lock.

Each entry holds the canonical expression, slug, display name, closed_form, the sha256 of
the module file, the derivation in LaTeX and the tolerance its closed form was verified to
(a bound, never a measured floating-point residual: committed files must be a function of
the source and the expression alone, the same on every processor). The index is
written atomically (``atomic.write_atomic``) while holding an exclusive ``flock`` on the
folder itself, so concurrent generators never lose each other's entries or leave a torn
index; readers take a shared lock so a file and its entry are always seen together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dualcalc.codegen.atomic import write_atomic
from dualcalc.errors import DualcalcError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, atomic writes only
    fcntl = None

INDEX_NAME = "index.json"
FORMAT = 2


class GeneratedModuleError(DualcalcError):
    """A generated module or its index is missing, corrupt, or does not match its hash."""


@dataclass(frozen=True)
class Entry:
    """The index record of one generated module."""

    slug: str
    expression: str
    name: str
    closed_form: bool
    sha256: str
    latex: dict[str, Any]
    verified_to: float | None  # closed forms: max relative error vs quadrature is below this


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Hold an advisory flock on the folder (exclusive for writers, shared for readers)."""
    if fcntl is None:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_index(directory: Path) -> dict[str, Entry]:
    """Entries by slug (empty when there is no index yet); call under ``locked``."""
    path = Path(directory) / INDEX_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise GeneratedModuleError(f"{path} is not a readable JSON index: {exc}") from exc
    try:
        entries = {slug: Entry(**fields) for slug, fields in raw["modules"].items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise GeneratedModuleError(f"{path} does not have the expected layout: {exc}") from exc
    for key, entry in entries.items():
        if not (is_slug(key) and entry.slug == key):
            raise GeneratedModuleError(
                f"{path} names a module {key!r} / {entry.slug!r}: a slug must be a plain "
                "identifier (letters, digits, _), so that it stays inside the folder"
            )
    return entries


def is_slug(text: object) -> bool:
    """True for a plain ASCII identifier: a file stem that cannot leave its folder."""
    return isinstance(text, str) and text.isascii() and text.isidentifier()


def render_index(entries: dict[str, Entry]) -> bytes:
    """Deterministic bytes of the index (sorted keys, two-space indent, final newline)."""
    body = {"format": FORMAT, "modules": {s: asdict(entries[s]) for s in sorted(entries)}}
    return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def write_index(directory: Path, entries: dict[str, Entry]) -> None:
    """Replace the index atomically; call under an exclusive ``locked``."""
    write_atomic(Path(directory) / INDEX_NAME, render_index(entries))


def find_by_expression(entries: dict[str, Entry], expression: str) -> Entry | None:
    """The entry whose canonical expression is ``expression`` (a named slug wins)."""
    matches = [e for e in entries.values() if e.expression == expression]
    if not matches:
        return None
    return min(matches, key=lambda e: (len(e.slug), e.slug))

"""The support package every generated folder carries: ``<folder>/_support``, byte for byte.

Generated modules import their guards, atan2, piecewise evaluation, Hermite quadrature and
special functions from ``._support`` (a sibling package), so a folder of generated modules
runs with jax alone. The one copy of that code is ``dualcalc/runtime/_support``; this module
copies its ``*.py`` files into a folder (atomically, stale files removed) and checks copies.
"""

from __future__ import annotations

from pathlib import Path

from dualcalc.codegen.atomic import write_atomic

SUPPORT_DIR = "_support"


def support_files() -> dict[str, bytes]:
    """File name -> bytes of the installed support package (``dualcalc.runtime._support``)."""
    package = Path(__file__).resolve().parents[1] / "runtime" / SUPPORT_DIR
    return {path.name: path.read_bytes() for path in sorted(package.glob("*.py"))}


def stale_support(directory: Path) -> list[Path]:
    """Paths in ``<directory>/_support`` that are missing, differ, or do not belong there."""
    folder = Path(directory) / SUPPORT_DIR
    wanted = support_files()
    stale = [
        folder / name
        for name, data in wanted.items()
        if not (folder / name).is_file() or (folder / name).read_bytes() != data
    ]
    if folder.is_dir():
        stale += [path for path in sorted(folder.glob("*.py")) if path.name not in wanted]
    return stale


def write_support(directory: Path) -> None:
    """Bring ``<directory>/_support`` up to date with the installed support package."""
    folder = Path(directory) / SUPPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    wanted = support_files()
    for name, data in wanted.items():
        write_atomic(folder / name, data)
    for path in folder.glob("*.py"):
        if path.name not in wanted:
            path.unlink()

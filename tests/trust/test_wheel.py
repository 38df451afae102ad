"""A clean, read-only installation from the wheel: the committed catalogue ships with it,
``dualcalc derive gelu`` and ``from generated import gelu`` work, and new modules go to the
per-user cache, never into the installation.

The wheel is built offline (``pip wheel --no-build-isolation`` with the development
environment's setuptools) from a copy of the sources, installed with ``pip install
--target`` (no dependencies: jax, sympy, ... come from the running environment), made
read-only, and used from a fresh interpreter whose PYTHONPATH puts it first; the test checks
that dualcalc and generated are imported from the installation, not from the repository.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "dualcalc", "generated"]

CHECK = """
import sys
from pathlib import Path
import jax
jax.config.update("jax_enable_x64", True)
import dualcalc, generated
from generated import gelu
target = Path(sys.argv[1]).resolve()
assert Path(dualcalc.__file__).resolve().is_relative_to(target), dualcalc.__file__
assert Path(generated.__file__).resolve().is_relative_to(target), generated.__file__
assert Path(gelu.__file__).resolve().is_relative_to(target), gelu.__file__
shipped = dualcalc.load("relu")                  # found in the shipped catalogue
assert Path(shipped.__file__).resolve().is_relative_to(target), shipped.__file__
fresh = dualcalc.load("x*exp(-x**2/2)")          # not shipped: derived into the user cache
print(float(gelu.nngp(1.0, 1.0, 0.5)))
print(fresh.__file__)
"""


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under folder with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_wheel_installs_read_only_and_writes_only_to_the_user_cache(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77")
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name)
    for cache in source.rglob("__pycache__"):
        shutil.rmtree(cache)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("DUALCALC_GENERATED", None)
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", "dist", str(source)],
        env,
        tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("dualcalc-*.whl")
    target = tmp_path / "site"
    _run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        env,
        tmp_path,
    )
    assert (target / "generated" / "index.json").is_file()
    assert (target / "generated" / "gelu.py").is_file()
    assert (target / "bin" / "dualcalc").is_file()

    home, xdg, work = tmp_path / "home", tmp_path / "xdg", tmp_path / "work"
    for folder in (home, work):
        folder.mkdir()
    env |= {"HOME": str(home), "PYTHONPATH": str(target)}
    env.pop("XDG_CACHE_HOME", None)
    before = _tree(target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        derived = _run([sys.executable, "-m", "dualcalc", "derive", "gelu"], env, work)
        assert "closed form" in derived.stdout
        assert (home / ".cache" / "dualcalc" / "generated" / "gelu.py").is_file()
        checked = _run(
            [sys.executable, "-c", CHECK, str(target)], env | {"XDG_CACHE_HOME": str(xdg)}, work
        )
    finally:
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert _tree(target) == before  # nothing written into the installation
    value, fresh = checked.stdout.split()
    assert Path(fresh).parent == xdg / "dualcalc" / "generated"
    assert (xdg / "dualcalc" / "generated" / "index.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == []
    # Published GELU kernel (Neural Tangents' closed form) at q1 = q2 = 1, c = 0.5.
    q, c = 1.0, 0.5
    d = np.sqrt((1 + q) ** 2 - c**2)
    published = c / 4 + (
        c * np.arcsin(c / (1 + q)) + (c**2 + q * q * d**2) / ((1 + q) ** 2 * d)
    ) / (2 * np.pi)
    assert float(value) == pytest.approx(published, rel=1e-14)

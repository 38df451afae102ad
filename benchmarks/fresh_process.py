"""Benchmark plumbing: a private copy of the generated catalogue, measurements in fresh processes.

Benchmarks never write into the repository's ``generated/`` folder: ``private_catalogue()``
points ``DUALCALC_GENERATED`` at a temporary copy of it (for this process and every child it
starts), removed at exit. ``measure(code, spec)`` runs ``code`` in a fresh python (JAX on the
CPU, float64 enabled) with ``spec`` as the JSON dictionary ``SPEC``; the code stores its
results in the dictionary ``RESULT``, which comes back with ``peak_mib``, the child's own peak
resident memory (VmHWM: ``ru_maxrss`` would include the parent's peak, which Linux carries
across fork and exec).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENV = "DUALCALC_GENERATED"

HEADER = r"""
import json, sys
SPEC = json.loads(sys.argv[1])
sys.path.insert(0, SPEC["benchmarks_dir"])
import jax
jax.config.update("jax_enable_x64", True)
RESULT = {}
"""

FOOTER = r"""
with open("/proc/self/status") as _status:
    RESULT["peak_mib"] = float(
        [line.split()[1] for line in _status if line.startswith("VmHWM:")][0]
    ) / 1024.0
print(json.dumps(RESULT))
"""


def private_catalogue() -> str:
    """Point DUALCALC_GENERATED at a temporary copy of generated/ (once per process)."""
    current = os.environ.get(ENV)
    if current and Path(current).is_dir() and not _is_repository_catalogue(Path(current)):
        return current
    folder = tempfile.mkdtemp(prefix="dualcalc-bench-generated-")
    shutil.copytree(HERE.parent / "generated", folder, dirs_exist_ok=True)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[ENV] = folder
    return folder


def measure(code: str, spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh python; its RESULT plus peak_mib ({"error": ...} on failure)."""
    private_catalogue()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    full = dict(spec, benchmarks_dir=str(HERE))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", HEADER + code + FOOTER, json.dumps(full)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " / ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_average() -> str:
    """The 1-minute load average (the machine is shared: times are indicative)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def _is_repository_catalogue(path: Path) -> bool:
    return path.resolve() == (HERE.parent / "generated").resolve()

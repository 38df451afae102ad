"""Neural Tangents in its own virtual environment, for side-by-side benchmarks.

``ensure()`` creates ``benchmarks/.nt-venv`` with a set of versions known to import
together and returns its python; ``run_snippet(code, payload)`` runs code there and
returns the JSON it prints. Both raise ``NeuralTangentsUnavailable`` with a message when
the environment cannot be built (no network, no wheels), so callers skip that column.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".nt-venv"
PACKAGES = ["neural-tangents==0.6.5", "jax==0.5.3", "jaxlib==0.5.3", "tf2jax==0.3.7"]


class NeuralTangentsUnavailable(RuntimeError):
    """The Neural Tangents environment could not be built or imported."""


def python_path() -> Path:
    """The interpreter of the Neural Tangents environment (may not exist yet)."""
    return VENV / "bin" / "python"


def _imports(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import neural_tangents"], capture_output=True, timeout=300
    )
    return probe.returncode == 0


def ensure(timeout: float = 900.0) -> Path:
    """Build the environment if needed; return its python or raise NeuralTangentsUnavailable."""
    python = python_path()
    if _imports(python):
        return python
    try:
        if not python.exists():
            venv.create(VENV, with_pip=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PACKAGES],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise NeuralTangentsUnavailable(f"could not build {VENV}: {exc}") from exc
    if result.returncode != 0 or not _imports(python):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise NeuralTangentsUnavailable(f"pip install {' '.join(PACKAGES)} failed: {tail}")
    return python


def find_python(explicit: str | None = None) -> str | None:
    """An interpreter that imports neural_tangents: ``explicit`` if it does, else this
    module's environment (built on demand); None, with a message, when neither works."""
    if explicit and _imports(Path(explicit)):
        return explicit
    try:
        return str(ensure())
    except NeuralTangentsUnavailable as exc:
        print(f"[Neural Tangents unavailable, column skipped: {exc}]", file=sys.stderr)
        return None


def run_snippet(code: str, payload: dict | None = None, timeout: float = 600.0) -> dict:
    """Run ``code`` in the NT environment with ``PAYLOAD`` (a dict) defined; return its JSON.

    The snippet must print exactly one JSON object as its last line of output.
    """
    python = ensure()
    prelude = f"import json\nPAYLOAD = json.loads({json.dumps(json.dumps(payload or {}))})\n"
    result = subprocess.run(
        [str(python), "-c", prelude + code], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise NeuralTangentsUnavailable(f"snippet failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    try:
        print(ensure())
    except NeuralTangentsUnavailable as exc:
        print(f"Neural Tangents unavailable: {exc}", file=sys.stderr)
        sys.exit(1)

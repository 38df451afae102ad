"""Test configuration: JAX on the CPU, float64 by default, compilations cached on disk.

Every test runs with ``jax_enable_x64`` unless it asks for the ``float32`` fixture, which turns
x64 off for its duration (the configuration most users run in). Compiled XLA executables are
kept in the project-local ``.cache/jax`` (ignored by git), so the two xdist workers, the
subprocess tests and the next run reuse each other's compilations.
"""

import os
import pathlib
import tempfile

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

CACHE = pathlib.Path(__file__).resolve().parents[1] / ".cache" / "jax"
os.environ.setdefault("DUALCALC_JAX_CACHE", str(CACHE))
jax.config.update("jax_compilation_cache_dir", os.environ["DUALCALC_JAX_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# Modules derived on demand during tests go to a scratch folder, never into the repo's generated/.
os.environ.setdefault("DUALCALC_GENERATED", tempfile.mkdtemp(prefix="dualcalc-generated-"))


@pytest.fixture
def float32():
    """Run the test with x64 off: JAX's default dtype is float32, as for most users."""
    with jax.enable_x64(False):
        yield

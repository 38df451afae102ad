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


#: The slowest checks (10-90 s each on the 2-core CI machine, mostly XLA compilations of
#: piecewise activations' probes): marked ``slow`` here (a few more carry the mark in their
#: own files), run by ``make test-slow`` rather than by ``make test``, which must stay within
#: CI's time on 2 cores. Times from
#: ``pytest -n 2 --durations=70``.
SLOW = {
    "runtime/test_edges.py::test_kernels_on_the_edges_on_every_path[" + name + "]"
    for name in (
        "hard_swish",
        "hardtanh",
        "hard_sigmoid",
        "celu",
        "elu(x)*x",
        "selu",
        "relu6",
        "abs(x + 0.5)*x",
        "relu(x - 0.5)",
    )
} | {
    "runtime/test_edges.py::test_closed_forms_hold_at_large_variances[hardtanh]",
    "runtime/test_edges.py::test_closed_forms_hold_at_large_variances[elu]",
    "codegen/test_loader.py::test_committed_catalogue_equals_a_fresh_regeneration",
    "features/test_float32.py::test_myrtle_features_in_float32",
    "features/test_sketch_polysketch.py::test_every_block_unbiased_and_error_shrinks_like_one_over_sqrt_m",
    "features/test_features.py::test_fc_and_myrtle_conveniences_shapes_dtypes_and_keys",
    "trust/test_concurrency.py::test_four_processes_deriving_into_one_folder",
    "learn/test_streaming.py::test_sharded_accumulation_over_8_devices_equals_one_device",
    "learn/test_sketched.py::test_sketched_ridge_tracks_the_exact_ridge",
    "trust/test_wheel.py::test_wheel_installs_read_only_and_writes_only_to_the_user_cache",
    "runtime/test_branches.py::test_wide_resnet_has_neural_tangents_block_structure",
    "trust/test_notebooks.py::test_notebook_executes[02_hermite_spectra]",
    "features/test_features.py::test_deeper_networks_converge_as_m_grows[relu]",
    "features/test_features.py::test_deeper_networks_converge_as_m_grows[tanh]",
    "runtime/test_no_implicit_padding.py::test_window_ops_never_read_before_their_input_buffer",
    "learn/test_predict.py::test_finite_width_networks_trained_by_gradient_descent",
    "trust/test_notebooks.py::test_notebook_executes[04_sketched_features]",
}


def pytest_collection_modifyitems(config, items):
    """Mark the SLOW checks ``slow`` (``-m "not slow"`` leaves them out, ``-m slow`` runs them)."""
    for item in items:
        if item.nodeid.split("tests/", 1)[-1] in SLOW:
            item.add_marker(pytest.mark.slow)

"""Test configuration: JAX in float64 on the CPU for every test."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import tempfile  # noqa: E402

# Modules derived on demand during tests go to a scratch folder, never into the repo's generated/.
os.environ.setdefault("DUALCALC_GENERATED", tempfile.mkdtemp(prefix="dualcalc-generated-"))

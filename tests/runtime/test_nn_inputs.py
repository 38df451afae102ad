"""kernel_fn's contract around the numbers: validation, blocking by batch_size, float32."""

from __future__ import annotations

import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual

from dualcalc import DualcalcError, nn

RNG = np.random.default_rng(5)
FLAT = RNG.normal(size=(7, 4))
IMAGES = RNG.normal(size=(5, 6, 6, 2))


def fc():
    return nn.serial(
        nn.Dense(16, W_std=1.3, b_std=0.1),
        nn.Activation(ReluDual),
        nn.Dense(16, W_std=1.3, b_std=0.1),
        nn.Activation(ErfDual),
        nn.Dense(1, W_std=1.3, b_std=0.1),
    )


def cnn():
    return nn.serial(
        nn.Conv(8, (3, 3), W_std=1.4, b_std=0.1),
        nn.Activation(ReluDual),
        nn.AvgPool((2, 2)),
        nn.Conv(8, (2, 2), padding="VALID", W_std=1.4),
        nn.Activation(ErfDual),
        nn.GlobalAvgPool(),
        nn.Dense(1),
    )


@pytest.mark.parametrize(
    ("x1", "x2", "message"),
    [
        (np.array([[1.0, np.nan]]), None, "non-finite"),
        (np.array([[1.0, 2.0]]), np.array([[np.inf, 0.0]]), "x2 contains 1 non-finite"),
        (np.ones(3), None, "shape"),
        (np.ones((0, 3)), None, "empty"),
        (np.ones((2, 3)), np.ones((2, 4)), "agree beyond the batch axis"),
        (np.array([["a", "b"]]), None, "real numbers"),
        (np.ones((2, 2), dtype=complex), None, "real numbers"),
        (np.ones((2, 2), dtype=np.float16), None, "float32 or float64"),
        ([[1.0, 2.0], [3.0]], None, "cannot be read as an array"),
        (np.ones((1, 2, 2, 2, 2, 2)), None, "at most 3"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_error(x1, x2, message):
    with pytest.raises(DualcalcError, match=message):
        fc().kernel_fn(x1, x2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(get="cntk"), "get must be"),
        (dict(get=()), "get must be"),
        (dict(get=5), "get must be"),
        (dict(batch_size=0), "positive integer"),
        (dict(batch_size=2.5), "positive integer"),
        (dict(batch_size=True), "positive integer"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(DualcalcError, match=message):
        fc().kernel_fn(FLAT, **kwargs)


def test_bad_layers_are_refused():
    with pytest.raises(DualcalcError, match="spatial axes"):
        nn.serial(nn.Conv(3, (3, 3)), nn.Flatten()).kernel_fn(FLAT)
    with pytest.raises(DualcalcError, match="does not fit"):
        nn.Conv(3, (7, 7), padding="VALID").kernel_fn(IMAGES)
    with pytest.raises(DualcalcError, match="padding"):
        nn.Conv(3, (3, 3), padding="CIRCULAR")
    with pytest.raises(DualcalcError, match="W_std"):
        nn.Dense(3, W_std=-1.0)
    with pytest.raises(DualcalcError, match="b_std"):
        nn.Dense(3, b_std=float("nan"))
    with pytest.raises(DualcalcError, match="out_dim"):
        nn.Dense(0)
    with pytest.raises(DualcalcError, match="lacks"):
        nn.Activation(object())
    with pytest.raises(DualcalcError, match="depth"):
        nn.myrtle(6, ReluDual)
    with pytest.raises(DualcalcError, match="not a dualcalc layer"):
        nn.serial(nn.Dense(2), (1, 2))


def test_integer_inputs_are_read_as_float64():
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(fc().kernel_fn(ints), fc().kernel_fn(ints.astype(float)))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50])
def test_blocked_equals_unblocked_fully_connected(size):
    kernel_fn = fc().kernel_fn
    full = kernel_fn(FLAT, get=("nngp", "ntk"))
    blocked = kernel_fn(FLAT, get=("nngp", "ntk"), batch_size=size)
    cross = kernel_fn(FLAT[:3], FLAT[2:], get=("nngp", "ntk"), batch_size=size)
    for f, b, c in zip(full, blocked, cross, strict=True):
        np.testing.assert_allclose(b, f, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(c, f[:3, 2:], rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(b, b.T)


def test_blocked_equals_unblocked_cnn():
    kernel_fn = cnn().kernel_fn
    full = kernel_fn(IMAGES)
    np.testing.assert_allclose(kernel_fn(IMAGES, batch_size=2), full, rtol=1e-13)
    np.testing.assert_allclose(kernel_fn(IMAGES[:2], IMAGES, batch_size=3), full[:2], rtol=1e-13)


def test_duplicate_points_get_the_self_pair_value_in_both_batches():
    """A point repeated (within x1, or shared by x1 and x2) sits at rho = 1 up to rounding;
    the kinked ReLU NTK there must equal the exact self-pair value, not drift by ~1e-8."""
    x = np.vstack([FLAT, 3.0 * FLAT[:1], FLAT[2:3]])  # row 8 repeats row 2
    kernel_fn = fc().kernel_fn
    ntk = kernel_fn(x)
    assert ntk[2, 8] == pytest.approx(ntk[2, 2], rel=1e-14)
    assert ntk[8, 8] == pytest.approx(ntk[2, 2], rel=1e-14)
    cross = kernel_fn(x[:3], x[::-1])
    np.testing.assert_allclose(cross, ntk[:3, ::-1], rtol=1e-14)
    images = np.concatenate([IMAGES, IMAGES[1:2]])
    cnn_ntk = cnn().kernel_fn(images)
    assert cnn_ntk[1, 5] == pytest.approx(cnn_ntk[1, 1], rel=1e-14)


def test_float32_is_finite_and_close_to_float64_even_at_the_edges():
    x = np.vstack([FLAT, np.zeros((1, 4)), FLAT[:1], 1e-3 * FLAT[:1], 1e3 * FLAT[1:2]])
    kernel_fn = fc().kernel_fn
    want = kernel_fn(x, get=("nngp", "ntk"))
    got = kernel_fn(x.astype(np.float32), get=("nngp", "ntk"))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32 and np.all(np.isfinite(g))
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-4 * np.max(np.abs(w)))
    images = np.concatenate([IMAGES, np.zeros((1, 6, 6, 2))]).astype(np.float32)
    for k in cnn().kernel_fn(images, get=("nngp", "ntk"), batch_size=4):
        assert k.dtype == np.float32 and np.all(np.isfinite(k))


def test_mixed_precision_inputs_promote_to_float64():
    out = fc().kernel_fn(FLAT.astype(np.float32), FLAT)
    assert out.dtype == np.float64


def test_float64_works_without_global_x64():
    import jax

    jax.config.update("jax_enable_x64", False)
    try:
        out = fc().kernel_fn(FLAT)
    finally:
        jax.config.update("jax_enable_x64", True)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, fc().kernel_fn(FLAT), rtol=1e-15)

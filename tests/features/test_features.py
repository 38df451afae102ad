"""Sketched feature maps against the exact kernels of the same network (``kernel_fn``).

Statistics, honestly: every check uses fixed keys and a tolerance derived from the spread of
the sketch itself. Where the construction is exactly unbiased (one activation after exact
input features: the PolySketch blocks are unbiased for <u, u'>^k, TensorSRHT for the product),
the mean Gram matrix over K independent keys must match its expectation to within 5 standard
errors per entry (5 sigma: a false alarm about once in 2e6 entries); the expectation is the
exact kernel (random features) or the kernel truncated at the sketch's degree, built from the
Hermite coefficients (themselves checked against mpmath in test_hermite / test_runtime_hermite),
and that truncated kernel is within the Cauchy-Schwarz tail bound of the exact one. Deeper
networks normalise noisy features, which biases them at O(1/m): there the relative error must
fall as m grows.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dualcalc import features, nn
from dualcalc.errors import DualcalcError
from dualcalc.runtime.elementwise import resolve

KEYS = 48  # independent sketches per unbiasedness check
SIGMAS = 5.0


def points(n: int = 6, d: int = 8, seed: int = 3) -> np.ndarray:
    """Rows with norms spread over [0.3, 3] (per-coordinate variance |x|^2 / d)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x * rng.uniform(0.3, 3.0, (n, 1)) / np.linalg.norm(x, axis=1, keepdims=True)


def gram_samples(feature_map, x: np.ndarray, keys: int, get: str) -> np.ndarray:
    """(keys, n, n) Gram matrices of independent sketches (one compiled apply)."""
    apply = jax.jit(lambda p, a: getattr(feature_map.apply(p, a), get))
    out = []
    with jax.enable_x64(True):
        for i in range(keys):
            params = feature_map.draw(jax.random.PRNGKey(1000 + i), x.shape[1:], x.dtype)
            f = np.asarray(apply(params, x))
            out.append(f @ f.T)
    return np.stack(out)


def assert_unbiased(samples: np.ndarray, expected: np.ndarray, label: str) -> None:
    """|mean - expected| <= 5 standard errors per entry (plus rounding)."""
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    slack = SIGMAS * se + 1e-12 * np.abs(expected).max()
    worst = np.max(np.abs(mean - expected) / slack)
    assert worst <= 1.0, f"{label}: mean off by {worst:.2f} x (5 standard errors)"


def truncated_kernels(module, q: np.ndarray, gram0: np.ndarray, degree: int):
    """Mehler's sums cut at ``degree`` for K and K' at input covariances gram0 (q = diagonal)."""
    with jax.enable_x64(True):
        a, b = (np.asarray(c) for c in module.feature_coefficients(q, degree))
    rho = np.clip(gram0 / np.sqrt(q[:, None] * q[None, :]), -1.0, 1.0)
    powers = rho[..., None] ** np.arange(degree + 1)
    k = np.einsum("ik,jk,ijk->ij", a, a, powers)
    dk = np.einsum("ik,jk,ijk->ij", b, b, powers)
    return k, dk


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "x*exp(-x**2/2)"])
def test_one_layer_polysketch_is_unbiased_for_the_truncated_kernels(activation):
    """NNGP and NTK features of Dense -> Activation: mean over keys = Mehler sums cut at p,
    which are within the Cauchy-Schwarz tail bound of the exact kernel_fn."""
    x = points()
    w_std, b_std, degree = 1.3, 0.2, 6
    net = nn.serial(nn.Dense(64, w_std, b_std), nn.Activation(activation))
    fmap = features.sketch(net, m=128, key=0, degree=degree)
    gram0 = w_std**2 * (x @ x.T) / x.shape[1] + b_std**2  # the Dense layer's exact kernel
    q = np.diag(gram0).copy()
    module = resolve(activation)
    k_p, dk_p = truncated_kernels(module, q, gram0, degree)
    assert_unbiased(gram_samples(fmap, x, KEYS, "nngp"), k_p, f"{activation} NNGP")
    assert_unbiased(gram_samples(fmap, x, KEYS, "ntk"), dk_p * gram0, f"{activation} NTK")
    exact = net.kernel_fn(x, None, "nngp")
    tails = np.asarray(module.nngp_edges(q)[0]) - np.sum(
        np.asarray(module.feature_coefficients(q, degree)[0]) ** 2, axis=-1
    )
    bound = np.sqrt(np.outer(tails, tails)) + 1e-12
    assert np.all(np.abs(k_p - exact) <= bound), "truncation beyond its tail bound"


def test_nothing_left_to_sketch_gives_the_exact_low_degrees():
    """Degree 1 with the linear block exact (d small next to m), and m = 1 (room for degree 0
    only): no randomness remains, so the NNGP Gram matrix is Mehler's sum cut at degree 1 and
    at degree 0, exactly (the unused width is zeros)."""
    x = points()
    w_std, b_std = 1.3, 0.2
    net = nn.serial(nn.Dense(64, w_std, b_std), nn.Activation("erf"))
    gram0 = w_std**2 * (x @ x.T) / x.shape[1] + b_std**2
    q = np.diag(gram0).copy()
    k_1, _ = truncated_kernels(resolve("erf"), q, gram0, 1)
    k_0, _ = truncated_kernels(resolve("erf"), q, gram0, 0)
    for m, degree, expected in ((64, 1, k_1), (1, 3, k_0)):
        fmap = features.sketch(net, m=m, key=jax.random.PRNGKey(0), degree=degree)
        nngp, ntk = fmap(x, get=("nngp", "ntk"))
        assert nngp.shape == (len(x), m) and np.all(np.isfinite(ntk))
        np.testing.assert_allclose(nngp @ nngp.T, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["random", "arccos", "leverage"])
def test_one_layer_random_features_are_unbiased_for_the_exact_kernels(method):
    x = points()
    net = nn.serial(nn.Dense(64, 1.2, 0.1), nn.Activation("relu"))
    fmap = features.sketch(net, m=128, key=0, method=method)
    nngp, ntk = net.kernel_fn(x, None, ("nngp", "ntk"))
    assert_unbiased(gram_samples(fmap, x, KEYS, "nngp"), nngp, f"{method} NNGP")
    assert_unbiased(gram_samples(fmap, x, KEYS, "ntk"), ntk, f"{method} NTK")


def test_conv_layer_polysketch_is_unbiased_for_the_cntk():
    """Conv -> erf -> GlobalAvgPool: the window concatenation is exact, each pixel's blocks
    carry its own variance; erf's Hermite tail at degree 12 is below 1e-9 here."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5, 5, 2)) * rng.uniform(0.3, 2.0, (4, 1, 1, 1))
    net = nn.serial(nn.Conv(8, (3, 3), padding="SAME"), nn.Activation("erf"), nn.GlobalAvgPool())
    fmap = features.sketch(net, m=96, key=0, degree=12)
    nngp = net.kernel_fn(x, None, "nngp")
    assert_unbiased(gram_samples(fmap, x, KEYS, "nngp"), nngp, "conv NNGP")


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
def test_deeper_networks_converge_as_m_grows(activation):
    """Depth 2 + readout, NTK and NNGP: relative Frobenius error, averaged over keys, falls
    with m (the sketch error scales like 1 / sqrt(m): 16 x m should about quarter it; a bias
    floor is allowed by asking for less than half)."""
    x = points(n=10)
    net = nn.serial(
        nn.Dense(64, 1.0, 0.1), nn.Activation(activation),
        nn.Dense(64, 1.0, 0.1), nn.Activation(activation), nn.Dense(1, 1.0, 0.1),
    )  # fmt: skip
    exact = dict(zip(("nngp", "ntk"), net.kernel_fn(x, None, ("nngp", "ntk")), strict=True))
    errors = {}
    for m in (128, 2048):
        fmap = features.sketch(net, m=m, key=0)
        for get in ("nngp", "ntk"):
            grams = gram_samples(fmap, x, 4, get)
            errors[m, get] = np.mean(
                [np.linalg.norm(g - exact[get]) / np.linalg.norm(exact[get]) for g in grams]
            )
    for get in ("nngp", "ntk"):
        assert errors[2048, get] < 0.5 * errors[128, get], (get, errors)


def test_fc_and_myrtle_conveniences_shapes_dtypes_and_keys():
    x = points(n=5)
    fmap = features.fc("gelu", 2, m=64, key=jax.random.PRNGKey(1), W_std=1.5, b_std=0.1)
    nngp, ntk = fmap(x, batch_size=2, get=("nngp", "ntk"))
    assert nngp.shape == (5, 64) and ntk.shape == (5, 64)
    assert nngp.dtype == np.float64
    ntk_first = fmap(x, get=("ntk", "nngp"))  # the order asked
    np.testing.assert_array_equal(ntk_first[0], fmap(x))  # default get="ntk": one array
    again = features.fc("gelu", 2, m=64, key=jax.random.PRNGKey(1), W_std=1.5, b_std=0.1)(x)
    np.testing.assert_allclose(again, ntk, rtol=1e-12, atol=1e-12)  # batch-independent
    other = features.fc("gelu", 2, m=64, key=jax.random.PRNGKey(2), W_std=1.5, b_std=0.1)(x)
    assert not np.allclose(other, ntk)
    single = fmap(x.astype(np.float32))
    assert single.dtype == np.float32 and np.all(np.isfinite(single))
    images = np.random.default_rng(0).standard_normal((3, 8, 8, 1))
    cnn = features.myrtle("relu", 5, m=32, key=jax.random.PRNGKey(0))
    out = cnn(images, get="nngp")
    assert out.shape == (3, 32) and np.all(np.isfinite(out))
    assert len(cnn.degrees) == 4 and all(1 <= p <= 16 for p in cnn.degrees)


@pytest.mark.parametrize("network", ["fc", "conv"])
def test_apply_in_chunks_equals_all_rows_at_once(monkeypatch, network):
    """Rows are independent, so mapping them in chunks (7 rows one by one, and in chunks of
    3, the last one padded with zero rows) must give each row's own features."""
    from dualcalc.features import feature_map

    if network == "fc":
        fmap, x = features.fc("tanh", 1, m=32, key=0, b_std=0.1, degree=3), points(n=7)
    else:
        net = nn.serial(nn.Conv(8, (3, 3), padding="SAME"), nn.Activation("gelu"), nn.Flatten())
        fmap = features.sketch(net, m=24, key=0, degree=3)
        x = np.random.default_rng(2).standard_normal((7, 4, 4, 2))

    def chunked(elements: int):
        monkeypatch.setattr(
            feature_map, "CHUNK_ELEMENTS", {"cpu": elements, "accelerator": elements}
        )
        fmap._chunks.clear()
        return fmap.chunk_rows(params, x), jax.jit(fmap.apply)(params, x)

    with jax.enable_x64(True):
        params = fmap.draw(jax.random.PRNGKey(4), x.shape[1:], x.dtype)
        rows, whole = chunked(10**9)
        assert rows >= len(x)
        widest = 10**9 // rows  # elements of the widest array one row creates
        results = [chunked(1), chunked(3 * widest)]
    assert [rows for rows, _ in results] == [1, 3]
    for _, out in results:
        np.testing.assert_allclose(out.nngp, whole.nngp, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out.ntk, whole.ntk, rtol=1e-12, atol=1e-14)


def test_zero_rows_and_user_expressions_are_finite():
    x = points(n=4)
    x[1] = 0.0
    fmap = features.fc("x*exp(-x**2/2) + 0.1*x", 2, m=32, key=jax.random.PRNGKey(0))
    assert all(np.all(np.isfinite(f)) for f in fmap(x, get=("nngp", "ntk")))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: features.fc("relu", 2, m=0, key=0), "m must be a positive integer"),
        (lambda: features.fc("relu", 2, m=8, key=0, degree=2.5), "degree must be"),
        (lambda: features.fc("relu", -1, m=8, key=0), "depth must be"),
        (lambda: features.fc("relu", 0, m=8, key=0, readout=False), "depth must be"),
        (lambda: features.fc("relu", 1, m=8, key=0, method="magic"), "method must be one of"),
        (lambda: features.fc("gelu", 1, m=8, key=0, method="arccos"), "ReLU only"),
        (lambda: features.sketch(object(), m=8, key=0), "dualcalc.nn network"),
        (lambda: features.fc("relu", 1, m=8, key="seed"), "key must be"),
    ],
)
def test_bad_construction_is_a_clear_error(call, message):
    with pytest.raises(DualcalcError, match=message):
        call()


def test_bad_inputs_are_clear_errors():
    fmap = features.fc("relu", 1, m=8, key=0)
    x = points(n=3)
    x[1, 2] = np.nan
    with pytest.raises(DualcalcError, match="non-finite"):
        fmap(x)
    with pytest.raises(DualcalcError, match="shape"):
        fmap(np.ones(5))
    with pytest.raises(DualcalcError, match="batch_size"):
        fmap(points(n=3), batch_size=0)
    with pytest.raises(DualcalcError, match="get must be"):
        fmap(points(n=3), get="cntk")
    cnn = features.myrtle(5, "relu", m=8, key=0)
    with pytest.raises(DualcalcError, match="spatial axes"):
        cnn(points(n=3))

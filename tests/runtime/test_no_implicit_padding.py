"""No window op that dualcalc compiles relies on XLA's implicit zero padding.

XLA's CPU code for a float64 convolution with padding reads one element before the start of
its input buffer on AVX-512 machines (an unmasked vector load); whether that address is
mapped depends on where the buffer lands, so a suite can pass by luck of memory layout. Two
guards that hold on every machine:

- structural: the lowered StableHLO and the compiled HLO of Conv / AvgPool networks
  (kernel_fn and apply_fn, float32 and float64) contain no convolution or reduce-window with
  non-zero padding, so the protection cannot silently regress where AVX-512 is absent;
- behavioural: the inputs of dualcalc's own convolution paths are placed right after a
  ``PROT_NONE`` guard page (numpy over an mmap, passed zero-copy to JAX), so any read before
  the buffer faults at once; run in a subprocess, which must exit 0.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dualcalc import nn
from dualcalc.runtime.kernel_fn import evaluate

#: compiled HLO: `convolution(...), window={size=3x3 pad=1_1x1_1}` / `reduce-window(...)`
HLO_WINDOW = re.compile(r"(convolution|reduce-window)\(.*?window=\{([^}]*)\}")
#: StableHLO: `stablehlo.convolution ... pad = [[1, 1], [1, 1]]`
STABLEHLO_CONV_PAD = re.compile(r"stablehlo\.convolution.*?pad = (\[\[[^a-z]*?\]\])")
#: StableHLO: `"stablehlo.reduce_window"(...) <{padding = dense<...>`
STABLEHLO_WINDOW_PAD = re.compile(r"reduce_window.*?padding = dense<([^>]*)>")


def padded_window_ops(lowered_text: str, compiled_text: str) -> list[str]:
    """Window ops of a lowered / compiled program that pad implicitly (should be none)."""
    found = []
    for op, window in HLO_WINDOW.findall(compiled_text):
        pad = re.search(r"pad=(\S+)", window)
        if pad and re.search(r"[1-9]", pad.group(1)):
            found.append(f"compiled {op}: window={{{window}}}")
    for pad in STABLEHLO_CONV_PAD.findall(lowered_text):
        if re.search(r"[1-9]", pad):
            found.append(f"stablehlo convolution pad = {pad}")
    for pad in STABLEHLO_WINDOW_PAD.findall(lowered_text):
        if re.search(r"[1-9]", pad):
            found.append(f"stablehlo reduce_window padding = dense<{pad}>")
    return found


def params_as(params, x):
    """Network parameters in the dtype of the inputs."""
    import jax

    return jax.tree.map(lambda p: p.astype(x.dtype), params)


def window_op_count(compiled_text: str) -> int:
    return len(HLO_WINDOW.findall(compiled_text))


NETWORKS = {
    "conv_same_relu": lambda: nn.serial(
        nn.Conv(8, (3, 3), padding="SAME"), nn.Activation("relu"), nn.Flatten(), nn.Dense(1)
    ),
    "conv_strided_avgpool_same": lambda: nn.serial(
        nn.Conv(8, (3, 2), strides=(2, 1), padding="SAME", b_std=0.1),
        nn.Activation("gelu"),
        nn.AvgPool((3, 3), strides=(2, 2), padding="SAME"),
        nn.GlobalAvgPool(),
        nn.Dense(1),
    ),
    "myrtle5": lambda: nn.myrtle(5, "relu", channels=8),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_compiled_networks_have_no_padded_window_ops(name, dtype):
    import jax

    init_fn, apply_fn, kernel_fn = NETWORKS[name]()
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 2)).astype(dtype)
    programs = {
        "kernel_fn": (
            jax.jit(functools.partial(evaluate, kernel_fn.transform, ("nngp", "ntk"))),
            (x, x[:2], np.bool_(False)),
        ),
        "apply_fn": (
            jax.jit(apply_fn),
            (params_as(init_fn(jax.random.PRNGKey(0), x.shape)[1], x), x),
        ),
    }
    for part, (fn, args) in programs.items():
        lowered = fn.lower(*args)
        compiled_text = lowered.compile().as_text()
        assert window_op_count(compiled_text) > 0, f"{name} {part}: no window op compiled"
        bad = padded_window_ops(lowered.as_text(), compiled_text)
        assert not bad, f"{name} {part} ({np.dtype(dtype).name}) pads implicitly: {bad}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["polysketch", "random"])
def test_compiled_feature_maps_have_no_padded_window_ops(method, dtype):
    """The sketched CNTK features (a convolution as the direct sum of neighbouring pixels,
    average pooling) compile without implicit padding too."""
    import jax

    from dualcalc import features

    net = nn.serial(
        nn.Conv(8, (3, 3), padding="SAME"),
        nn.Activation("relu"),
        nn.AvgPool((2, 2), strides=(2, 2), padding="SAME"),
        nn.Conv(8, (3, 3), padding="SAME"),
        nn.Activation("relu"),
        nn.GlobalAvgPool(),
    )
    feature_map = features.sketch(net, m=64, key=jax.random.PRNGKey(0), method=method)
    x = np.random.default_rng(0).standard_normal((3, 7, 7, 2)).astype(dtype)
    params = feature_map.params(x.shape[1:], x.dtype)
    lowered = jax.jit(feature_map.apply).lower(params, x)
    bad = padded_window_ops(lowered.as_text(), lowered.compile().as_text())
    assert not bad, f"{method} features ({np.dtype(dtype).name}) pad implicitly: {bad}"


def test_the_structural_check_sees_implicit_padding():
    """The parser above recognises the padded form it guards against (both text formats)."""
    import jax
    from jax import lax

    def padded_conv(x):
        return lax.conv_general_dilated(x, np.ones((1, 1, 3, 3)), (1, 1), "SAME")

    def padded_pool(x):
        return lax.reduce_window(x, 0.0, lax.add, (1, 1, 3, 3), (1, 1, 1, 1), "SAME")

    x = np.ones((2, 1, 6, 6))
    for fn in (padded_conv, padded_pool):
        lowered = jax.jit(fn).lower(x)
        assert padded_window_ops(lowered.as_text(), lowered.compile().as_text())


GUARD_PAGE_SCRIPT = textwrap.dedent(
    """
    import ctypes, mmap, sys
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from dualcalc import nn
    from dualcalc.runtime import spatial

    PAGE = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    KEEP = []

    def after_guard_page(values):
        '''A zero-copy JAX array whose buffer starts right after an unreadable page.'''
        values = np.ascontiguousarray(values)
        size = PAGE + -(-values.nbytes // PAGE) * PAGE
        buf = mmap.mmap(-1, size, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        arr = np.frombuffer(buf, values.dtype, values.size, offset=PAGE).reshape(values.shape)
        arr[...] = values
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        assert libc.mprotect(base, PAGE, 0) == 0, "mprotect failed"
        device = jax.device_put(arr)
        assert device.unsafe_buffer_pointer() == arr.ctypes.data, "device_put copied"
        KEEP.append((buf, arr, device))
        return device

    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 8, 8, 1))
    for name, layer in [
        ("Conv.apply_fn", nn.Conv(1, (3, 3), padding="SAME")),
        ("Conv.apply_fn", nn.Conv(4, (3, 3), strides=(2, 2), padding="SAME")),
        ("AvgPool.apply_fn", nn.AvgPool((3, 3), strides=(1, 1), padding="SAME")),
    ]:
        print(name, flush=True)
        _, params = layer.init_fn(jax.random.PRNGKey(0), images.shape)
        out = jax.jit(layer.apply_fn)(params, after_guard_page(images))
        assert np.all(np.isfinite(np.asarray(out)))
    for name, op in [("conv_mean", spatial.conv_mean), ("avg_pool", spatial.avg_pool)]:
        print(name, flush=True)
        for k in (1, 2):  # (n, s, s') and (n, s1, s1', s2, s2') covariances
            pairs = rng.standard_normal((6,) + (8,) * 2 * k)
            windows = [spatial.axis_window(8, 3, 1, "SAME")] * k
            out = jax.jit(lambda a: op(a, windows))(after_guard_page(pairs))
            assert np.all(np.isfinite(np.asarray(out)))
    print("features", flush=True)
    from dualcalc import features
    net = nn.serial(nn.Conv(4, (3, 3), padding="SAME"), nn.Activation("relu"), nn.GlobalAvgPool())
    for method in ("polysketch", "random"):
        feature_map = features.sketch(net, m=32, key=jax.random.PRNGKey(1), method=method)
        params = feature_map.params(images.shape[1:], images.dtype)
        out = jax.jit(feature_map.apply)(params, after_guard_page(images))
        assert all(np.all(np.isfinite(np.asarray(f))) for f in out)
    print("kernel_fn", flush=True)  # the reported network: XLA's own buffers, its own layout
    _, _, kernel_fn = nn.serial(
        nn.Conv(64, (3, 3), padding="SAME"), nn.Activation("relu"), nn.Flatten(), nn.Dense(1)
    )
    a, b = rng.standard_normal((2, 8, 8, 1)), rng.standard_normal((5, 8, 8, 1))
    assert np.all(np.isfinite(kernel_fn(a, b, ("nngp", "ntk"))))
    print("guarded window ops ok")
    """
)


def test_window_ops_never_read_before_their_input_buffer():
    result = subprocess.run(
        [sys.executable, "-c", GUARD_PAGE_SCRIPT], capture_output=True, text=True, timeout=300
    )
    last = result.stdout.strip().splitlines()[-1:] or ["(start)"]
    assert result.returncode == 0, (
        f"exit {result.returncode} (-11: segmentation fault) in {last[0]}\n{result.stderr[-2000:]}"
    )
    assert "guarded window ops ok" in result.stdout

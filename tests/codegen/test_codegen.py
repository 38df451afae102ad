"""Generated modules: values against the quadrature oracle, JAX transforms, float32 edges,
deterministic bytes and the printer's contract."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from dualcalc.codegen.manifest import read_index, sha256_hex
from dualcalc.codegen.printer import KernelPrinter, prepare
from dualcalc.codegen.slug import language_text
from dualcalc.compiler import render_module, write_module
from dualcalc.compiler.compile import derive
from dualcalc.compiler.execute import load_source
from dualcalc.derivation import quadrature as quad
from dualcalc.errors import DerivationError
from dualcalc.expression.activation import lambdify_numpy
from dualcalc.expression.parser import parse
from dualcalc.expression.symbols import Q1, Q2, C, X

REPO = Path(__file__).resolve().parents[2]

#: Closed-form activations checked against quadrature (continuous ones: K and K').
CLOSED = ["relu", "gelu", "erf", "sin", "relu(x) + 0.5*sin(x)", "x*exp(-x**2/2)"]
#: Activations whose modules must be finite with finite gradients at the domain edges.
EDGE = ["relu", "gelu", "erf", "abs", "step", "gaussian", "relu(x) + 0.5*sin(x)", "tanh"]

#: Oracle points: (q1, q2, rho) with q in [0.05, 20], |rho| <= 0.99.
POINTS = [(1.0, 1.0, 0.5), (0.05, 20.0, -0.9), (3.0, 0.4, 0.99), (7.0, 7.0, -0.3), (0.2, 2.0, 0.0)]


@functools.cache
def module_of(text: str):
    """The generated module of an activation, built in memory from render_module."""
    return _in_memory(render_module(derive(text)), text)


@functools.cache
def activation_module_of(text: str):
    """A module for activation()/dactivation() checks only (no derivation engine involved)."""
    stub = SimpleNamespace(
        activation=parse(text),
        closed_form=False,
        nngp=None,
        dnngp=None,
        derivative_is_distribution=False,
        steps=(),
        residual=None,
        hermite_degree=8,
    )
    return _in_memory(render_module(stub), text)


def _in_memory(source: str, text: str):
    data = source.encode()
    return load_source(f"test_{sha256_hex(data)[:8]}", data, f"<{text}>", "")


# -- values against the independent oracle --------------------------------------------------


@pytest.mark.parametrize("text", CLOSED)
def test_closed_form_module_matches_quadrature(text):
    act, module = parse(text), module_of(text)
    assert module.CLOSED_FORM and module.EXPRESSION == act.text
    for q1, q2, rho in POINTS:
        c = rho * np.sqrt(q1 * q2)
        k_err = abs(float(module.nngp(q1, q2, c)) - quad.dual_kernel_oracle(act, q1, q2, c))
        assert k_err / quad.kernel_scale(act, q1, q2) < 1e-10, (q1, q2, rho)
        dk_err = abs(float(module.dnngp(q1, q2, c)) - quad.dual_dkernel_oracle(act, q1, q2, c))
        assert dk_err / quad.dkernel_scale(act, q1, q2) < 1e-10, (q1, q2, rho)


def test_step_module_matches_quadrature_and_refuses_delta():
    act, module = parse("step"), module_of("step")
    for q1, q2, rho in POINTS:
        c = rho * np.sqrt(q1 * q2)
        err = abs(float(module.nngp(q1, q2, c)) - quad.dual_kernel_oracle(act, q1, q2, c))
        assert err / quad.kernel_scale(act, q1, q2) < 1e-10
    assert module.DERIVATIVE_IS_DISTRIBUTION
    with pytest.raises(ValueError, match="Dirac delta"):  # the module imports no dualcalc
        module.dnngp(1.0, 1.0, 0.5)


def test_hermite_route_module_matches_quadrature():
    pytest.importorskip("dualcalc.runtime._support.hermite")
    act, module = parse("tanh"), module_of("tanh")
    assert not module.CLOSED_FORM
    for q1, q2, rho in POINTS[:3]:
        c = rho * np.sqrt(q1 * q2)
        k_err = abs(float(module.nngp(q1, q2, c)) - quad.dual_kernel_oracle(act, q1, q2, c))
        assert k_err / quad.kernel_scale(act, q1, q2) < 1e-8, (q1, q2, rho)
        dk_err = abs(float(module.dnngp(q1, q2, c)) - quad.dual_dkernel_oracle(act, q1, q2, c))
        assert dk_err / quad.dkernel_scale(act, q1, q2) < 1e-8, (q1, q2, rho)


@pytest.mark.parametrize("text", ["relu", "gelu", "gaussian"])
def test_diagonal_antidiagonal_and_zero_norm_limits(text):
    """K(q, q, +-q) = E[s(u) s(+-u)], same for K'; K(0, q, c) = s(0) E[s(v)] (1-D quadrature)."""
    act, module = parse(text), module_of(text)
    s, ds = act.numpy, lambdify_numpy(act.derivative)
    for q in (0.1, 1.0, 9.0):
        for sign in (1.0, -1.0):
            k = quad.gaussian_expectation(lambda x, t=sign: s(x) * s(t * x), q, act.kinks)
            dk = quad.gaussian_expectation(lambda x, t=sign: ds(x) * ds(t * x), q, act.kinks)
            scale = quad.kernel_scale(act, q, q)
            assert abs(float(module.nngp(q, q, sign * q)) - k) < 1e-12 * scale
            assert abs(float(module.dnngp(q, q, sign * q)) - dk) < 1e-10 * max(1.0, abs(dk))
        mean = quad.gaussian_expectation(s, q, act.kinks)
        limit = float(s(np.array(0.0))) * mean
        assert abs(float(module.nngp(0.0, q, 0.0)) - limit) < 1e-12 * max(1.0, abs(limit))


# -- activation and its derivative ----------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["relu", "elu", "selu", "softplus", "silu", "sigmoid", "mish", "hardtanh", "sign"]
)
def test_activation_matches_canonical_expression(text):
    act, module = parse(text), activation_module_of(text)
    x = np.array([-7.5, -2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.5, 6.5])
    value = np.asarray(module.activation(x))
    np.testing.assert_allclose(value, act.numpy(x), rtol=1e-13, atol=1e-15)
    slope = lambdify_numpy(act.derivative)
    smooth = ~np.isin(x, act.kinks)
    np.testing.assert_allclose(
        np.asarray(module.dactivation(x))[smooth], slope(x)[smooth], rtol=1e-12, atol=1e-15
    )
    grads = jax.vmap(jax.grad(module.activation))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grads)[smooth], slope(x)[smooth], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("text", ["elu", "softplus", "silu", "sigmoid", "mish", "softsign"])
def test_activation_finite_far_out(text, dtype):
    """Overflow-prone pieces (exp(x) of ELU's left piece, softplus) stay finite at |x| = 1e4."""
    module = activation_module_of(text)
    x = jnp.asarray([-1e4, -100.0, 100.0, 1e4], dtype)
    for fn in (module.activation, module.dactivation, jax.vmap(jax.grad(module.activation))):
        out = fn(x)
        assert out.dtype == dtype and bool(jnp.all(jnp.isfinite(out))), (fn, out)


# -- JAX transforms -------------------------------------------------------------------------


def test_jit_vmap_grad_agree_with_eager_and_price():
    module = module_of("gelu")
    q1 = jnp.linspace(0.1, 5.0, 7)
    q2 = jnp.linspace(3.0, 0.2, 7)
    c = jnp.linspace(-0.9, 0.9, 7) * jnp.sqrt(q1 * q2)
    eager = module.nngp(q1, q2, c)
    np.testing.assert_allclose(jax.jit(module.nngp)(q1, q2, c), eager, rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(module.nngp)(q1, q2, c), eager, rtol=1e-14)
    grad = jax.jit(jax.vmap(jax.grad(module.nngp, argnums=(0, 1, 2))))(q1, q2, c)
    # Price's theorem: dK/dc = K'.
    np.testing.assert_allclose(grad[2], module.dnngp(q1, q2, c), rtol=1e-13)
    # dK/dq1 against a central difference of the module itself.
    h = 1e-6
    fd = (module.nngp(q1 + h, q2, c) - module.nngp(q1 - h, q2, c)) / (2 * h)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-6, atol=1e-9)
    second = jax.jit(jax.grad(jax.grad(module.nngp, argnums=2), argnums=2))(1.0, 1.0, 0.3)
    assert float(second) == pytest.approx(float(jax.grad(module.dnngp, argnums=2)(1.0, 1.0, 0.3)))


def test_broadcasting_and_dtype():
    module = module_of("relu")
    out = module.nngp(1.0, jnp.ones((3, 1)), jnp.zeros((1, 4)))
    assert out.shape == (3, 4) and out.dtype == jnp.float64
    out32 = module.nngp(jnp.float32(1.0), jnp.float32(2.0), jnp.float32(0.5))
    assert out32.dtype == jnp.float32
    assert module.nngp(1, 1, 0).dtype == jnp.float64


# -- float32 / float64 domain edges -----------------------------------------------------------

EDGE_POINTS = [
    (1.0, 1.0, 1.0),  # rho = +1
    (2.0, 0.5, -1.0),  # rho = -1
    (3.0, 3.0, 3.0000001),  # slightly outside: clipped
    (0.0, 1.0, 0.0),  # zero-norm input
    (0.0, 0.0, 0.0),  # both zero
    (1e-30, 2.0, 0.0),
    (1e4, 1e4, 1e4),  # large q at rho = 1
    (1e4, 1e4, -3e3),
    (1e4, 1e-3, 0.5),
]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("text", EDGE)
def test_finite_values_and_gradients_at_domain_edges(text, dtype):
    module = module_of(text)
    fns = [module.nngp] + ([] if module.DERIVATIVE_IS_DISTRIBUTION else [module.dnngp])
    for fn in fns:
        grad = jax.jit(jax.grad(fn, argnums=(0, 1, 2)))
        for point in EDGE_POINTS:
            args = [jnp.asarray(v, dtype) for v in point]
            value = fn(*args)
            assert value.dtype == dtype and bool(jnp.isfinite(value)), (fn, point, value)
            assert all(bool(jnp.isfinite(g)) for g in grad(*args)), (fn, point, grad(*args))


@pytest.mark.parametrize("text", ["relu", "gelu", "erf", "abs"])
def test_values_and_gradient_at_rho_one_are_the_limits(text):
    """At rho = +-1 (v = +-sqrt(q2/q1) u): K = E[s(u) s(v)] and dK/dc = K' = E[s'(u) s'(v)]."""
    act, module = parse(text), module_of(text)
    s, ds = act.numpy, lambdify_numpy(act.derivative)
    for q1, q2, sign in [(1.0, 1.0, 1.0), (2.0, 0.5, -1.0), (0.3, 5.0, 1.0)]:
        c, ratio = sign * np.sqrt(q1 * q2), sign * np.sqrt(q2 / q1)
        k = quad.gaussian_expectation(lambda x, r=ratio: s(x) * s(r * x), q1, act.kinks)
        dk = quad.gaussian_expectation(lambda x, r=ratio: ds(x) * ds(r * x), q1, act.kinks)
        assert abs(float(module.nngp(q1, q2, c)) - k) < 1e-13 * quad.kernel_scale(act, q1, q2)
        grad_c = float(jax.grad(module.nngp, argnums=2)(q1, q2, c))
        assert grad_c == pytest.approx(float(module.dnngp(q1, q2, c)), rel=1e-14, abs=1e-300)
        # K' of a kinked activation has slope ~ 1/sqrt(1 - rho^2): one ulp of c moves it by
        # ~sqrt(eps), so the limit is met to 1e-7 there (to 1e-12 for smooth activations).
        tol = 1e-7 if act.kinks else 1e-12
        assert abs(grad_c - dk) < tol * quad.dkernel_scale(act, q1, q2)


def test_float32_agrees_with_float64():
    for text in ["relu", "gelu", "erf"]:
        module = module_of(text)
        q1, q2 = np.array([0.3, 1.0, 5.0, 2.0]), np.array([2.0, 1.0, 0.7, 2.0])
        c = np.array([-0.5, 0.999, 1.2, 2.0])
        wide = np.asarray(module.nngp(q1, q2, c))
        narrow = np.asarray(module.nngp(*(v.astype(np.float32) for v in (q1, q2, c))))
        np.testing.assert_allclose(narrow, wide, rtol=2e-6, atol=1e-6)


# -- determinism and the module contract ------------------------------------------------------


def test_render_is_byte_identical_across_processes(tmp_path):
    texts = ["gelu"]
    here = [render_module(derive(t)) for t in texts]
    script = textwrap.dedent(
        f"""
        import sys
        from dualcalc.compiler import render_module
        from dualcalc.compiler.compile import derive
        for i, t in enumerate({texts!r}):
            open(sys.argv[1] + f"/{{i}}.py", "w").write(render_module(derive(t)))
        """
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env)
    for i, source in enumerate(here):
        assert (tmp_path / f"{i}.py").read_text() == source


def test_generated_module_imports_without_sympy(tmp_path):
    path = write_module(derive("gelu"), tmp_path)
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(path.parent.parent)!r})
        mod = importlib.import_module({path.parent.name + "." + path.stem!r})
        import jax
        print(float(jax.jit(mod.nngp)(1.0, 1.0, 0.5)))
        assert "sympy" not in sys.modules, "sympy imported"
        assert not any(m == "dualcalc" or m.startswith("dualcalc.") for m in sys.modules)
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(0.227294915021992, rel=1e-6)


def test_write_module_records_index_entry(tmp_path):
    derivation = derive("gelu")
    path = write_module(derivation, tmp_path)
    assert path == tmp_path / "gelu.py"
    entry = read_index(tmp_path)["gelu"]
    assert entry.sha256 == sha256_hex(path.read_bytes())
    assert entry.expression == derivation.activation.text and entry.closed_form
    assert entry.verified_to == 1e-10 and derivation.residual < 1e-10
    assert "arcsin" in entry.latex["nngp"] or "asin" in entry.latex["nngp"]
    assert len(entry.latex["steps"]) == len(derivation.steps)
    before = (tmp_path / "index.json").read_bytes()
    write_module(derivation, tmp_path)
    assert (tmp_path / "index.json").read_bytes() == before


def test_slugs_and_bytes_are_keyed_by_meaning_not_spelling(tmp_path):
    p1 = write_module(derive("x*exp(-x**2/2)"), tmp_path)
    first = p1.read_bytes()
    p2 = write_module(derive("exp(-x**2/2)*x"), tmp_path)
    assert p1 == p2 and p1.stem.startswith("x_exp_x_2_2_") and p2.read_bytes() == first
    relu = write_module(derive("relu"), tmp_path).read_bytes()
    spelled = write_module(derive("max(x, 0)"), tmp_path)
    assert spelled.name == "relu.py" and spelled.read_bytes() == relu
    p3 = write_module(derive("leaky_relu(x, 0.2)"), tmp_path)
    assert p3.stem.isidentifier() and p3.stem != "leaky_relu"
    assert read_index(tmp_path)[p3.stem].name == "4*x*step(x)/5 + x/5"  # parseable, canonical


@pytest.mark.parametrize(
    "text", ["relu(x) + 0.5*sin(x)", "clip(x, -2, 1.5)", "exp(x)*e", "abs(x) - 0.3", "elu"]
)
def test_language_text_parses_back_to_the_same_meaning(text):
    act = parse(text)
    assert parse(language_text(act.expr)).text == act.text


# -- printer ----------------------------------------------------------------------------------


def test_printer_guards_and_literals():
    printer = KernelPrinter()
    code = printer.doprint(sp.asin(C / sp.sqrt(Q1 * Q2)) + sp.acos(C) + sp.sqrt(2) * sp.pi)
    assert "safe_arcsin(" in code and "safe_arccos(" in code and "safe_sqrt(" in code
    assert printer.usage.support == {"safe_arcsin", "safe_arccos", "safe_sqrt"}
    assert "4.442882938158366" in code  # sqrt(2) pi as a correctly rounded float
    assert printer.doprint(prepare(sp.log(1 + sp.exp(X)))) == "jnp.logaddexp(0.0, x)"
    assert printer.doprint(prepare(X / (1 + sp.exp(-X)))) == "x*jax.nn.sigmoid(x)"
    assert printer.doprint(sp.Rational(1, 3) * X) == "(1/3)*x"


def test_printer_maps_special_functions_and_refuses_unknown():
    from dualcalc.derivation.special import BivariateNormalCDF

    printer = KernelPrinter()
    code = printer.doprint(BivariateNormalCDF(Q1, Q2, C))
    assert code == "special.bvn_cdf(q1, q2, c)" and printer.usage.special == {"bvn_cdf"}
    with pytest.raises(DerivationError, match="besselj"):
        KernelPrinter().doprint(sp.besselj(1, X))


def test_forms_that_are_zero_over_zero_at_rho_one_get_nudged_values():
    """A printed form that is 0/0 at rho = +-1 (like ELU's erfc((c^2/sqrt(q1) - sqrt(q1) q2) /
    sqrt(q1 q2 - c^2))) is evaluated just inside the boundary and extrapolated to it (the
    nudged margins are chosen against the 1-D edge integrals); forms that are fine stay exact.
    Reference: relu's arc-cosine kernel, K = sqrt(q1 q2) / 2 at rho = 1 (Cho & Saul)."""
    root = sp.sqrt(Q1 * Q2 - C**2)
    theta = sp.acos(C / (sp.sqrt(Q1) * sp.sqrt(Q2)))
    relu_k = (root + (sp.pi - theta) * C) / (2 * sp.pi)
    # relu_k itself, with sqrt(q1 q2 - c^2) written as (sqrt(q1 q2) - c)(sqrt(q1 q2) + c) / root:
    # equal everywhere inside, 0/0 at rho = +-1
    product = sp.sqrt(Q1 * Q2)
    singular = relu_k - root / (2 * sp.pi) + (product - C) * (product + C) / (2 * sp.pi * root)
    relu_dk = (sp.pi - theta) / (2 * sp.pi)
    modules = {}
    for label, nngp, dnngp in [("exact", relu_k, relu_dk), ("nudged", singular, relu_dk)]:
        stub = SimpleNamespace(
            activation=parse("relu"),
            closed_form=True,
            nngp=nngp,
            dnngp=dnngp,
            derivative_is_distribution=False,
            steps=(),
            residual=None,
            hermite_degree=8,
        )
        source = render_module(stub)
        exact = "VALUE_MARGINS = (0.0, 0.0)" in source
        assert exact == (label == "exact"), label
        modules[label] = _in_memory(source, label)
    for q in (0.5, 3.0):
        assert float(modules["exact"].nngp(q, q, q)) == pytest.approx(q / 2, rel=1e-15)
        assert float(modules["exact"].nngp(q, 4 * q, 2 * q)) == pytest.approx(q, rel=1e-15)
        value = float(modules["nudged"].nngp(q, q, q))  # equal variances: the edge quadrature
        assert abs(value - q / 2) < 1e-13 * q
        value = float(modules["nudged"].nngp(q, 4 * q, 2 * q))  # collinear: extrapolated
        assert abs(value - q) < 1e-9 * q


def test_hermite_route_module_runs_without_sympy(tmp_path):
    path = write_module(derive("tanh"), tmp_path)
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(path.parent.parent)!r})
        mod = importlib.import_module({path.parent.name + "." + path.stem!r})
        import jax
        jax.config.update("jax_enable_x64", True)
        print(float(mod.nngp(1.0, 1.0, 0.5)))
        assert "sympy" not in sys.modules, "sympy imported"
        assert not any(m == "dualcalc" or m.startswith("dualcalc.") for m in sys.modules)
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    act = parse("tanh")
    expected = quad.dual_kernel_oracle(act, 1.0, 1.0, 0.5)
    assert abs(float(out.stdout) - expected) <= 1e-9 * quad.kernel_scale(act, 1.0, 1.0)

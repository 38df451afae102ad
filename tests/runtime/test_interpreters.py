"""Every spec type through every interpreter: one description, one rule per interpreter.

A network is a tree of specs (``dualcalc.runtime.specs``); the exact kernel, the finite
network (init / apply), the sketched features (polysketch and random) and the per-point
variances each interpret it with one rule per spec type. These tests

- check that each interpreter has a rule for every type in ``specs.SPEC_TYPES`` and that the
  sample networks below contain every type (a new spec without a rule or a sample fails);
- read the interpreters' sources and count the rules: each (interpreter, spec type) pair is
  registered exactly once, in the module that owns that interpreter's state;
- walk the sample networks through all interpreters (shapes agree, values finite);
- check the variance rule against an independent oracle: the NNGP diagonal K(x, x) of a fully
  connected network is the variance recursion at q = |x|^2 / d, and an activation's variance
  must equal the published closed forms E[relu^2] = q / 2 and E[erf^2] = 2/pi asin(2q/(1+2q)).
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np
import pytest
from nn_oracles import ErfDual, ReluDual

import dualcalc
from dualcalc import nn
from dualcalc.features import feature_map
from dualcalc.runtime import exact, finite, specs, variance
from dualcalc.runtime.elementwise import resolve

M = 16


def flat_net():
    return nn.serial(
        nn.Dense(6, 1.3, 0.2), nn.Activation("erf"), nn.Dense(5, 0.9, 0.1),
        nn.Activation("relu"), nn.Dense(3),
    )  # fmt: skip


def image_net():
    return nn.serial(
        nn.Conv(4, (2, 2), padding="SAME", W_std=1.2, b_std=0.1), nn.Activation("relu"),
        nn.AvgPool((2, 2)), nn.Conv(3, (3, 3), padding="VALID"), nn.Activation("erf"),
        nn.serial(nn.Flatten(), nn.Dense(2)),
    )  # fmt: skip


def pooled_net():
    return nn.serial(nn.Conv(3, (3, 3)), nn.Activation("relu"), nn.GlobalAvgPool())


def branched_net():
    """A residual block, LayerNorm over channels and rows, and a concatenation, on images."""
    main = nn.serial(nn.Activation("relu"), nn.Conv(4, (3, 3), W_std=1.1, b_std=0.1))
    return nn.serial(
        nn.Conv(4, (2, 2), W_std=1.2), nn.FanOut(2), nn.parallel(main, nn.Identity()),
        nn.FanInSum(), nn.LayerNorm(axis=(1, -1)), nn.Activation("erf"), nn.FanOut(2),
        nn.parallel(nn.Conv(2, (1, 1)), nn.Conv(3, (1, 1))), nn.FanInConcat(), nn.Flatten(),
    )  # fmt: skip


SAMPLES = {
    "flat": (flat_net, (3, 4)),
    "image": (image_net, (3, 6, 6, 2)),
    "pooled": (pooled_net, (3, 4, 4, 1)),
    "branched": (branched_net, (3, 4, 3, 2)),
}


def types_in(spec) -> set[type]:
    found = {type(spec)}
    for child in getattr(spec, "children", ()):
        found |= types_in(child)
    return found


#: interpreter -> (module defining it, its rule functions, the types it must cover)
FEATURE_TYPES = tuple(t for t in specs.SPEC_TYPES if t is not specs.ActivationSpec)
INTERPRETERS = {
    "exact": (exact, (exact.kernel_rule,), specs.SPEC_TYPES),
    "finite": (finite, (finite.init_rule, finite.apply_rule), specs.SPEC_TYPES),
    "variance": (variance, (variance.variance_rule,), specs.SPEC_TYPES),
    "features": (
        feature_map,
        (feature_map.draw_rule, feature_map.feature_rule),
        FEATURE_TYPES + (feature_map.SketchedActivation,),
    ),
}


def test_the_samples_cover_every_spec_type():
    covered = set()
    for build, _ in SAMPLES.values():
        covered |= types_in(build().kernel_fn.spec)
    assert covered == set(specs.SPEC_TYPES)


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
def test_every_interpreter_has_a_rule_for_every_spec_type(name):
    _, rules, types = INTERPRETERS[name]
    for rule in rules:
        missing = [t.__name__ for t in types if rule.dispatch(t) is rule.dispatch(object)]
        assert not missing, f"{name}: {rule.__name__} has no rule for {missing}"


def registered_types(module) -> list[tuple[str, str]]:
    """(rule name, spec type name) of every ``@rule.register`` in a module's source."""
    found = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if not (isinstance(target, ast.Attribute) and target.attr == "register"):
                continue
            rule = target.value.id
            if isinstance(decorator, ast.Call):  # @rule.register(SpecType)
                found.append((rule, decorator.args[0].id))
            else:  # @rule.register with the type as the first annotation
                found.append((rule, ast.unparse(node.args.args[0].annotation)))
    return found


@pytest.mark.parametrize("name", sorted(INTERPRETERS))
def test_each_layer_rule_is_defined_once_in_its_interpreter(name):
    module, rules, types = INTERPRETERS[name]
    found = registered_types(module)
    for rule in rules:
        names = [t for r, t in found if r == rule.__name__]
        for spec_type in types:
            count = sum(spec_type.__name__ in n.split(" | ") for n in names)
            assert count == 1, f"{rule.__name__}: {count} rules for {spec_type.__name__}"


def test_no_other_module_registers_layer_rules():
    """The layer rules live in the four interpreter modules only (no second recursion)."""
    owners = {Path(inspect.getsourcefile(m)).resolve() for m, _, _ in INTERPRETERS.values()}
    spec_names = {t.__name__ for t in specs.SPEC_TYPES}
    root = Path(dualcalc.__file__).resolve().parent
    for path in root.rglob("*.py"):
        if path.resolve() in owners or path.name == "specs.py":
            continue
        text = path.read_text()
        for spec_name in spec_names:
            assert f"spec: {spec_name}" not in text, f"{path.name} has a rule for {spec_name}"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_sample_walks_through_every_interpreter(sample):
    build, shape = SAMPLES[sample]
    init_fn, apply_fn, kernel_fn = build()
    x = np.random.default_rng(0).standard_normal(shape)
    out_shape, params = init_fn(jax.random.PRNGKey(0), x.shape)
    y = apply_fn(params, x)
    assert y.shape == out_shape and np.all(np.isfinite(y))
    nngp, ntk = kernel_fn(x, get=("nngp", "ntk"))
    assert nngp.shape == ntk.shape == (len(x), len(x))
    assert np.all(np.isfinite(nngp)) and np.all(np.isfinite(ntk))
    for method in ("polysketch", "random"):
        fmap = dualcalc.features.sketch(kernel_fn, m=M, key=jax.random.PRNGKey(1), method=method)
        phi, theta = fmap(x, get=("nngp", "ntk"))
        assert phi.shape == theta.shape == (len(x), M)
        assert np.all(np.isfinite(phi)) and np.all(np.isfinite(theta))
    q = variance.variances(kernel_fn.spec, [0.5, 2.0])
    assert q.shape == (2,) and np.all(np.isfinite(q)) and np.all(q > 0)


def test_variances_equal_the_exact_kernel_diagonal_of_a_dense_network():
    """Dense -> erf -> Dense -> relu -> Dense at q = |x|^2 / d: K(x, x) of kernel_fn."""
    x = np.random.default_rng(1).standard_normal((4, 5)) * np.array([[0.3], [1.0], [2.0], [4.0]])
    kernel_fn = nn.serial(
        nn.Dense(6, 1.3, 0.2), nn.Activation(ErfDual), nn.Dense(5, 0.9, 0.1),
        nn.Activation(ReluDual), nn.Dense(3),
    ).kernel_fn  # fmt: skip
    q0 = np.sum(x * x, axis=1) / x.shape[1]
    expected = np.diag(kernel_fn(x, get="nngp"))
    np.testing.assert_allclose(variance.variances(kernel_fn.spec, q0), expected, rtol=1e-10)


def test_activation_variances_against_published_closed_forms():
    """E[relu(sqrt(q) z)^2] = q / 2 (Cho & Saul); E[erf(sqrt(q) z)^2] = 2/pi asin(2q/(1+2q))."""
    q = np.array([0.01, 0.5, 3.0, 40.0])
    relu = variance.variances(specs.ActivationSpec(resolve("relu")), q)
    np.testing.assert_allclose(relu, q / 2, rtol=1e-12)
    erf = variance.variances(specs.ActivationSpec(resolve("erf")), q)
    np.testing.assert_allclose(erf, 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)), rtol=1e-12)


def test_runs_of_activations_are_fused_into_one_across_nested_serials(monkeypatch):
    """serial(serial(Dense, relu), erf, Dense): the planning interpreters see one activation,
    the composition of relu then erf, in that order."""
    from dualcalc.runtime import activation_runs

    def in_order(modules):  # a stand-in for the composition that records the order
        return replace(modules[-1], EXPRESSION=" then ".join(m.EXPRESSION for m in modules))

    monkeypatch.setattr(activation_runs, "compose", in_order)
    dense = specs.DenseSpec(3, 1.5, 0.1)
    inner = specs.SerialSpec((dense, specs.ActivationSpec(ReluDual)))
    tree = specs.SerialSpec((inner, specs.ActivationSpec(ErfDual), dense))
    fused = activation_runs.fuse_activations(tree)
    assert [type(c) for c in fused.children] == [
        specs.DenseSpec, specs.ActivationSpec, specs.DenseSpec
    ]
    assert fused.children[1].module.EXPRESSION == "x*Heaviside(x) then erf(x)"


def test_previous_spellings_warn_and_build_the_same_network():
    with pytest.warns(DeprecationWarning, match="myrtle"):
        old = nn.myrtle(5, "relu", channels=4)
    assert old.kernel_fn.spec == nn.myrtle("relu", 5, channels=4).kernel_fn.spec
    with pytest.warns(DeprecationWarning, match="integer key"):
        dualcalc.features.fc("relu", 1, m=8, key=0)


def test_fc_is_the_estimators_network():
    """features.fc / nn.fc: depth hidden (Dense, activation) pairs and a Dense readout, the
    network NeuralKernelRidge uses (learn.network.fc_network)."""
    from dualcalc.learn.network import fc_network

    expected = fc_network("gelu", 2, 1.5, 0.1).kernel_fn.spec
    built = dualcalc.features.fc(
        "gelu", 2, m=8, key=jax.random.PRNGKey(0), W_std=1.5, b_std=0.1
    ).kernel_fn.spec
    assert built == expected
    kinds = [type(s) for s in expected.children]
    assert kinds == [specs.DenseSpec, specs.ActivationSpec] * 2 + [specs.DenseSpec]
    hidden = nn.fc("gelu", 2, readout=False).kernel_fn.spec.children
    assert [type(s) for s in hidden] == [specs.DenseSpec, specs.ActivationSpec] * 2

"""The public API against the README's vocabulary table ("One vocabulary").

Walks ``__all__`` of every public module, every public class's public methods and
``__call__``, and checks each signature against the table:

- banned spellings (``kernel`` as a kernel selector, ``verbose``, ``seed``, ``progress_bar``,
  ...) appear only as deprecated aliases: default None and a docstring that says deprecated;
- ``get`` defaults to "ntk";
- where ``activation`` is the first parameter, ``depth`` is the second;
- in functions (and the ``__call__`` of kernel and feature maps) every parameter after the
  first two positional ones is keyword-only. Estimators are exempt (scikit-learn's
  constructor conventions); so are the ``dualcalc.sketch`` primitives, whose positional
  parameters are the key and the shapes of an optax-style ``init(key, d, m)`` or the operands
  of ``apply(params, x[, y])``, and ``gradient_descent_mse_ensemble``, whose first three are
  its data (Neural Tangents' ``kernel_fn, x_train, y_train``);
- a ``key`` parameter never has an integer default (keys are ``jax.random`` keys).

Layers keep Neural Tangents' stax signatures and ``kernel_fn(x1, x2, get)`` its three
positional arguments (the README's table says so). Known violations would be listed in
``KNOWN`` as ``xfail(strict=True)``; there are none.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from sklearn.base import BaseEstimator
from sklearn.gaussian_process.kernels import Kernel

PUBLIC_MODULES = (
    "dualcalc",
    "dualcalc.nn",
    "dualcalc.features",
    "dualcalc.sketch",
    "dualcalc.learn",
    "dualcalc.sklearn",
    "dualcalc.predict",
)
BANNED = ("kernel", "verbose", "seed", "progress_bar", "show_progress", "random_seed", "rng")
#: Functions whose leading positional parameters are data, by name: how many are allowed.
POSITIONAL_DATA = {
    "dualcalc.predict.gradient_descent_mse_ensemble": 3,
    "dualcalc.nn.KernelFn.__call__": 3,  # stax's kernel_fn(x1, x2, get)
    "dualcalc.features.FeatureMap.__call__": 2,  # feature_map(x, get), as kernel_fn
}
#: Modules of low-level primitives, exempt from the keyword-only rule (see the docstring).
PRIMITIVE_MODULES = ("dualcalc.sketch",)
#: Methods held to the keyword-only rule (the callables the README's examples call).
CALLED_METHODS = ("__call__",)

#: Layers keep Neural Tangents' stax signatures (``Dense(out_dim, W_std, b_std)``, ``Conv(out_chan,
#: filter_shape, strides, padding, ...)``) so that stax code ports unchanged (README table).
STAX_LAYERS = ("dualcalc.nn.Dense", "dualcalc.nn.Conv", "dualcalc.nn.AvgPool")
#: (rule, callable) pairs known to violate the table today, with the reason (none at present).
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Entry:
    """One public callable: its dotted name, signature, docstring and kind."""

    name: str
    signature: inspect.Signature
    doc: str
    is_estimator: bool
    is_method: bool

    def __str__(self) -> str:
        return self.name


def public_entries() -> list[Entry]:
    """Every public function, class constructor and public method of the public modules."""
    entries = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            dotted = f"{module_name}.{name}"
            if not inspect.isclass(obj):
                doc = obj.__doc__ or ""
                entries.append(Entry(dotted, inspect.signature(obj), doc, False, False))
                continue
            estimator = issubclass(obj, (BaseEstimator, Kernel))
            init_doc = obj.__doc__ or ""
            entries.append(Entry(dotted, inspect.signature(obj), init_doc, estimator, False))
            for method_name, method in vars(obj).items():
                public = not method_name.startswith("_") or method_name in CALLED_METHODS
                if public and inspect.isfunction(method):
                    signature = inspect.signature(method)
                    unbound = list(signature.parameters.values())[1:]  # without self
                    doc = (method.__doc__ or "") + init_doc
                    entry = Entry(
                        f"{dotted}.{method_name}", signature.replace(parameters=unbound), doc,
                        estimator, True,
                    )  # fmt: skip
                    entries.append(entry)
    return entries


ENTRIES = public_entries()


def cases(rule: str, applies: Any) -> list[Any]:
    """pytest params of the entries a rule applies to, the known violations marked xfail."""
    params = []
    for entry in ENTRIES:
        if not applies(entry):
            continue
        reason = KNOWN.get((rule, entry.name))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(entry, id=entry.name, marks=marks))
    return params


def test_the_walk_sees_every_public_module():
    modules = {entry.name.rsplit(".", 1)[0] for entry in ENTRIES if not entry.is_method}
    assert {"dualcalc", "dualcalc.nn", "dualcalc.features", "dualcalc.sketch"} <= modules
    assert {"dualcalc.sklearn", "dualcalc.predict"} <= modules
    assert len(ENTRIES) > 50
    for name in PUBLIC_MODULES:  # dualcalc.learn is a package of implementations: no names
        assert isinstance(getattr(importlib.import_module(name), "__all__", []), list)


@pytest.mark.parametrize("entry", cases("banned", lambda e: True))
def test_banned_names_appear_only_as_deprecated_aliases(entry):
    for name in BANNED:
        parameter = entry.signature.parameters.get(name)
        if parameter is None:
            continue
        assert parameter.default is None, f"{entry}: {name}= must default to None (an alias)"
        assert "deprecated" in entry.doc.lower(), f"{entry}: {name}= is not documented deprecated"


@pytest.mark.parametrize("entry", cases("get_default", lambda e: "get" in e.signature.parameters))
def test_get_defaults_to_ntk(entry):
    assert entry.signature.parameters["get"].default == "ntk"


def _builds_from_activation(entry: Entry) -> bool:
    """A builder: takes activation (among its first two) and depth."""
    names = list(entry.signature.parameters)
    return "activation" in names[:2] and "depth" in names and not entry.is_method


@pytest.mark.parametrize("entry", cases("depth_second", _builds_from_activation))
def test_depth_is_second_where_activation_is_first(entry):
    names = list(entry.signature.parameters)
    assert names[:2] == ["activation", "depth"], f"{entry}: first parameters {names[:2]}"


def _keyword_rule_applies(entry: Entry) -> bool:
    if entry.is_estimator or entry.name.startswith(PRIMITIVE_MODULES):
        return False
    if entry.name in STAX_LAYERS:
        return False
    if entry.is_method:
        return entry.name.rsplit(".", 1)[1] in CALLED_METHODS
    return not inspect.isclass(_resolve(entry.name))


def _resolve(dotted: str) -> Any:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("entry", cases("keyword_only", _keyword_rule_applies))
def test_arguments_after_the_first_two_are_keyword_only(entry):
    allowed = POSITIONAL_DATA.get(entry.name, 2)
    positional = [
        p.name
        for p in entry.signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert len(positional) <= allowed, f"{entry}: positional beyond {allowed}: {positional}"


@pytest.mark.parametrize("entry", cases("key_default", lambda e: "key" in e.signature.parameters))
def test_keys_have_no_integer_default(entry):
    default = entry.signature.parameters["key"].default
    assert not isinstance(default, int), f"{entry}: key defaults to the integer {default!r}"

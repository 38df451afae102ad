"""The dual protocol: every activation reaches the interpreters as one typed ``Dual``.

A module or class missing a required function is refused when the layer is built, with the
missing names in the message; optional functions are explicit fields (None when absent), so
no consumer probes attributes later; text and generated modules give the same Dual.
"""

from __future__ import annotations

import pytest
from nn_oracles import ErfDual, ReluDual

import dualcalc
from dualcalc import DualcalcError, nn
from dualcalc.runtime import specs
from dualcalc.runtime.dual import REQUIRED, Dual, as_dual


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_dual_missing_a_required_name_is_refused_at_build_naming_it(missing):
    attributes = {name: getattr(ReluDual, name) for name in REQUIRED if name != missing}
    incomplete = type("Incomplete", (), attributes)
    with pytest.raises(DualcalcError, match=f"Incomplete lacks {missing}"):
        nn.Activation(incomplete)
    with pytest.raises(DualcalcError, match=missing):
        specs.ActivationSpec(incomplete)


def test_a_non_callable_function_field_is_refused():
    broken = type("Broken", (), {**{n: getattr(ErfDual, n) for n in REQUIRED}, "nngp": 3.0})
    with pytest.raises(DualcalcError, match="Broken.nngp must be a function"):
        as_dual(broken)


def test_optional_fields_are_explicit_and_absent_ones_are_none():
    dual = as_dual(ReluDual)
    assert isinstance(dual, Dual) and dual.source is ReluDual
    assert dual.nngp is ReluDual.nngp and dual.dactivation is ReluDual.dactivation
    assert dual.nngp_edges is None and dual.feature_coefficients is None
    assert dual.KINKS == (0.0,) and dual.CLOSED_FORM is True
    assert not dual.native_edges
    assert as_dual(dual) is dual


def test_text_and_the_generated_module_give_the_same_dual():
    module = dualcalc.load("relu")
    from_text = nn.Activation("relu").kernel_fn.spec.module
    assert from_text == as_dual(module)
    assert from_text.native_edges and from_text.feature_coefficients is module.feature_coefficients
    assert from_text.KINKS == tuple(float(k) for k in module.KINKS)
    tanh = nn.Activation("tanh").kernel_fn.spec.module
    assert tanh.CLOSED_FORM is False and tanh.HERMITE_DEGREE == dualcalc.load("tanh").HERMITE_DEGREE


def test_specs_of_the_same_activation_are_equal_and_hashable():
    a, b = specs.ActivationSpec(ErfDual), specs.ActivationSpec(as_dual(ErfDual))
    assert a == b and hash(a) == hash(b)
    assert specs.ActivationSpec(ErfDual) != specs.ActivationSpec(ReluDual)

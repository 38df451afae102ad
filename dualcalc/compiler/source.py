"""The source text of a derivation's generated module (calibrate, then print; cached), and that
module executed in memory."""

from __future__ import annotations

import threading
import types
from typing import Any

from dualcalc.codegen.manifest import sha256_hex
from dualcalc.codegen.template import render
from dualcalc.compiler.calibrate import calibrate
from dualcalc.compiler.execute import load_source

_RENDERED: dict[tuple, str] = {}
_RENDERED_LOCK = threading.Lock()


def render_module(derivation: Any) -> str:
    """Source text of the generated module for a derivation (pure and deterministic; cached)."""
    key = _render_key(derivation)
    if key is None:
        return render(derivation, calibrate(derivation))
    with _RENDERED_LOCK:
        if key in _RENDERED:
            return _RENDERED[key]
    source = render(derivation, calibrate(derivation))
    with _RENDERED_LOCK:
        if len(_RENDERED) >= 256:
            _RENDERED.clear()
        return _RENDERED.setdefault(key, source)


def _render_key(derivation: Any) -> tuple | None:
    """What the source depends on, or None when the derivation is not hashable."""
    key = (
        derivation.activation.text,
        bool(derivation.closed_form),
        derivation.nngp,
        derivation.dnngp,
        bool(derivation.derivative_is_distribution),
        int(derivation.hermite_degree),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def in_memory(derivation: Any) -> types.ModuleType:
    """The generated module of a derivation, rendered and executed without touching disk."""
    source = render_module(derivation).encode("utf-8")
    digest = sha256_hex(source)
    slug = f"dualcalc_memory_{digest[:12]}"
    return load_source(slug, source, f"<dualcalc:{derivation.activation.text}>", digest)

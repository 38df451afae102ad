"""Names and file stems of generated modules, keyed by meaning (canonical text), not spelling.

A named activation called bare keeps its name (``gelu`` -> ``gelu.py``); any other spelling
of a catalogue activation takes that activation's name (``max(x, 0)`` -> ``relu``); anything
else is named by its canonical expression written back in the activation language
(``x*step(x) + sin(x)/2``) and stored under a readable stem of the canonical text plus the
first 10 hex digits of its sha256 (``x_exp_x_2_2_3f1c...``).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from dualcalc.expression.catalogue import CATALOGUE
from dualcalc.expression.parser import parse

#: Longest readable stem taken from the canonical text.
STEM_LENGTH = 32
HASH_DIGITS = 10


class LanguagePrinter(StrPrinter):
    """Prints a canonical expression back in dualcalc's activation language (parseable)."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "e"


def language_text(expr: sp.Expr) -> str:
    """Activation-language text of a canonical expression (parses back to the same meaning)."""
    return LanguagePrinter({"order": "lex"}).doprint(expr)


def canonical_name(activation: Any) -> str:
    """The spelling-independent display name of an activation (see the module docstring)."""
    name = str(activation.name)
    if name in CATALOGUE and not activation.params:
        return name
    named = _catalogue_by_text().get(activation.text)
    return named if named is not None else language_text(activation.expr)


def slug_of(activation: Any) -> str:
    """File stem (a Python identifier) of the generated module for an Activation."""
    name = canonical_name(activation)
    return name if name.isidentifier() else expression_slug(activation.text)


def expression_slug(text: str) -> str:
    """Readable, stable slug of a canonical expression text: stem + short sha256."""
    stem = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:STEM_LENGTH].rstrip("_")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    stem = stem or "expr"
    if not stem[0].isalpha():
        stem = "expr_" + stem
    return f"{stem}_{digest}"


@lru_cache(maxsize=1)
def _catalogue_by_text() -> dict[str, str]:
    """Canonical text -> the shortest (then alphabetically first) bare catalogue name."""
    found: dict[str, str] = {}
    for name in sorted(catalogue_names(), key=lambda n: (len(n), n)):
        found.setdefault(parse(name).text, name)
    return found


def catalogue_names() -> list[str]:
    """Named activations usable bare (every parameter has a default), sorted."""
    bare = (n for n, named in CATALOGUE.items() if all(p.default is not None for p in named.params))
    return sorted(bare)

"""``dualcalc list``: the named activations with their definitions."""

from __future__ import annotations

import argparse

import sympy as sp

from dualcalc.expression.catalogue import CATALOGUE, Named
from dualcalc.expression.parser import parse
from dualcalc.expression.symbols import X


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    p = sub.add_parser(
        "list",
        help="list the named activations",
        description="List every named activation with its signature, meaning and canonical form.",
    )
    p.set_defaults(run=run)


def _definition(named: Named) -> str:
    """Canonical form with default parameters, or the formula in the parameter names."""
    if named.formula is not None:
        return named.formula
    if all(p.default is not None for p in named.params):
        return parse(named.name).text
    symbols = [sp.Symbol(p.name, positive=True, integer=p.name == "k") for p in named.params]
    return sp.sstr(named.build(X, *symbols))


def run(args: argparse.Namespace) -> int:
    """Print one block per named activation."""
    width = max(len(n.signature) for n in CATALOGUE.values())
    for named in CATALOGUE.values():
        print(f"{named.signature:<{width}}  {named.description}")
        print(f"{'':<{width}}    = {_definition(named)}")
    return 0

"""``dualcalc list``: the named activations with their definitions."""

from __future__ import annotations

import argparse

import sympy as sp

from dualcalc.codegen.folders import search_directories
from dualcalc.codegen.manifest import read_index
from dualcalc.errors import DualcalcError
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


def _routes() -> dict[str, str]:
    """Name -> 'closed form' / 'Hermite' from the generated catalogues' indexes (if present)."""
    routes: dict[str, str] = {}
    for folder in reversed(search_directories()):  # the writable folder's entries win
        try:
            entries = read_index(folder)
        except DualcalcError:
            continue
        routes |= {e.name: "closed form" if e.closed_form else "Hermite" for e in entries.values()}
    return routes


def run(args: argparse.Namespace) -> int:
    """Print one block per named activation, with its route when the catalogue knows it."""
    width = max(len(n.signature) for n in CATALOGUE.values())
    routes = _routes()
    for named in CATALOGUE.values():
        route = routes.get(named.name, "")
        print(f"{named.signature:<{width}}  {route:<12} {named.description}")
        print(f"{'':<{width}}    = {_definition(named)}")
    return 0

"""The dual protocol: the one typed object every consumer of an activation's duals reads.

A generated module (``dualcalc.load``), or any object with the same attributes (a hand-written
class in the tests), becomes a ``Dual`` when a network layer is built (``ActivationSpec``):
the required functions must be there, or the layer is refused with a message naming what is
missing; the optional ones are explicit fields, None (or a stated default) when absent, so no
consumer probes attributes later. Field names are the generated modules' own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from dualcalc.errors import DualcalcError

#: Functions and constants every dual must have.
REQUIRED = ("EXPRESSION", "nngp", "dnngp", "activation")


@dataclass(frozen=True)
class Dual:
    """K(q1, q2, c) = E[s(u) s(v)] (``nngp``), K' = dK/dc (``dnngp``), s and s', and extras.

    Optional: ``dactivation`` (s'), ``nngp_edges`` / ``dnngp_edges`` (exact K, K' at
    rho = +-1 per variance), ``feature_coefficients(q, degree)`` (a_k(q), b_k(q)), ``hermite``
    (a_k(q)); constants ``KINKS`` (points where s' jumps), ``CLOSED_FORM`` (False: the Hermite
    route, with ``HERMITE_DEGREE`` terms), ``DERIVATIVE_IS_DISTRIBUTION`` (s jumps: no K').
    """

    EXPRESSION: str
    nngp: Callable[..., Any]
    dnngp: Callable[..., Any]
    activation: Callable[..., Any]
    dactivation: Callable[..., Any] | None = None
    nngp_edges: Callable[..., Any] | None = None
    dnngp_edges: Callable[..., Any] | None = None
    feature_coefficients: Callable[..., Any] | None = None
    hermite: Callable[..., Any] | None = None
    KINKS: tuple[float, ...] = ()
    CLOSED_FORM: bool = True
    HERMITE_DEGREE: int | None = None
    DERIVATIVE_IS_DISTRIBUTION: bool = False
    #: The module or class the dual was read from (not part of its identity).
    source: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def native_edges(self) -> bool:
        """Whether K and K' take their exact edge values (``nngp_edges``) themselves."""
        return self.nngp_edges is not None

    def __repr__(self) -> str:
        return f"Dual({self.EXPRESSION!r})"


def as_dual(obj: Any) -> Dual:
    """``obj`` as a ``Dual`` (a Dual as it is); refused if a required name is missing."""
    if isinstance(obj, Dual):
        return obj
    missing = [name for name in REQUIRED if not hasattr(obj, name)]
    if missing:
        raise DualcalcError(
            f"an activation must be text or a dual module (nngp, dnngp, activation, "
            f"EXPRESSION); {_name(obj)} lacks {', '.join(missing)}"
        )
    found = {f.name: getattr(obj, f.name) for f in fields(Dual) if hasattr(obj, f.name)}
    found["KINKS"] = tuple(float(k) for k in found.get("KINKS", ()))
    for name, value in found.items():
        if name in _FUNCTIONS and value is not None and not callable(value):
            raise DualcalcError(f"{_name(obj)}.{name} must be a function, got {value!r}")
    return Dual(**found, source=obj)


_FUNCTIONS = (
    "nngp",
    "dnngp",
    "activation",
    "dactivation",
    "nngp_edges",
    "dnngp_edges",
    "feature_coefficients",
    "hermite",
)


def _name(obj: Any) -> str:
    return getattr(obj, "__name__", type(obj).__name__)

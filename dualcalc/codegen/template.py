"""The generated-module template: a derivation -> the source text of one small JAX module.

Owns the layout of every file in ``generated/``: header docstring, imports of the support
package (``dualcalc/runtime/_support``, copied to ``generated/_support``), constants,
``activation`` / ``dactivation``, ``hermite`` (a_k(q) per variance), ``nngp`` / ``dnngp``
(printed closed form, or Mehler's series, behind the domain guards) and ``nngp_edges`` /
``dnngp_edges`` (the duals at rho = +-1 for equal variances: from the closed form where it is
exact there, else by 1-D quadrature, which ``nngp`` / ``dnngp`` then use on the edge).
Expressions are printed by ``KernelPrinter``; everything else is fixed text, so the output is
a pure, deterministic function of the derivation.
"""

from __future__ import annotations

import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import sympy as sp

from dualcalc.codegen.printer import SUPPORT_NAMES, KernelPrinter, prepare
from dualcalc.codegen.slug import canonical_name
from dualcalc.errors import DerivationError
from dualcalc.expression.canonical import kink_of
from dualcalc.expression.symbols import Q1, Q2, C

INDENT = "    "

HERMITE = '''

@functools.partial(jax.jit, static_argnames="degree")
def hermite(q, degree=HERMITE_DEGREE):
    """a_k(q) = E[s(sqrt(q) z) h_k(z)], k = 0..degree, h_k = He_k / sqrt(k!), z ~ N(0, 1)."""
    return coefficients(activation, q, degree, KINKS)


@functools.partial(jax.jit, static_argnames="degree")
def feature_coefficients(q, degree):
    """(a_k(q), b_k(q)), k = 0..degree: K = sum_k a_k(q1) a_k(q2) rho^k and
    K' = sum_k b_k(q1) b_k(q2) rho^k, b_k = sqrt(k + 1) a_(k+1) / sqrt(q) (s'(0) at q = 0)."""
    (q,) = as_float(q)
    a = hermite(q, degree + 1)
    slope0 = dactivation(jnp.zeros((), q.dtype))
    return a[..., :-1], derivative_coefficients(a, q, slope0)
'''

MEHLER = '''

def _nngp{suffix}(q1, q2, c):
    """Mehler: K = sum_k a_k(q1) a_k(q2) rho^k, per-variance coefficients."""
    rho = c / (jnp.sqrt(q1) * jnp.sqrt(q2))
    return mehler_nngp(hermite(q1), hermite(q2), rho)


def _dnngp{suffix}(q1, q2, c):
    """Mehler: K' = sum_k k a_k(q1) a_k(q2) rho^(k-1) / sqrt(q1 q2)."""
    rho = c / (jnp.sqrt(q1) * jnp.sqrt(q2))
    return mehler_dnngp(hermite(q1), hermite(q2), rho, q1, q2)
'''

#: Closed forms whose terms cancel or overflow at large variances (ELU's exp(q) erfc(...)) hand
#: over to Mehler's series beyond the variance their printed form was checked to hold at.
SERIES_FALLBACK = '''

def _nngp_or_series(q1, q2, c):
    """The closed form up to VARIANCE_LIMITS; Mehler's series beyond (or where not finite)."""
    return within_or(_nngp(q1, q2, c), _nngp_series, q1, q2, c, VARIANCE_LIMITS)


def _dnngp_or_series(q1, q2, c):
    """The same for K'."""
    return within_or(_dnngp(q1, q2, c), _dnngp_series, q1, q2, c, VARIANCE_LIMITS)
'''

#: The duals on the edge of their domain, by 1-D quadrature (kinks, nudged forms, series).
QUADRATURE_EDGES = '''

@jax.jit
def nngp_edges(q):
    """(K(q, q, q), K(q, q, -q)) = (E[s(u)^2], E[s(u) s(-u)]), u ~ N(0, q): 1-D quadrature."""
    (q,) = as_float(q)
    return edge_moments(activation, floored(q), KINKS)
'''

QUADRATURE_DEDGES = '''

@jax.jit
def dnngp_edges(q):
    """(K'(q, q, q), K'(q, q, -q)) = (E[s'(u)^2], E[s'(u) s'(-u)]), u ~ N(0, q): quadrature."""
    (q,) = as_float(q)
    return edge_moments(dactivation, floored(q), KINKS)
'''

#: The duals on the edge of their domain from the closed form itself (exact there).
CLOSED_EDGES = '''

@jax.jit
def nngp_edges(q):
    """(K(q, q, q), K(q, q, -q)) = (E[s(u)^2], E[s(u) s(-u)]), u ~ N(0, q)."""
    (q,) = as_float(q)
    return nngp(q, q, q), nngp(q, q, -q)
'''

CLOSED_DEDGES = '''

@jax.jit
def dnngp_edges(q):
    """(K'(q, q, q), K'(q, q, -q)) = (E[s'(u)^2], E[s'(u) s'(-u)]), u ~ N(0, q)."""
    (q,) = as_float(q)
    return dnngp(q, q, q), dnngp(q, q, -q)
'''

NNGP = '''

@jax.jit
def nngp(q1, q2, c, edges=None):
    """K(q1, q2, c) = E[s(u) s(v)], (u, v) ~ N(0, [[q1, c], [c, q2]]).

    ``edges``: nngp_edges(q1) if already at hand (else computed when needed)."""
    q1, q2, c = kernel_args(q1, q2, c)
    value = guarded({kernel}, {price}, VALUE_MARGINS, q1, q2, c)
{edge_line}
'''

DNNGP = '''

@jax.jit
def dnngp(q1, q2, c, edges=None):
    """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc (Price's theorem).

    ``edges``: dnngp_edges(q1) if already at hand (else computed when needed)."""
    q1, q2, c = kernel_args(q1, q2, c)
    value = guarded({kernel}, None, VALUE_MARGINS, q1, q2, c)
{edge_line}
'''

#: The last line of nngp / dnngp: the value, or the value with exact edges from quadrature.
PLAIN_RETURN = "    return value"
EDGE_RETURN = "    return on_edges(value, q1, q2, c, {edges}(q1) if edges is None else edges)"

DNNGP_DISTRIBUTION = '''

def dnngp(q1, q2, c, edges=None):
    """K' = E[s'(u) s'(v)] is a Dirac-delta distribution here (s jumps), not a function."""
    raise ValueError(
        "s is discontinuous, so s' contains a Dirac delta and K' = E[s'(u) s'(v)] is a "
        "distribution: NTKs of this activation are not defined (NNGP kernels are)"
    )


def dnngp_edges(q):
    """K' is a distribution here (see dnngp)."""
    return dnngp(q, q, q)
'''

#: Package that generated source is executed in: ``from ._support...`` resolves to the
#: installed ``dualcalc.runtime._support``, the same code as ``generated/_support``.
RUNTIME_PACKAGE = "dualcalc.runtime"


def render_module(derivation: Any) -> str:
    """Source text of the generated module for a derivation (pure and deterministic; cached)."""
    key = _render_key(derivation)
    if key is None:
        return _render_checked(derivation)
    with _RENDERED_LOCK:
        if key in _RENDERED:
            return _RENDERED[key]
    source = _render_checked(derivation)
    with _RENDERED_LOCK:
        if len(_RENDERED) >= 256:
            _RENDERED.clear()
        return _RENDERED.setdefault(key, source)


_RENDERED: dict[tuple, str] = {}
_RENDERED_LOCK = threading.Lock()


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


def _render_checked(derivation: Any) -> str:
    """The source, with value margins chosen so that the printed form is right at rho = +-1."""
    source = _render(derivation, EXACT)
    if not derivation.closed_form:
        return source
    margins = _edge_margins(source, derivation)
    limits = _stable_limits(source, derivation)
    if margins == EXACT and limits == UNLIMITED:
        return source
    return _render(derivation, margins, limits)


#: Variance limits (float32, float64) of a closed form that holds everywhere.
UNLIMITED = (float("inf"), float("inf"))


#: Variances at which the printed closed form is compared with Mehler's series (rho = +-0.3,
#: where the series converges fast): 20 * 4^k up to about 1.3e6.
STABILITY_LADDER = tuple(20.0 * 4.0**k for k in range(9))
#: Agreement required there, relative to the Cauchy-Schwarz scale, per dtype.
STABILITY_TOLERANCE = {"float32": 1e-4, "float64": 1e-10}
#: The correlation of the stability probes, and the degree of the reference series there.
STABILITY_RHO = 0.3
REFERENCE_DEGREE = 120


def _stable_limits(source: str, derivation: Any) -> tuple[float, float]:
    """The largest ladder variance (float32, float64) up to which the printed K and K' agree
    with Mehler's series at rho = +-0.3: beyond it terms like exp(q) erfc(...) cancel
    catastrophically or overflow (ELU's form), and the module sums the series there instead.

    Reference: the engine's coefficients a_k(q) up to REFERENCE_DEGREE (numpy, exact
    per-variance), trusted where the Cauchy-Schwarz tail bound sqrt(tail tail) 0.3^(D + 1) is
    negligible, and only where the kernel's scale E[s(sqrt(q) z)^2] is finite (a kernel that
    overflows float64 itself, like exp's, is left as it is). inf when the form holds throughout.
    """
    import jax
    import numpy as np

    from dualcalc.derivation.hermite import edge_pair_expectation, hermite_coefficients
    from dualcalc.expression.pieces import piecewise_numpy
    from dualcalc.runtime._support.guards import kernel_args

    module = module_from_source(source, "dualcalc_stability_probe", "<dualcalc stability probe>")
    printed = {False: module._nngp}
    if not derivation.derivative_is_distribution:
        printed[True] = module._dnngp
    ladder = np.asarray(STABILITY_LADDER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = hermite_coefficients(derivation.activation, REFERENCE_DEGREE + 1, ladder)
    k = np.arange(REFERENCE_DEGREE + 2)
    good = {"float32": np.ones(len(ladder), bool), "float64": np.ones(len(ladder), bool)}
    with _x64(), jax.disable_jit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for derivative, fn in printed.items():
            if derivative:
                coeffs = np.sqrt(k[1:]) * a[:, 1:] / np.sqrt(ladder)[:, None]
            else:
                coeffs = a[:, :-1]
            f = piecewise_numpy(derivation.activation, derivative=derivative)
            kinks = derivation.activation.kinks
            scale = np.array([edge_pair_expectation(f, v, v, 1.0, kinks) for v in ladder])
            tail = np.maximum(scale - np.sum(coeffs**2, axis=1), 0.0)
            trusted = np.isfinite(scale) & (
                tail * STABILITY_RHO ** (REFERENCE_DEGREE + 1) <= 1e-3 * 1e-10 * scale
            )
            for sign in (1.0, -1.0):
                rho = sign * STABILITY_RHO
                exact = np.sum(coeffs * coeffs * rho ** k[: coeffs.shape[1]], axis=1)
                for name in ("float32", "float64"):
                    args = (np.asarray(v, name) for v in (ladder, ladder, rho * ladder))
                    value = eager_probe(fn, *kernel_args(*args))
                    error = np.abs(value - exact) / np.maximum(scale, 1e-300)
                    ok = np.isfinite(value) & (error <= STABILITY_TOLERANCE[name])
                    good[name] &= ok | ~trusted
    limits = []
    for name in ("float32", "float64"):
        failing = np.nonzero(~good[name])[0]
        limits.append(float("inf") if not len(failing) else _limit_below(failing[0]))
    return limits[0], limits[1]


#: Probe arrays are padded to this many entries (or the next power of two above): eager JAX
#: compiles each primitive once per shape and dtype, so probes of one length share them.
PROBE_LENGTH = 1024


def eager_probe(fn: Callable, q1: Any, q2: Any, c: Any, *more: Any) -> Any:
    """fn(q1, q2, c, *more) on 1-D probe arrays of one length, padded with q = 1, c = 0 (and
    zeros) to the common probe length (the margin, stability and verification probes then
    share one compilation of each primitive per dtype); float64 values of the real entries."""
    import numpy as np

    arrays = [np.asarray(v) for v in (q1, q2, c, *more)]
    n = len(arrays[0])
    length = max(PROBE_LENGTH, 1 << max(n - 1, 0).bit_length())
    fills = (1.0, 1.0) + (0.0,) * (len(arrays) - 2)
    padded = [
        np.concatenate([a, np.full(length - n, fill, a.dtype)])
        for a, fill in zip(arrays, fills, strict=True)
    ]
    return np.asarray(fn(*padded), np.float64)[:n]


def _projected(fn: Callable) -> Callable:
    """fn at (q1, q2, c) moved inside the edge by ``margin`` (``_support.guards.project``)."""
    from dualcalc.runtime._support.guards import kernel_args, project

    return lambda q1, q2, c, margin: fn(*project(*kernel_args(q1, q2, c), margin))


def _limit_below(index: int) -> float:
    """The last ladder variance before the first failing one (0 when even 20 fails)."""
    return STABILITY_LADDER[index - 1] if index > 0 else 0.0


#: Value margins (float32, float64): exact on |rho| <= 1.
EXACT = (0.0, 0.0)
#: Candidate margins per dtype, tried in order. A printed form that is 0/0 at rho = +-1 (e.g.
#: ELU's erfc((c^2/sqrt(q1) - sqrt(q1) q2) / sqrt(q1 q2 - c^2))) is evaluated this far inside
#: the edge, at 1, 4 and 9 times the margin, and extrapolated to the edge (``_support.guards``).
MARGIN_LADDER = {"float32": (0.0, 1e-6, 1e-5, 1e-4, 1e-3), "float64": (0.0, 1e-10, 1e-9, 1e-8)}
#: Agreement required at the edge probes, relative to the Cauchy-Schwarz scale. float64: a 0/0
#: form loses digits near the edge (the rounding of c^2 - q1 q2 is amplified by eps / m and by
#: the extrapolation's weights), which leaves about 1e-10 at the best margin: 1e-9. float32: only
#: gross errors (a wrong limit, NaN) are refused.
EDGE_TOLERANCE = {"float32": 1e-2, "float64": 1e-9}
#: Variances probed pairwise at rho = +-1: the range the closed forms are verified on
#: (``derivation.VERIFY_Q_RANGE``); outside it the edge is as good as the form itself.
PROBE_VARIANCES = (0.05, 0.5, 1.3, 7.0, 20.0)


def module_from_source(source: str | bytes, name: str, filename: str) -> types.ModuleType:
    """Execute generated source as a new module whose ``._support`` is dualcalc's own copy."""
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__package__ = RUNTIME_PACKAGE
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - generated source
    return module


def _edge_margins(source: str, derivation: Any) -> tuple[float, float]:
    """The smallest margins (float32, float64) at which the printed nngp (and dnngp), taken at
    1, 4 and 9 times the margin inside the edge and extrapolated to it, match the 1-D edge
    integrals E[s(sqrt(q1) z) s(+-sqrt(q2) z)] at every pair of probe variances."""
    import jax
    import numpy as np

    module = module_from_source(source, "dualcalc_boundary_probe", "<dualcalc boundary probe>")
    printed = {False: module._nngp}
    if not derivation.derivative_is_distribution:
        printed[True] = module._dnngp
    chosen = []
    # Eager, op by op (a few probes do not repay compiling a large printed form), every
    # candidate margin and its 1, 4, 9 multiples stacked into one call per dtype and function.
    with _x64(), jax.disable_jit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow inside the probes
        for name in ("float32", "float64"):
            q1, q2, sign = (
                np.array(v).ravel()
                for v in np.meshgrid(PROBE_VARIANCES, PROBE_VARIANCES, (1.0, -1.0), indexing="ij")
            )
            exact = {d: _edge_integrals(derivation.activation, q1, q2, sign, d) for d in printed}
            ladder = MARGIN_LADDER[name]
            steps = np.array([[m * f for f in (1.0, 4.0, 9.0)] for m in ladder])  # (L, 3)
            tiled = [np.tile(np.asarray(v, name), steps.size) for v in (q1, q2, sign)]
            margin = np.repeat(steps.ravel(), len(q1)).astype(name)
            c = tiled[2] * np.sqrt(tiled[0] * tiled[1])
            passing = np.ones(len(ladder), bool)
            for derivative, fn in printed.items():
                values = eager_probe(_projected(fn), tiled[0], tiled[1], c, margin)
                values = values.reshape(len(ladder), 3, len(q1))
                extrapolated = 3 * (values[:, 0] - values[:, 1]) + values[:, 2]
                edge = np.where(steps[:, :1] == 0.0, values[:, 0], extrapolated)
                target, scale = exact[derivative]
                error = np.abs(edge - target) / scale
                finite = np.all(np.isfinite(values), axis=(1, 2))
                passing &= finite & np.all(error <= EDGE_TOLERANCE[name], axis=1)
            chosen.append(ladder[int(np.argmax(passing))] if passing.any() else None)
    if None in chosen:
        which = " and ".join(
            n for n, m in zip(("float32", "float64"), chosen, strict=True) if m is None
        )
        raise DerivationError(
            f"the printed closed form of {derivation.activation.text} disagrees in {which} with "
            "the edge integrals E[s(sqrt(q1) z) s(+-sqrt(q2) z)] at rho = +-1, at every margin "
            "tried"
        )
    return (float(chosen[0]), float(chosen[1]))


def _edge_integrals(activation: Any, q1, q2, sign, derivative: bool):
    """(E[f(sqrt(q1) z) f(sign sqrt(q2) z)], Cauchy-Schwarz scale), f = s or s', float64."""
    import numpy as np

    from dualcalc.derivation.hermite import edge_pair_expectation
    from dualcalc.expression.pieces import piecewise_numpy

    f = piecewise_numpy(activation, derivative=derivative)
    kinks = activation.kinks
    pairs = [edge_pair_expectation(f, a, b, s, kinks) for a, b, s in zip(q1, q2, sign, strict=True)]
    own = {v: edge_pair_expectation(f, v, v, 1.0, kinks) for v in set(q1) | set(q2)}
    scale = np.sqrt([own[a] * own[b] for a, b in zip(q1, q2, strict=True)])
    return np.array(pairs), np.maximum(scale, 1e-300)


def _x64():
    """Context with float64 enabled, whatever the caller's JAX configuration."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def _render(
    derivation: Any, margins: tuple[float, float], limits: tuple[float, float] = UNLIMITED
) -> str:
    activation = derivation.activation
    text = activation.text
    _check_embeddable(text)
    closed = bool(derivation.closed_form)
    distribution = bool(derivation.derivative_is_distribution)
    if closed and derivation.nngp is None:
        raise DerivationError(f"closed-form derivation of {text} has no nngp expression")
    if closed and not distribution and derivation.dnngp is None:
        raise DerivationError(f"closed-form derivation of {text} has no dnngp expression")

    printer = KernelPrinter()
    kinks = _kinks(activation.expr)
    # Printed forms are exact at rho = +-1 unless s has kinks (infinite slope there), the form
    # is 0/0 there (nudged) or it is a truncated series: then the edges come from quadrature.
    nudged = margins != EXACT
    quadrature_edges = bool(kinks) or nudged or not closed
    names = {
        "guards": {"as_float", "guarded", "kernel_args", "floored"},
        "hermite": {"coefficients", "derivative_coefficients"},
    }
    parts = [_constants(derivation, kinks, margins, limits)]
    parts.append(_activation_functions(activation.expr, kinks, printer))
    parts.append(HERMITE)
    if closed:
        parts.append(
            _kernel_function("_nngp", "K(q1, q2, c), closed form", derivation.nngp, printer)
        )
        if not distribution:
            parts.append(
                _kernel_function("_dnngp", "K'(q1, q2, c), closed form", derivation.dnngp, printer)
            )
        fallback = limits != UNLIMITED
        if fallback:
            parts.append(SERIES_FALLBACK)
            parts.append(MEHLER.format(suffix="_series"))
            names["hermite"] |= {"mehler_nngp", "mehler_dnngp"}
            names["guards"].add("within_or")
    else:
        parts.append(MEHLER.format(suffix=""))
        names["hermite"] |= {"mehler_nngp", "mehler_dnngp"}
        fallback = False
    kernel = "_nngp_or_series" if fallback else "_nngp"
    dkernel = "_dnngp_or_series" if fallback else "_dnngp"

    def edge_line(edges: str) -> str:
        return EDGE_RETURN.format(edges=edges) if quadrature_edges else PLAIN_RETURN

    price = "None" if distribution else "dnngp"
    parts.append(NNGP.format(kernel=kernel, price=price, edge_line=edge_line("nngp_edges")))
    if distribution:
        parts.append(DNNGP_DISTRIBUTION)
    else:
        parts.append(DNNGP.format(kernel=dkernel, edge_line=edge_line("dnngp_edges")))
    if quadrature_edges:
        names["hermite"].add("edge_moments")
        names["guards"].add("on_edges")
        parts.append(QUADRATURE_EDGES)
        if not distribution:
            parts.append(QUADRATURE_DEDGES)
    else:
        parts.append(CLOSED_EDGES)
        if not distribution:
            parts.append(CLOSED_DEDGES)
    if kinks:
        names["piecewise"] = {"piecewise"}
    for name in printer.usage.support:
        names.setdefault(SUPPORT_NAMES[name], set()).add(name)
    body = "\n".join(p.strip("\n") + "\n\n" for p in parts)
    head = _header(derivation) + "\n" + _imports(printer, names)
    return (head + "\n\n" + body).rstrip("\n") + "\n"


def _float_text(value: float) -> str:
    return "float('inf')" if value == float("inf") else repr(float(value))


def _check_embeddable(text: str) -> None:
    """The canonical text goes into a docstring and a literal: refuse anything unexpected."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_*/+-(). ,")
    bad = sorted(set(text) - allowed)
    if bad:
        raise DerivationError(f"canonical expression contains characters {bad!r}: cannot embed it")


def _kinks(expr: sp.Expr) -> tuple[sp.Expr, ...]:
    """Sorted kinks r of the Heaviside(x - r) factors of a canonical expression."""
    found: dict[float, sp.Expr] = {}
    for step in expr.atoms(sp.Heaviside):
        r = kink_of(step)
        if r is None:
            raise DerivationError(f"activation step {step} is not of the form Heaviside(x - r)")
        found.setdefault(float(sp.N(r, 30)), r)
    return tuple(found[k] for k in sorted(found))


def _pieces(expr: sp.Expr, kinks: tuple[sp.Expr, ...]) -> list[sp.Expr]:
    """The smooth expression s equals on each interval between consecutive kinks."""
    steps = {float(sp.N(kink_of(h), 30)): h for h in expr.atoms(sp.Heaviside)}
    pieces = []
    for i in range(len(kinks) + 1):
        passed = {float(sp.N(r, 30)) for r in kinks[:i]}
        values = {h: (sp.S.One if r in passed else sp.S.Zero) for r, h in steps.items()}
        pieces.append(sp.expand(expr.xreplace(values)))
    return pieces


def _header(derivation: Any) -> str:
    from dualcalc import __version__

    activation = derivation.activation
    route = (
        "closed form, verified against quadrature"
        if derivation.closed_form
        else f"Hermite route (Mehler's series, default degree {derivation.hermite_degree})"
    )
    lines = [
        f'"""Dual activation of {canonical_name(activation)}: generated by dualcalc '
        f"{__version__}; do not edit.",
        "",
        f"    s(x) = {activation.text}",
        "",
        "K(q1, q2, c) = E[s(u) s(v)] and K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc for",
        f"(u, v) ~ N(0, [[q1, c], [c, q2]]); {route}.",
        "Regenerate with `dualcalc generate`; `dualcalc show` summarises this module.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "",
    ]
    return "\n".join(lines)


def _constants(
    derivation: Any,
    kinks: tuple[sp.Expr, ...],
    margins: tuple[float, float],
    limits: tuple[float, float] = UNLIMITED,
) -> str:
    kink_text = ", ".join(repr(float(sp.N(k, 30))) for k in kinks)
    kink_text = f"({kink_text},)" if kinks else "()"
    lines = [
        f"EXPRESSION = {derivation.activation.text!r}",
        f"NAME = {canonical_name(derivation.activation)!r}",
        f"CLOSED_FORM = {bool(derivation.closed_form)!r}",
        f"DERIVATIVE_IS_DISTRIBUTION = {bool(derivation.derivative_is_distribution)!r}",
        f"HERMITE_DEGREE = {int(derivation.hermite_degree)!r}",
        f"KINKS = {kink_text}",
        "#: Value margins (float32, float64): "
        + ("exact" if margins == EXACT else "nudged inside, the printed form is 0/0 at rho = +-1"),
        f"VALUE_MARGINS = {tuple(float(m) for m in margins)!r}",
    ]
    if limits != UNLIMITED:
        lines += [
            "#: Largest variances (float32, float64) where the printed form holds; Mehler beyond",
            f"VARIANCE_LIMITS = ({_float_text(limits[0])}, {_float_text(limits[1])})",
        ]
    return "\n".join(lines)


def _activation_functions(expr: sp.Expr, kinks: tuple[sp.Expr, ...], printer: KernelPrinter) -> str:
    if kinks:
        value = _piecewise_call(_pieces(expr, kinks), printer)
    else:
        value = printer.doprint(prepare(expr))
    return "\n".join(
        [
            "@jax.jit",
            "def activation(x):",
            f'    """s(x) = {sp.sstr(expr, order="lex")}."""',
            "    (x,) = as_float(x)",
            f"    return {_broadcast(value)}",
            "",
            "",
            "@jax.jit",
            "def dactivation(x):",
            '    """s\'(x) by forward-mode differentiation of activation (Dirac deltas at jumps',
            '    dropped; the mean of both one-sided slopes at a kink)."""',
            "    (x,) = as_float(x)",
            "    return jax.jvp(activation, (x,), (jnp.ones_like(x),))[1]",
        ]
    )


def _broadcast(code: str) -> str:
    """Code of an expression in x, made an array of x's shape even when constant."""
    return f"jnp.broadcast_to({code}, x.shape).astype(x.dtype)"


def _piecewise_call(pieces: list[sp.Expr], printer: KernelPrinter) -> str:
    lambdas = ", ".join(f"lambda x: {printer.doprint(prepare(p))}" for p in pieces)
    return f"piecewise(x, KINKS, ({lambdas}))"


def _kernel_function(name: str, summary: str, expr: sp.Expr, printer: KernelPrinter) -> str:
    """A private function of (q1, q2, c) printing a kernel expression after CSE."""
    stray = expr.free_symbols - {Q1, Q2, C}
    if stray:
        raise DerivationError(f"kernel expression has unexpected symbols {sorted(map(str, stray))}")
    replacements, (reduced,) = sp.cse(
        [prepare(expr)],
        symbols=sp.numbered_symbols("t"),
        optimizations=None,
        order="canonical",
    )
    lines = ["", "", f"def {name}(q1, q2, c):", f'    """{summary}."""']
    body = [f"{INDENT}{symbol} = {printer.doprint(sub)}" for symbol, sub in replacements]
    result = printer.doprint(reduced)
    if C not in expr.free_symbols:
        result = f"jnp.broadcast_to({result}, c.shape).astype(c.dtype)"
    body.append(f"{INDENT}return {result}")
    return "\n".join(lines + body)


def _imports(printer: KernelPrinter, support: dict[str, set[str]]) -> str:
    """Import lines: jax, the optional scipy.special, and the support names the code uses."""
    lines = ["import functools", "", "import jax", "import jax.numpy as jnp"]
    if printer.usage.scipy_special:
        lines.append("import jax.scipy.special as jsp")
    lines.append("")
    for module in sorted(support):
        lines.append(f"from ._support.{module} import {', '.join(sorted(support[module]))}")
    if printer.usage.special:
        lines.append("from ._support import special")
    return "\n".join(lines)

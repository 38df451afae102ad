"""The generated-module template: (derivation, calibration) -> the source of one JAX module.

Owns the layout of every file in ``generated/``: header docstring, imports of the support
package (``dualcalc/runtime/_support``, copied to ``generated/_support``), constants,
``activation`` / ``dactivation``, ``hermite`` (a_k(q) per variance), ``nngp`` / ``dnngp``
(printed closed form, or Mehler's series, behind the domain guards) and ``nngp_edges`` /
``dnngp_edges`` (the duals at rho = +-1 for equal variances: from the closed form where it is
exact there, else by 1-D quadrature, which ``nngp`` / ``dnngp`` then use on the edge).
Expressions are printed by ``KernelPrinter`` (kernel functions through ``_kernel_function``);
everything else is fixed text, so the output is a pure, deterministic function of the
derivation and its ``Calibration`` (measured by the compile stage, ``dualcalc.compiler``).
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from dualcalc import __version__
from dualcalc.codegen.calibration import EXACT, UNCALIBRATED, UNLIMITED, Calibration
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

def render(derivation: Any, calibration: Calibration = UNCALIBRATED) -> str:
    """Source text of the generated module of a derivation under a calibration (pure)."""
    margins, limits = calibration.margins, calibration.limits
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

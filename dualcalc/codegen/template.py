"""The generated-module template: a derivation -> the source text of one small JAX module.

Owns the layout of every file in ``generated/``: header docstring, constants, the domain
guards (float32-safe), ``activation`` / ``dactivation``, ``nngp`` / ``dnngp`` (printed closed
form, or Mehler's series over the runtime's per-variance Hermite coefficients) and
``hermite``. Expressions are printed by ``KernelPrinter``; everything else is fixed text,
so the output is a pure, deterministic function of the derivation.
"""

from __future__ import annotations

import itertools
from typing import Any

import sympy as sp

from dualcalc.codegen.printer import KernelPrinter, prepare
from dualcalc.codegen.slug import canonical_name
from dualcalc.errors import DerivationError
from dualcalc.expression.canonical import kink_of
from dualcalc.expression.symbols import Q1, Q2, C

INDENT = "    "

GUARDS = '''
# -- domain guards: exact values on the closed domain, finite derivatives everywhere ---------
#: Variances below this are raised to it (zero-norm inputs get the kernel's limit), by float bytes.
_Q_FLOOR = {4: 1e-12, 8: 1e-30}
#: Derivatives are taken at |rho| <= 1 - margin; values at the exact point. By float bytes.
_RHO_MARGIN = {4: 1e-4, 8: 1e-8}
#: Values are taken at |rho| <= 1 - margin: 0 unless the printed form is 0/0 at rho = +-1.
_VALUE_MARGIN = {VALUE_MARGIN}


def _as_float(*args):
    """The arguments as arrays of one floating dtype (float32 stays float32)."""
    dtype = jnp.result_type(*args, 1.0)
    return tuple(jnp.asarray(a, dtype) for a in args)


def _kernel_args(q1, q2, c):
    """Floating q1, q2 in their own shapes (coefficients per variance stay small), c broadcast."""
    q1, q2, c = _as_float(q1, q2, c)
    return q1, q2, jnp.broadcast_to(c, jnp.broadcast_shapes(q1.shape, q2.shape, c.shape))


def _sqrt(a):
    """sqrt(max(a, 0)) with gradient 0 where a <= 0 (double-where, no inf * 0)."""
    inside = a > 0
    return jnp.where(inside, jnp.sqrt(jnp.where(inside, a, 1.0)), 0.0)


def _arcsin(a):
    """arcsin(a) with a clipped to [-1, 1], gradient 0 where |a| >= 1."""
    inside = jnp.abs(a) < 1
    return jnp.where(inside, jnp.arcsin(jnp.where(inside, a, 0.0)), jnp.sign(a) * (jnp.pi / 2))


def _arccos(a):
    """arccos(a) with a clipped to [-1, 1], gradient 0 where |a| >= 1."""
    inside = jnp.abs(a) < 1
    edge = jnp.where(a > 0, 0.0, jnp.pi)
    return jnp.where(inside, jnp.arccos(jnp.where(inside, a, 0.0)), edge)


def _project(q1, q2, c, margin):
    """Variances floored at _Q_FLOOR; c clipped to |c| <= (1 - margin) sqrt(q1 q2)."""
    floor = _Q_FLOOR.get(c.dtype.itemsize, _Q_FLOOR[4])
    q1 = jnp.where(q1 > floor, q1, floor)
    q2 = jnp.where(q2 > floor, q2, floor)
    bound = (1.0 - margin) * (jnp.sqrt(q1) * jnp.sqrt(q2))
    return q1, q2, jnp.where(c > bound, bound, jnp.where(c < -bound, -bound, c))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _guarded(fn, dfn_dc, q1, q2, c):
    """fn at the projected point: values on |rho| <= 1, limits at q = 0."""
    return fn(*_project(q1, q2, c, _VALUE_MARGIN.get(c.dtype.itemsize, _VALUE_MARGIN[4])))


@_guarded.defjvp
def _guarded_jvp(fn, dfn_dc, primals, tangents):
    """Derivatives at the point moved inside by _RHO_MARGIN (straight through the projection);
    the c-derivative is dfn_dc exactly when given (Price's theorem: dK/dc = K')."""
    q1, q2, c = primals
    value = _guarded(fn, dfn_dc, q1, q2, c)
    inner = _project(q1, q2, c, _RHO_MARGIN.get(c.dtype.itemsize, _RHO_MARGIN[4]))
    if dfn_dc is None:
        return value, jax.jvp(fn, inner, tangents)[1]
    dq1, dq2, dc = tangents
    _, along_q = jax.jvp(fn, inner, (dq1, dq2, jnp.zeros_like(dc)))
    return value, along_q + dfn_dc(q1, q2, c) * dc
'''


#: Emitted when a printed kernel contains atan2 (the arc-cosine angles of the kinked duals).
ATAN2 = '''

# -- atan2 as plain arithmetic: XLA's CPU atan2 is a scalar libm call, this one vectorises ------
#: Cephes' atan: atan(x) = x + x z P(z) / Q(z), z = x^2, for |x| <= 0.66 (Q monic).
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
#: pi/4 = float(pi/4) + _ATAN_LOW / 2, pi/2 = float(pi/2) + _ATAN_LOW, pi = float(pi) + 2 _ATAN_LOW.
_ATAN_LOW = 6.123233995736765886130e-17


@jax.custom_jvp
def _atan2(y, x):
    """atan2(y, x) in [-pi, pi], 2 ulp: octant offset + Cephes' atan on [0, 1], one last division.

    The angle is (offset q + sign u (q + z p)) / q with u the reduced ratio: the division comes
    last, so XLA fuses the whole computation into it and stores one array when the angle has
    several users (a select after it would be copied into each user, splitting the rest)."""
    ay, ax = jnp.abs(y), jnp.abs(x)
    steep = ay > ax
    num, den = jnp.where(steep, ax, ay), jnp.where(steep, ay, ax)
    ratio = jnp.where(num == den, 1.0, num / jnp.where(den == 0, 1.0, den))  # inf / inf
    ratio = jnp.where(den == 0, 0.0, ratio)
    high = ratio > 0.66  # atan(t) = pi/4 + atan((t - 1) / (t + 1))
    u = jnp.where(high, (ratio - 1.0) / (ratio + 1.0), ratio)
    z = u * u
    p = (((_ATAN_P[0] * z + _ATAN_P[1]) * z + _ATAN_P[2]) * z + _ATAN_P[3]) * z + _ATAN_P[4]
    q = ((((z + _ATAN_Q[0]) * z + _ATAN_Q[1]) * z + _ATAN_Q[2]) * z + _ATAN_Q[3]) * z + _ATAN_Q[4]
    offset = jnp.where(high, jnp.pi / 4 + 0.5 * _ATAN_LOW, 0.0)
    offset = jnp.where(steep, (jnp.pi / 2 + _ATAN_LOW) - offset, offset)
    sign = jnp.where(steep, -1.0, 1.0)
    left = jnp.signbit(x)
    offset = jnp.where(left, (jnp.pi + 2 * _ATAN_LOW) - offset, offset)
    sign = jnp.where(left, -sign, sign)
    sign = jnp.where(jnp.signbit(y), -sign, sign)
    offset = jnp.where(jnp.signbit(y), -offset, offset)
    return (offset * q + sign * (u * q + u * (z * p))) / q


@_atan2.defjvp
def _atan2_jvp(primals, tangents):
    """d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)."""
    y, x = primals
    dy, dx = tangents
    norm = x * x + y * y
    safe = jnp.where(norm > 0, norm, 1.0)
    return _atan2(y, x), jnp.where(norm > 0, (x * dy - y * dx) / safe, 0.0)
'''

PIECEWISE = '''

def _piecewise(x, pieces):
    """sum_i w_i(x) p_i(x clamped to interval i), w_i = H(x - r_i) - H(x - r_(i+1)), H(0) = 1/2.

    Each smooth piece is evaluated only inside its own interval, so a piece that overflows
    elsewhere (exp(x) of ELU's left piece at x = 1000) never leaks inf or NaN."""
    edges = (None, *KINKS, None)
    steps = [1.0] + [jnp.heaviside(x - r, 0.5) for r in KINKS] + [0.0]
    total = jnp.zeros_like(x)
    for i, piece in enumerate(pieces):
        lo, hi = edges[i], edges[i + 1]
        inside = x
        if lo is not None:
            inside = jnp.where(inside < lo, lo, inside)
        if hi is not None:
            inside = jnp.where(inside > hi, hi, inside)
        total = total + (steps[i] - steps[i + 1]) * piece(inside)
    return total
'''

HERMITE = '''

@functools.partial(jax.jit, static_argnames="degree")
def hermite(q, degree=HERMITE_DEGREE):
    """a_k(q) = E[s(sqrt(q) z) h_k(z)], k = 0..degree, h_k = He_k / sqrt(k!), z ~ N(0, 1)."""
    from dualcalc.runtime import hermite as _hermite

    return _hermite.coefficients(activation, q, degree, breakpoints=KINKS)
'''

MEHLER = '''

def _nngp(q1, q2, c):
    """Mehler: K = sum_k a_k(q1) a_k(q2) rho^k, per-variance coefficients."""
    from dualcalc.runtime import hermite as _hermite

    rho = c / (jnp.sqrt(q1) * jnp.sqrt(q2))
    return _hermite.mehler_nngp(hermite(q1), hermite(q2), rho)


def _dnngp(q1, q2, c):
    """Mehler: K' = sum_k k a_k(q1) a_k(q2) rho^(k-1) / sqrt(q1 q2)."""
    from dualcalc.runtime import hermite as _hermite

    rho = c / (jnp.sqrt(q1) * jnp.sqrt(q2))
    return _hermite.mehler_dnngp(hermite(q1), hermite(q2), rho, q1, q2)
'''

NNGP = '''

@jax.jit
def nngp(q1, q2, c):
    """K(q1, q2, c) = E[s(u) s(v)], (u, v) ~ N(0, [[q1, c], [c, q2]])."""
    return _guarded(_nngp, {price}, *_kernel_args(q1, q2, c))
'''

DNNGP = '''

@jax.jit
def dnngp(q1, q2, c):
    """K'(q1, q2, c) = E[s'(u) s'(v)] = dK/dc (Price's theorem)."""
    return _guarded(_dnngp, None, *_kernel_args(q1, q2, c))
'''

DNNGP_DISTRIBUTION = '''

def dnngp(q1, q2, c):
    """K' = E[s'(u) s'(v)] is a Dirac-delta distribution here (s jumps), not a function."""
    from dualcalc.errors import DerivationError

    raise DerivationError(
        "s is discontinuous, so s' contains a Dirac delta and K' = E[s'(u) s'(v)] is a "
        "distribution: NTKs of this activation are not defined (NNGP kernels are)"
    )
'''


def render_module(derivation: Any) -> str:
    """Source text of the generated module for a derivation (pure and deterministic)."""
    source = _render(derivation, EXACT_VALUES)
    if derivation.closed_form and not _finite_at_rho_one(source, derivation):
        source = _render(derivation, NUDGED_VALUES)
    return source


#: Value margins (by float bytes): exact on |rho| <= 1, or nudged inside when the printed
#: closed form is 0/0 at rho = +-1 (e.g. erfc((c^2/sqrt(q1) - sqrt(q1) q2) / sqrt(q1 q2 - c^2))
#: in ELU's kernel). The nudge moves K by about margin * |K'| sqrt(q1 q2), i.e. ~1e-10 relative.
EXACT_VALUES = "{4: 0.0, 8: 0.0}"
NUDGED_VALUES = "{4: 1e-6, 8: 1e-10}"
#: (q1, q2) pairs probed at rho = +-1 to decide between the two.
BOUNDARY_PROBES = ((1.0, 1.0), (2.0, 0.5), (0.3, 5.0), (7.0, 7.0))


def _finite_at_rho_one(source: str, derivation: Any) -> bool:
    """Whether the module's nngp (and dnngp) are finite at rho = +-1, float32 and float64."""
    import types

    import numpy as np

    module = types.ModuleType("dualcalc_boundary_probe")
    exec(compile(source, "<dualcalc boundary probe>", "exec"), module.__dict__)  # noqa: S102
    functions = [module.nngp] + ([] if derivation.derivative_is_distribution else [module.dnngp])
    with _x64():
        for dtype in (np.float32, np.float64):
            for (q1, q2), sign in itertools.product(BOUNDARY_PROBES, (1.0, -1.0)):
                args = [np.asarray(v, dtype) for v in (q1, q2, sign * np.sqrt(q1 * q2))]
                if not all(np.isfinite(np.asarray(f(*args))) for f in functions):
                    return False
    return True


def _x64():
    """Context with float64 enabled, whatever the caller's JAX configuration."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def _render(derivation: Any, value_margin: str) -> str:
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
    parts = [
        _header(derivation) + "\n\n" + _constants(derivation, kinks),
        GUARDS.replace("{VALUE_MARGIN}", value_margin),
    ]
    if kinks:
        parts.append(PIECEWISE)
    helpers = len(parts)
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
    else:
        parts.append(MEHLER)
    parts.append(NNGP.format(price="None" if distribution else "dnngp"))
    parts.append(DNNGP_DISTRIBUTION if distribution else DNNGP)
    if printer.usage.atan2:
        parts.insert(helpers, ATAN2)
    source = "\n".join(p.strip("\n") + "\n\n" for p in parts)
    return _imports_into(source, printer)


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
        "import functools",
        "",
        "import jax",
        "import jax.numpy as jnp",
        "{IMPORTS}",
    ]
    return "\n".join(lines)


def _constants(derivation: Any, kinks: tuple[sp.Expr, ...]) -> str:
    kink_text = ", ".join(repr(float(sp.N(k, 30))) for k in kinks)
    kink_text = f"({kink_text},)" if kinks else "()"
    lines = [
        f"EXPRESSION = {derivation.activation.text!r}",
        f"NAME = {canonical_name(derivation.activation)!r}",
        f"CLOSED_FORM = {bool(derivation.closed_form)!r}",
        f"DERIVATIVE_IS_DISTRIBUTION = {bool(derivation.derivative_is_distribution)!r}",
        f"HERMITE_DEGREE = {int(derivation.hermite_degree)!r}",
        f"KINKS = {kink_text}",
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
            "    (x,) = _as_float(x)",
            f"    return {_broadcast(value)}",
            "",
            "",
            "@jax.jit",
            "def dactivation(x):",
            '    """s\'(x) by forward-mode differentiation of activation (Dirac deltas at jumps',
            '    dropped; the mean of both one-sided slopes at a kink)."""',
            "    (x,) = _as_float(x)",
            "    return jax.jvp(activation, (x,), (jnp.ones_like(x),))[1]",
        ]
    )


def _broadcast(code: str) -> str:
    """Code of an expression in x, made an array of x's shape even when constant."""
    return f"jnp.broadcast_to({code}, x.shape).astype(x.dtype)"


def _piecewise_call(pieces: list[sp.Expr], printer: KernelPrinter) -> str:
    lambdas = ", ".join(f"lambda x: {printer.doprint(prepare(p))}" for p in pieces)
    return f"_piecewise(x, ({lambdas}))"


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
    if any("_special." in line for line in body):
        body.insert(0, f"{INDENT}from dualcalc.runtime import special as _special\n")
    return "\n".join(lines + body)


def _imports_into(source: str, printer: KernelPrinter) -> str:
    """Fill the optional import lines the printed code needs."""
    lines = []
    if printer.usage.scipy_special:
        lines.append("import jax.scipy.special as jsp")
    block = "\n".join(lines)
    source = source.replace("{IMPORTS}\n", block + "\n" if block else "", 1)
    return source.rstrip("\n") + "\n"

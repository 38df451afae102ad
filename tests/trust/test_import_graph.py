"""Imports run one way: expression -> derivation -> codegen -> compiler -> runtime -> features ->
learn -> cli. The graph is read from the source with ``ast`` (no module is imported), counting
module-level and function-level imports alike; ``if TYPE_CHECKING:`` blocks are not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dualcalc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join([*base, child.module] if child.module else base)
                else:
                    module = child.module or ""
                # "from pkg import sub" names the module pkg.sub; other names live in pkg
                found.extend((f"{module}.{alias.name}", top) for alias in child.names)
            inner = top and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            visit(child, inner)

    visit(tree, True)
    return found


def _graph() -> dict[str, dict[str, bool]]:
    """module -> {imported dualcalc module or external top-level name: any import at top}."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, bool]] = {}
    for name, path in files.items():
        edges: dict[str, bool] = {}
        for target, top in _imports(path):
            if target.startswith("dualcalc"):
                # "from dualcalc.x import y": y may be a module or a name in x
                while target not in files and "." in target:
                    target = target.rpartition(".")[0]
                if target == name or target not in files:
                    continue
            else:
                target = target.partition(".")[0]
            edges[target] = edges.get(target, False) or top
        graph[name] = edges
    return graph


GRAPH = _graph()


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "dualcalc"


def _internal(module: str) -> dict[str, bool]:
    return {t: top for t, top in GRAPH[module].items() if t.startswith("dualcalc")}


def test_no_import_cycle() -> None:
    """Depth-first search over every dualcalc -> dualcalc import (module or function level).

    Packages (``__init__``) are left out as targets when they only re-export: an edge into
    ``dualcalc`` or ``dualcalc.x`` means the package, whose lazy ``__getattr__`` is not an import.
    """
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        colour[node] = 1
        stack.append(node)
        for target in _internal(node):
            if colour.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in colour:
                visit(target)
        stack.pop()
        colour[node] = 2

    for module in sorted(GRAPH):
        if module not in colour:
            visit(module)


@pytest.mark.parametrize(
    "stage, forbidden",
    [
        ("expression", ("derivation", "codegen", "compiler", "runtime", "features", "learn")),
        ("derivation", ("codegen", "compiler", "runtime", "features", "learn", "cli")),
        ("codegen", ("derivation", "compiler", "features", "learn", "cli")),
        ("compiler", ("features", "learn", "cli")),
    ],
)
def test_stages_do_not_import_downstream(stage: str, forbidden: tuple[str, ...]) -> None:
    """A stage never imports (at any level) the stages after it.

    codegen may import ``dualcalc.runtime._support``: that package is the support code its
    generated modules import, copied next to them into ``generated/_support``. The exception
    is for that package only.
    """
    bad = [
        f"{module} -> {target}"
        for module in GRAPH
        if _stage(module) == stage
        for target in _internal(module)
        if _stage(target) in forbidden
        and not (stage == "codegen" and target.startswith("dualcalc.runtime._support"))
    ]
    assert not bad, "\n".join(bad)


def test_codegen_imports_no_derivation_numerics() -> None:
    """codegen prints: it imports only the expression layer and its own modules from dualcalc
    (plus the generated modules' support package), never quadrature, Hermite or JAX."""
    bad = [
        f"{module} -> {target}"
        for module in GRAPH
        if _stage(module) == "codegen"
        for target in GRAPH[module]
        if target in ("jax", "scipy", "mpmath")
        or (target.startswith("dualcalc.derivation") and "closed_form" not in target)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("stage", ["runtime", "features", "sketch"])
def test_runtime_imports_neither_sympy_nor_the_compiler_at_module_level(stage: str) -> None:
    bad = [
        f"{module} -> {target}"
        for module in GRAPH
        if _stage(module) == stage
        for target, top in GRAPH[module].items()
        if top and (target == "sympy" or _stage(target) in ("compiler", "derivation", "codegen"))
    ]
    assert not bad, "\n".join(bad)


def module_level_summary() -> dict[tuple[str, str], int]:
    """(stage, stage) -> number of module-level imports between them (for reports)."""
    counts: dict[tuple[str, str], int] = {}
    for module in GRAPH:
        for target, top in _internal(module).items():
            if top and _stage(target) != _stage(module):
                key = (_stage(module), _stage(target))
                counts[key] = counts.get(key, 0) + 1
    return counts

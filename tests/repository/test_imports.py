"""The shape of the package, read from its source: a pure core, and no import cycle anywhere.

Every ``import`` statement of every module under src/warmkeeper counts, wherever it stands: at the
top, under ``if TYPE_CHECKING:`` (a cycle hidden there is still two modules that need each other)
and inside functions (the CLI's lazy imports).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import warmkeeper

SOURCE = Path(warmkeeper.__file__).resolve().parent
PACKAGE = "warmkeeper"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def imported_names(name: str) -> Iterator[str]:
    """The absolute names of everything module ``name`` imports (``from a import b`` yields ``a.b``
    when that is a module of ours, else ``a``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield submodule if submodule in MODULES else target


def our_module(imported: str) -> str | None:
    """The module of ours an import loads (its longest known prefix), or None for a third party."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        targets = {our_module(imported) for imported in imported_names(name)}
        edges[name] = {t for t in targets if t is not None and t != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_kind_of_import() -> None:
    """The walker itself: top-level, TYPE_CHECKING and function-local imports are all edges."""
    edges = graph()
    assert "warmkeeper.aws.adapters" in edges["warmkeeper.aws.engine"]  # top level
    assert "warmkeeper.aws.clients" in edges["warmkeeper.aws.engine"]  # under TYPE_CHECKING
    assert "warmkeeper.aws.operations" in edges["warmkeeper.commands.ops_commands"]  # inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_imports_only_the_standard_library_and_itself() -> None:
    offenders = []
    for name in MODULES:
        if name != f"{PACKAGE}.core" and not name.startswith(f"{PACKAGE}.core."):
            continue
        for imported in imported_names(name):
            top = imported.split(".")[0]
            if imported == f"{PACKAGE}.core" or imported.startswith(f"{PACKAGE}.core."):
                continue
            if top == "__future__" or top in sys.stdlib_module_names:
                continue
            offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_no_import_cycle_under_src() -> None:
    assert cycles(graph()) == []


def test_only_the_entry_points_import_the_twin() -> None:
    """The twin builds the waker, the rollout and the rest of local/ and hands itself in; they
    declare Protocols of what they need of it (WakerBackend, RolloutTarget) and never import it."""
    twin = f"{PACKAGE}.local.twin"
    importers = sorted(name for name, targets in graph().items() if twin in targets)
    assert importers == [f"{PACKAGE}.commands.twin_commands"]


def infra_imports_of_deploy() -> set[tuple[str, str | None]]:
    """Each (deploy module, enclosing function or None at module level) that imports warmkeeper.infra."""
    found: set[tuple[str, str | None]] = set()

    def visit(node: ast.AST, module: str, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, module, child.name)
                continue
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                targets = [child.module, *(f"{child.module}.{alias.name}" for alias in child.names)]
            if any(t == f"{PACKAGE}.infra" or t.startswith(f"{PACKAGE}.infra.") for t in targets):
                found.add((module, function))
            visit(child, module, function)

    for name, path in MODULES.items():
        if name == f"{PACKAGE}.deploy" or name.startswith(f"{PACKAGE}.deploy."):
            visit(ast.parse(path.read_text(), filename=str(path)), name, None)
    return found


def test_deploy_imports_infra_only_lazily_to_synthesize() -> None:
    """The deploy tooling reads the names it shares with the CDK app from warmkeeper.naming; it needs
    the CDK app itself only to synthesize, through one import inside the function that loads it."""
    assert infra_imports_of_deploy() == {(f"{PACKAGE}.deploy.synthesis", "_infra")}

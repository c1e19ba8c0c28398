"""What the Lambda bundle holds: the `warmkeeper` modules its handler imports, found by reading the code.

The bundle is the import closure of the handler's module, restricted to the `warmkeeper` package:
every `import` and `from ... import` of a bundled module (at module level or inside a function, since a
function may run in the Lambda) is followed, and every package on the way brings its `__init__.py`
(Python runs it before the module). Imports under `if TYPE_CHECKING:` never run and are not followed.
Standard library and boto3 come from the Lambda runtime; anything else the closure reaches would fail
there, which tests/aws/test_bundle_imports.py checks.

Standard library only: the CDK app and the tests both call it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "warmkeeper"


def module_file(source_root: Path, module: str) -> Path | None:
    """The file of ``module`` under ``source_root`` (a module or a package), or None if it has none."""
    base = source_root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def imported_names(path: Path, module: str) -> set[str]:
    """The absolute names ``module`` (its file ``path``) imports at run time: modules and, for
    ``from X import y``, both ``X`` and ``X.y`` (``y`` may be a submodule or a name inside ``X``)."""
    is_package = path.name == "__init__.py"
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: index + 1]) for index in range(len(parts))]


def import_closure(source_root: Path, entry: str, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` that importing ``entry`` can run, with its file."""
    found: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        for module in _with_parents(name):
            if module in found or not (module == package or module.startswith(f"{package}.")):
                continue
            path = module_file(source_root, module)
            if path is None:  # a name inside a module (`from warmkeeper.core import Routing`)
                continue
            found[module] = path
            pending.extend(imported_names(path, module))
    return dict(sorted(found.items()))


def bundle_files(source_root: Path, entry: str) -> list[str]:
    """The files of the bundle, relative to ``source_root`` in POSIX form, sorted."""
    return sorted(
        path.relative_to(source_root).as_posix() for path in import_closure(source_root, entry).values()
    )


def exclude_patterns(files: list[str]) -> list[str]:
    """Glob exclusions for `Code.from_asset` that let in exactly ``files`` (later patterns win):
    exclude everything, then for each folder on the way let the folder in and exclude its content,
    then let each file in."""
    folders = sorted({parent for name in files for parent in _folders(name)}, key=lambda f: (f.count("/"), f))
    patterns = ["*"]
    for folder in folders:
        patterns += [f"!{folder}", f"{folder}/*"]
    patterns += [f"!{name}" for name in files]
    return patterns


def _folders(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]

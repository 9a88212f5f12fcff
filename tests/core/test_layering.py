"""The layers: pages -> lengen_core -> kernels, and no import cycle inside lengen_core.

Imports are read from the source with ``ast`` (every ``import`` and ``from ... import``
statement, the ones inside functions included, since a function-local import only
hides a cycle until that function runs; ``if TYPE_CHECKING:`` blocks are left out,
they never run). A package counts as the module its ``__init__.py`` is.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, resolved to dotted names (relative imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for block in ast.walk(tree):  # `if TYPE_CHECKING:` blocks never run: type-only imports make no cycle
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING":
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (names that are not modules are dropped)."""
    files = sorted((ROOT / package).rglob("*.py"))
    modules = {module_name(path): path for path in files}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
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


def test_lengen_core_has_no_import_cycle_counting_function_local_imports() -> None:
    edges = graph("lengen_core")
    # the package's own __init__ imports only its memory helper, so every module may import the package
    edges["lengen_core"] = {target for target in edges["lengen_core"]}
    found = cycles({name: {t for t in targets if t != "lengen_core"} for name, targets in edges.items()})
    assert found == [], found


def test_the_layers_point_one_way() -> None:
    def imported_packages(folder: str) -> dict[str, set[str]]:
        return {str(path.relative_to(ROOT)): {name.split(".")[0] for name in imports_of(path)} for path in (ROOT / folder).rglob("*.py")}

    for path, packages in imported_packages("lengen_core").items():
        assert not packages & {"streamlit", "pages", "tests", "bench"}, path
    for path, packages in imported_packages("kernels").items():
        assert not packages & {"streamlit", "pages", "lengen_core", "tests", "bench"}, path
    for path, packages in imported_packages("bench").items():
        assert "pages" not in packages, path

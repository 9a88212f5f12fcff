"""The layers: pages -> lengen_core -> kernels, and no import cycle inside lengen_core.

Imports are read from the source with ``ast``: every ``import`` and ``from ... import``
statement, the ones inside functions included, since a function-local import only
hides a cycle until that function runs, and the ones under ``if TYPE_CHECKING:`` too,
since a type-only import still ties the two modules together (neither can be read,
checked or moved without the other). A package counts as the module its ``__init__.py`` is.
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


def nested_imports(path: Path) -> set[str]:
    """The modules ``path`` imports anywhere but at its top level: in a function, a class, or an ``if`` block."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in top:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def test_config_imports_what_it_needs_at_the_top_and_not_the_data() -> None:
    """The config modules import the tasks (and the rest of lengen_core) at the top only, and never
    :mod:`lengen_core.data`, which sits above config: no import of either hides inside a function."""
    paths = sorted((ROOT / "lengen_core").glob("config*.py"))
    assert len(paths) > 1
    for path in paths:
        assert not {name for name in nested_imports(path) if name.startswith("lengen_core")}, path
        assert not {name for name in imports_of(path) if name == "lengen_core.data" or name.startswith("lengen_core.data.")}, path


def test_the_layers_point_one_way() -> None:
    def imported_packages(folder: str) -> dict[str, set[str]]:
        return {str(path.relative_to(ROOT)): {name.split(".")[0] for name in imports_of(path)} for path in (ROOT / folder).rglob("*.py")}

    for path, packages in imported_packages("lengen_core").items():
        assert not packages & {"streamlit", "pages", "tests", "bench"}, path
    for path, packages in imported_packages("kernels").items():
        assert not packages & {"streamlit", "pages", "lengen_core", "tests", "bench"}, path
    for folder in ("bench", "scripts"):  # tools use the library as installed: neither the app's pages nor the tests
        for path, packages in imported_packages(folder).items():
            assert not packages & {"pages", "tests"}, path


def edits_sys_path(path: Path) -> bool:
    """Whether ``path`` changes ``sys.path`` (``sys.path.insert``/``append``/``extend`` or an assignment to it)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        target = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if isinstance(target, ast.Attribute) and target.attr == "path" and isinstance(target.value, ast.Name) and target.value.id == "sys":
            return True
    return False


def test_no_script_edits_sys_path() -> None:
    """The project installs itself (``pip install -e .``): bench/, scripts/ and the app import lengen_core, kernels and
    bench's own helpers without path tricks."""
    paths = [ROOT / "app.py", *(path for folder in ("bench", "scripts", "pages", "lengen_core", "kernels") for path in (ROOT / folder).rglob("*.py"))]
    assert [str(path.relative_to(ROOT)) for path in paths if edits_sys_path(path)] == []


def test_the_sys_path_check_sees_an_edit(tmp_path: Path) -> None:
    edited = tmp_path / "edited.py"
    edited.write_text("import sys\nsys.path.insert(0, '..')\n")
    clean = tmp_path / "clean.py"
    clean.write_text("import sys\nprint(sys.path[0])\n")
    assert edits_sys_path(edited) and not edits_sys_path(clean)

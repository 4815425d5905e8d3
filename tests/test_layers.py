"""The package's import graph is layered (docs/ARCHITECTURE.md): no module imports from a layer above its own,
function-level imports included, and no modules import each other in a circle, within a layer either."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nas"
LAYERS = ("values and blocks", "spaces", "models", "latency", "accuracy", "search", "outputs", "command")


def layer_of(module: str) -> int:
    if module in ("nas.space", "nas.space_model", "nas.space_params"):
        return 1
    if module in ("nas.model", "nas.train", "nas.data", "nas.batches"):
        return 2
    for prefix, layer in (("nas.latency", 3), ("nas.accuracy", 4), ("nas.search", 5), ("nas.cli", 7)):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    if module in ("nas.report", "nas.export"):
        return 6
    if module == "nas.__main__":
        return 7
    return 0  # arch, layer, blocks (torch only inside module builders), cost, errors, fileio, stats, progress


def imported(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """Every package import in a module, of every kind: ``from nas.x import y``, ``import nas.x`` and
    ``importlib.import_module("nas.x")`` with a literal name; as (module, names imported from it, line)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nas"):
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("nas")]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and node.args[0].value.startswith("nas")):
            found.append((node.args[0].value, [], node.lineno))
    return found


def test_the_import_scan_sees_every_kind_of_import() -> None:
    tree = ast.parse("import nas.search.run\nimport importlib\nimportlib.import_module('nas.cli')\n"
                     "from nas.arch import Arch\n")
    assert sorted((line, m) for m, _, line in imported(tree)) == [(1, "nas.search.run"), (3, "nas.cli"), (4, "nas.arch")]


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        if module == "nas":
            continue  # the package facade re-exports the public API
        for target, _, line in imported(ast.parse(path.read_text())):
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)]}) imports {target} "
                              f"({LAYERS[layer_of(target)]}), line {line}")
    assert not upward, "\n".join(upward)
    assert layer_of("nas.search.run") > layer_of("nas.latency.table") > layer_of("nas.arch")  # the map is live


def _imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file, type-checking imports included)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, names, _ in imported(ast.parse(path.read_text())):
            graph[module].update(f"{target}.{name}" for name in names if f"{target}.{name}" in modules)
            if target in modules and (not names or not all(f"{target}.{name}" in modules for name in names)):
                graph[module].add(target)
    return graph


def test_no_import_circle() -> None:
    graph = _imports()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    circles: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert graph["nas.search.run"] and not circles, "\n".join(circles)

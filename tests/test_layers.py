"""The package's import graph is layered (docs/ARCHITECTURE.md): no module imports from a layer above its own,
function-level imports included, and no modules import each other in a circle, within a layer either."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nas"
LAYERS = ("values and blocks", "spaces", "models", "latency", "accuracy", "search", "outputs", "command")


def layer_of(module: str) -> int:
    if module in ("nas.space", "nas.space_model"):
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


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        if module == "nas":
            continue  # the package facade re-exports the public API
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nas"):
                if layer_of(node.module) > layer_of(module):
                    upward.append(f"{module} ({LAYERS[layer_of(module)]}) imports {node.module} "
                                  f"({LAYERS[layer_of(node.module)]}), line {node.lineno}")
    assert not upward, "\n".join(upward)
    assert layer_of("nas.search.run") > layer_of("nas.latency.table") > layer_of("nas.arch")  # the map is live


def _imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file, type-checking imports included)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nas"):
                graph[module].update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
                if node.module in modules and not all(f"{node.module}.{a.name}" in modules for a in node.names):
                    graph[module].add(node.module)
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

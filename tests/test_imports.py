"""sqlgpt's modules import one another without cycles: data flows one way through the package.

Every import statement counts, wherever it stands (module level, inside a function, under
TYPE_CHECKING), since each says that one module depends on another. A package's `__init__`
that Python runs on the way to a submodule is not counted as imported: `sqlgpt/__init__.py`
re-exports the facade, and counting it would make every module depend on everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each sqlgpt module -> the sqlgpt modules it imports."""
    paths = {module_name(path): path for path in (SOURCE / "sqlgpt").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: climb level - 1 packages from this one
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # `from package import submodule` imports the submodule; anything else, the module.
                imported |= {f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names}
        graph[name] = {target for target in imported if target in paths and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None; depth-first with three colours."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "sqlgpt.engines.sql.plan" in graph["sqlgpt.engines.sql.engine"]  # relative, module level
    assert "sqlgpt.train.bpe" in graph["sqlgpt.tokenizer"]  # inside a function
    assert "sqlgpt.engines.sql.dialects.base" in graph["sqlgpt.engines.sql.plan.model"]  # `from .dialects.base import`
    assert "sqlgpt.engines.sql.explain" in graph["sqlgpt.engines.sql.engine"]  # `from . import explain as ...`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)

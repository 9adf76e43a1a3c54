"""Import hygiene: no cycle among the top-level imports of hetero's modules (the op library
and the backends included), and no lazy ``import hetero`` inside the library to reach the
registry."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = {"hetero": ROOT / "hetero", "hetero.kernels": ROOT / "kernels",
         "hetero.backends": ROOT / "backends"}


def modules() -> dict[str, Path]:
    """Every module by its dotted name, as the package maps the three folders."""
    found = {}
    for prefix, folder in TREES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([prefix, *parts])] = path
    return found


def top_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements run at import: the module body, into ``try``/``if`` blocks, but not
    ``if TYPE_CHECKING:`` (annotations only) nor function or class bodies' functions."""
    out, todo = [], list(tree.body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, ast.If):
            if "TYPE_CHECKING" in ast.unparse(stmt.test):
                continue
            todo += stmt.body + stmt.orelse
        elif isinstance(stmt, ast.Try):
            todo += stmt.body + stmt.orelse + stmt.finalbody
            todo += [s for h in stmt.handlers for s in h.body]
        elif isinstance(stmt, ast.ClassDef):
            todo += [s for s in stmt.body if not isinstance(s, ast.FunctionDef)]
        else:
            out.append(stmt)
    return out


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The hetero modules ``name`` imports at load time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for stmt in top_level(ast.parse(path.read_text())):
        if isinstance(stmt, ast.Import):
            edges |= {a.name for a in stmt.names}
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                up = package.split(".")[:len(package.split(".")) - stmt.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            for alias in stmt.names:
                full = f"{base}.{alias.name}"
                edges.add(full if full in known else base)
    return {e for e in edges if e in known and e != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walker_sees_a_cycle_where_there_is_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_walker_reads_hetero_s_own_edges():
    edges = graph()
    assert "hetero.plan.pipeline" in edges["hetero"]
    assert "hetero.runtime" in edges["hetero.plan.pipeline"]
    assert "hetero.graph.ir" in edges["hetero.kernels.base"]


def test_no_import_cycle_among_hetero_s_modules():
    found = cycle(graph())
    assert found is None, "import cycle: " + " -> ".join(found)


def test_the_op_library_is_not_imported_by_the_cost_model_at_load():
    assert not any(m.startswith("hetero.kernels") for m in graph()["hetero.cost"])


def test_the_library_reaches_the_registry_without_a_lazy_import_hetero():
    lazy = []
    for name, path in modules().items():
        # command-line entry points
        if name.startswith("hetero.cli") or name == "hetero.backends.tvm.cross":
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                lazy += [f"{name}.{fn.name}" for stmt in ast.walk(fn)
                         if isinstance(stmt, ast.Import)
                         and any(a.name == "hetero" for a in stmt.names)]
    assert not lazy, f"lazy `import hetero` in {lazy}"

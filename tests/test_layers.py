"""The package's layering: imports point down, never in a circle, and files stay small.

Read with `ast` like the stage deps check (tests/test_stage_deps.py): an import inside a
function counts (it runs), one under `if TYPE_CHECKING:` does not.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_stage_deps import imported_modules, module_file, package_of, run_imports

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_LINES = 450  # past this, a module does more than one job


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """`{module: the ganops modules it imports}` over every file of the package. An edge goes
    to the imported module only: a package's `__init__` importing its children is no circle."""
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / "ganops").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        found = set[str]()
        for node in run_imports(tree):
            for module in imported_modules(node, package_of(path, SRC), SRC):
                if module.split(".")[0] == "ganops" and module_file(SRC, module) is not None:
                    found.add(module)
        graph[_module(path)] = found - {_module(path)}
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (`[a, b, ..., a]`), or `[]` when there is none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (circle := visit(target, [*path, target])):
                return circle
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (circle := visit(start, [start])):
            return circle
    return []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    todo, seen = [start], set[str]()
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def test_the_package_has_no_import_circle() -> None:
    assert find_circle(import_graph()) == []


def test_the_circle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_circle(graph) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_base_modules_import_nothing_above_them() -> None:
    graph = import_graph()
    assert graph["ganops.errors"] == set()
    assert graph["ganops.io"] <= {"ganops.errors"}
    assert graph["ganops.dotted"] == set()
    config = {name for name in graph if name.split(".")[:2] == ["ganops", "config"]}
    assert {"ganops.config", "ganops.config.sections", "ganops.config.restyle"} <= config
    for module in config:
        assert graph[module] <= {"ganops.errors", "ganops.dotted"} | config


def test_scoring_code_never_reaches_the_training_package() -> None:
    graph = import_graph()
    for module in [name for name in graph if name.startswith("ganops.metrics")]:
        training = sorted(
            m for m in reachable(graph, module) if m.startswith(("ganops.gan", "ganops.runs"))
        )
        assert training == [], f"{module} reaches {training}"


def test_tasks_share_the_run_machinery_not_each_other() -> None:
    """The translator imports nothing of the GAN (its loop, state or run), and the run
    machinery imports no task: a third task plugs in beside them."""
    graph = import_graph()
    for module in [name for name in graph if name.startswith("ganops.translation")]:
        gan = sorted(m for m in reachable(graph, module) if m.startswith("ganops.gan"))
        assert gan == [], f"{module} reaches {gan}"
    for module in [name for name in graph if name.startswith("ganops.runs")]:
        tasks = sorted(
            m
            for m in reachable(graph, module)
            if m.startswith(("ganops.gan", "ganops.translation", "ganops.tasks"))
        )
        assert tasks == [], f"{module} reaches {tasks}"


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in (SRC / "ganops").rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}

"""The layer rules of docs/architecture.md, checked on the source: which layer may import which,
no import cycle between modules (imports inside functions count), no module over 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "mtrec"

# Each layer -> the layers it may import (besides itself). "root" is mtrec/__init__.py's
# environment set-up (and __main__.py, which only calls the app).
ALLOWED = {
    "root": {"app"},
    "config": set(),
    "data": set(),
    "model": {"root"},
    "training": {"root", "data", "model", "evaluation"},
    "evaluation": {"root", "data", "model"},
    "tracking": {"root", "config"},
    "reports": {"root", "config", "tracking"},
    "serving": {"root", "data", "model"},
    "app": {"root", "config", "data", "model", "training", "evaluation", "tracking", "reports", "serving"},
}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "root"


def _imports(path: Path) -> set[str]:
    """Every ``mtrec`` module ``path`` imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mtrec"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mtrec"):
            found.add(node.module)
            # `from mtrec.x import y` may import the submodule mtrec.x.y
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_layers_import_only_what_the_architecture_allows() -> None:
    assert set(ALLOWED) == {_layer(name) for name, _ in _modules()}
    breaches = [
        f"{name} imports {imported}"
        for name, path in _modules()
        for imported in _imports(path)
        if _layer(imported) not in ALLOWED[_layer(name)] | {_layer(name)}
    ]
    assert breaches == []


def test_no_import_cycles_between_modules() -> None:
    modules = dict(_modules())
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()
    }
    # A package's __init__ re-exporting its own modules is not a cycle of the modules themselves.
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_module_over_400_lines() -> None:
    long = {name: n for name, path in _modules() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_pytest_runs_every_test_folder_and_file() -> None:
    import tomllib

    testpaths = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "testpaths"
    ]
    tests = REPO / "tests"
    expected = {
        str(p.relative_to(REPO))
        for p in tests.iterdir()
        if (p.is_dir() and any(p.glob("test_*.py"))) or (p.is_file() and p.name.startswith("test_"))
    }
    assert set(testpaths) == expected

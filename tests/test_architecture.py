"""The rules of docs/architecture.md, kept: the house is in wings, imports only go down (between the
modules and wings of a folder, and between folders), no circle of imports (type-checking ones included),
no folder of more than 16 modules, no module over 400 lines."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "batchnb"

#: Each folder's modules and wings on floors: a module imports only from its own floor or lower ones of
#: every folder it sits in. ``None``: stands apart (the emulator, checked on its own below; package data).
FLOORS: dict[str, dict[str, int | None]] = {
    "batchnb": {
        "errors": 0, "limits": 0, "_files": 0, "_gc": 0, "_outcome_pairs": 0, "contract": 0,
        "results": 1,
        "inputs": 2, "_events": 2,
        "views": 3, "_provider": 3, "frames": 3,
        "_batch_job": 4,
        "manager": 5,
        "__init__": 6, "__main__": 6, "cli": 6,
        "sim": None, "data": None,
    },
    "batchnb.cli": {"_exit": 0, "_read": 1, "_spec": 1, "_write": 1, "_client": 2, "_build": 2, "_status": 2,
                    "_cancel": 2, "_drive": 3, "_commands": 4, "__init__": 5},
    "batchnb.manager": {"plan": 0, "state": 1, "engine": 2, "front": 3, "__init__": 4},
    "batchnb.sim": {"_config": 0, "answers": 1, "rules": 2, "store": 3, "http": 4, "_simulator": 5,
                    "__init__": 6, "__main__": 6},
}
#: The folders whose every module must be placed (the others hold private modules of one job each).
WINGED = tuple(FLOORS)
MODULES = sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


NAMES = {dotted(p): p for p in MODULES}


@cache
def imports(path: Path) -> frozenset[str]:
    """The batchnb modules (and packages) ``path`` imports, lazily and under ``TYPE_CHECKING`` included."""
    tree = ast.parse(path.read_text())
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and node.module.split(".")[0] == "batchnb":
                module = node.module
            else:
                continue
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in NAMES)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "batchnb")
    return frozenset(found)


def placement(module: str, folder: str) -> str:
    """The name ``module`` has among ``folder``'s modules and wings (its first component below it)."""
    return module[len(folder) + 1 :].split(".")[0] if module != folder else "__init__"


def test_every_module_of_a_winged_folder_has_a_floor():
    for folder, floors in FLOORS.items():
        placed = {placement(name, folder) for name in NAMES if name.startswith(folder + ".") or name == folder}
        assert placed <= set(floors), f"{folder}: {sorted(placed - set(floors))} have no floor"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    """In every folder both modules sit in, the imported one is on the same floor or a lower one."""
    me = dotted(path)
    for target in imports(path):
        for folder, floors in FLOORS.items():
            inside = (me == folder or me.startswith(folder + ".")) and target.startswith(folder + ".")
            if not inside:
                continue
            mine, theirs = floors[placement(me, folder)], floors.get(placement(target, folder))
            if mine is None or theirs is None or placement(me, folder) == placement(target, folder):
                continue
            assert theirs <= mine, f"{me} ({folder} floor {mine}) imports {target} (floor {theirs})"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module: the circles of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_no_circle_of_imports():
    graph = {name: {t for t in imports(path) if t in NAMES and t != name} for name, path in NAMES.items()}
    assert circles(graph) == []


def test_the_circle_check_can_fail():
    """Two modules importing each other (one of them only for type checking) are a circle."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .front._front import BatchManager\n"
    found = [n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]
    assert "front._front" in found  # ast.walk sees imports under TYPE_CHECKING, as imports() reads them


@pytest.mark.parametrize("folder", sorted({p.parent for p in MODULES}), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_folder_holds_more_than_16_modules(folder):
    assert len(list(folder.glob("*.py"))) <= 16, f"{folder} holds {len(list(folder.glob('*.py')))} modules"


def test_the_emulator_imports_only_the_shared_contract_from_the_rest_of_batchnb():
    """sim/ stands apart like a server someone else wrote; the one exception is ``batchnb.contract``, the
    request contract it shares with the client (its public names only, not its private modules)."""
    for path in (PACKAGE / "sim").rglob("*.py"):
        outside = {m for m in imports(path) if m != "batchnb.sim" and not m.startswith("batchnb.sim.")}
        assert outside <= {"batchnb.contract"}, f"{path} imports {outside - {'batchnb.contract'}}"


def test_the_state_knows_nothing_of_the_engine_and_the_engine_nothing_of_the_front():
    """The manager's wings, said plainly (the floors above say it too)."""
    for path in MODULES:
        me = dotted(path)
        for lower, higher in (("state", "engine"), ("state", "front"), ("engine", "front"), ("plan", "state")):
            if me.startswith(f"batchnb.manager.{lower}"):
                assert not any(t.startswith(f"batchnb.manager.{higher}") for t in imports(path)), (me, higher)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400

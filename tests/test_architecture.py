"""The rules of docs/architecture.md, kept: imports only go down the floors, modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "batchnb"
FLOORS = {
    "errors": 0, "limits": 0, "_files": 0, "_gc": 0, "_outcome_pairs": 0, "contract": 0,
    "_inputs": 1, "_item": 1, "_result_rows": 1, "_sequences": 1, "_media": 1, "_usage": 1, "_pricing": 1, "_item_result": 1, "_requests": 1, "_events": 1,
    "_progress": 1, "_console": 1, "_readings": 1, "_request_check": 1,
    "_provider": 2, "frames": 2, "_panel": 2, "_panel_html": 2, "_kernel_clicks": 2,
    "_batch_job": 3,
    "manager": 4,
    "__init__": 5, "__main__": 5,
}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "sim" not in p.relative_to(PACKAGE).parts)


def top(path: Path) -> str:
    """The floor-table name of a module: its first component below batchnb/."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """batchnb modules ``path`` imports (top component), lazily imported ones included."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                targets = [parts] if node.module else [base + [alias.name] for alias in node.names]
            elif node.module and node.module.startswith("batchnb"):
                targets = [node.module.split(".")]
            else:
                continue
            names.update(t[1] for t in targets if len(t) > 1)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("batchnb."))
    return names


def test_every_module_has_a_floor():
    assert {top(p) for p in MODULES} <= set(FLOORS) | {"data"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    floor = FLOORS[top(path)]
    upward = {name for name in imported(path) if name != "sim" and FLOORS.get(name, 0) > floor}
    assert not upward, f"{path.relative_to(PACKAGE)} (floor {floor}) imports {upward} from higher floors"


def imported_modules(path: Path) -> set[str]:
    """Full dotted names of the batchnb modules ``path`` imports from (``batchnb.contract``, ``batchnb.sim._x``)."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                names.add(".".join(base + (node.module.split(".") if node.module else [])))
            elif node.module and node.module.split(".")[0] == "batchnb":
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "batchnb")
    return names


def test_the_emulator_imports_only_the_shared_contract_from_the_rest_of_batchnb():
    """sim/ stands apart like a server someone else wrote; the one exception is ``batchnb.contract``, the
    request contract it shares with the client (its public names only, not its private modules)."""
    for path in (PACKAGE / "sim").rglob("*.py"):
        outside = {m for m in imported_modules(path) if m != "batchnb.sim" and not m.startswith("batchnb.sim.")}
        assert outside <= {"batchnb.contract"}, f"{path} imports {outside - {'batchnb.contract'}}"
        assert {name for name in imported(path) if name != "sim"} <= {"contract"}, path


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400

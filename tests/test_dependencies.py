"""Every third-party module batchnb imports is declared in pyproject.toml (issue 23: ``typing_extensions`` was
imported by the contract but came only by way of the SDK's own requirements)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def imported_top_level() -> set[str]:
    """The top-level names of every module imported anywhere in batchnb/ (lazy imports included)."""
    found: set[str] = set()
    for path in (ROOT / "batchnb").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"batchnb", "__future__"}


def declared() -> set[str]:
    """Distribution names (normalised) of the dependencies and the optional ones (extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {normalise(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared():
    distributions = importlib.metadata.packages_distributions()
    wanted = declared()
    undeclared = {}
    for module in sorted(imported_top_level()):
        names = distributions.get(module, [module])
        if not {normalise(name) for name in names} & wanted:
            undeclared[module] = names
    assert undeclared == {}, f"imported by batchnb/ but not in pyproject.toml: {undeclared}"

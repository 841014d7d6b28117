"""Every ```python block of README.md and docs/*.md runs as written, and the guide builds in strict mode.

A small collector of our own rather than a plugin (pytest-markdown-docs): a page's blocks build on each
other (the page is read top to bottom), each page must start from nothing (a fresh namespace, a temporary
working directory, no ``ANTHROPIC_API_KEY``: the blocks run on the emulator), and a block followed by a
line ending ``prints:`` and a ```text block must print exactly that. A few dozen lines, no plugin conventions
to learn.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import batchnb

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclass
class Block:
    code: str
    line: int  # 1-based line of the opening fence
    prints: str | None  # the ```text block shown after it with "prints:", if any


def _fenced(lines: list[str]) -> list[tuple[str, int, int, str]]:
    """(language, first line index, index after the closing fence, dedented body) of each fenced block."""
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, j = m.group(1), m.group(2), i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : j])
        out.append((lang, i, j + 1, body + "\n"))
        i = j + 1
    return out


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    fenced = _fenced(lines)
    found = []
    for k, (lang, start, end, body) in enumerate(fenced):
        if lang != "python":
            continue
        prints = None
        between = (
            [line.strip() for line in lines[end : fenced[k + 1][1]] if line.strip()] if k + 1 < len(fenced) else []
        )
        if k + 1 < len(fenced) and fenced[k + 1][0] == "text" and len(between) == 1 and between[0].endswith("prints:"):
            prints = fenced[k + 1][3]
        found.append(Block(body, start + 1, prints))
    return found


PAGES_WITH_CODE = [p for p in PAGES if blocks(p)]


def test_the_readme_and_every_guide_page_are_collected() -> None:
    names = {p.name for p in PAGES_WITH_CODE}
    assert {"README.md", "batches.md", "notebooks.md", "dataframes.md", "cost.md", "emulator.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs_as_written(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks(page):
        where = f"{page.relative_to(ROOT)}:{block.line}"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, where, "exec"), namespace)  # the page's own code
        if block.prints is not None:
            got = "\n".join(line.rstrip() for line in out.getvalue().strip().splitlines())
            want = "\n".join(line.rstrip() for line in block.prints.strip().splitlines())
            assert got == want, f"{where} printed:\n{got}\n\nthe page shows:\n{want}"


def test_readme_is_a_landing_page() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_public_name_has_a_docstring() -> None:
    """The API reference is generated from the docstrings: a public name without one would be an empty entry."""
    missing = [n for n in batchnb.__all__ if not (getattr(batchnb, n).__doc__ or "").strip()]
    assert not missing


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is in the dev extra")
def test_the_guide_builds_in_strict_mode(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8").count("max_cost") > 0

"""The marimo notebook runs in CI: ``marimo export html`` executes every cell (on the emulator, no key) and
writes the page with each output and the panel's final state; a cell that raises makes it exit non-zero.

It runs where it stands, in ``notebooks/`` of a temporary copy of the checkout made a git repository, with
batchnb imported as ``pip install .`` leaves it (``tests/test_notebooks.py``'s fixtures), and must leave
``git status`` empty: the state beside the notebook and marimo's ``__marimo__/`` session cache are ignored.
The page is written outside that copy; marimo's own config and cache go to the test's temporary directory.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest

from . import test_notebooks as notebooks
from .test_notebooks import git

# test_notebooks.py's fixtures: no key (the emulator), notebooks/ left as it was, a copy of the checkout
offline, notebooks_dir_untouched = notebooks.offline, notebooks.notebooks_dir_untouched
installed, checkout = notebooks.installed, notebooks.checkout

pytest.importorskip("marimo")
pytestmark = pytest.mark.slow


def readable(page: str) -> str:
    """The page's text as a person reads it: JSON escapes decoded, HTML tags dropped, spaces collapsed."""
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", decoded)).replace("\xa0", " "))


def test_the_marimo_notebook_runs_in_marimo_export_html(checkout, tmp_path):
    page_path = tmp_path / "reviews_marimo.html"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", "notebooks/reviews_marimo.py", "-o", str(page_path)],
        cwd=checkout.parent, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    page = page_path.read_text()
    # what the cells printed
    assert "batches created so far: 3" in page and "batches created so far: 4" in page
    assert "350 items: 300 reused (answered before, not paid again), 50 new to send in 1 job;" in page
    assert re.search(r"350 rows, 350 classified, \$0\.\d+ in all", page)
    # the panels' final state, kept with the page (the anywidget's model, as marimo serialises it)
    assert page.count("marimo-anywidget") >= 2
    text = readable(page)
    assert "Items 300 / 300 300 succeeded · 0 failed · 0 in flight" in text
    assert "Items 350 / 350 350 succeeded · 0 failed · 0 in flight" in text
    assert "350 inputs: 300 answered before (reused, not paid again); 50 new request(s)" in text

    assert (checkout / "reviews_marimo.state.json").exists()  # beside the notebook, not where marimo started
    left = git(checkout.parent, "status", "--porcelain", "--untracked-files=all")
    assert left == "", f"marimo export html left files the ignore rules do not cover:\n{left}"

"""The marimo notebook runs in CI: ``marimo export html`` executes every cell (on the emulator, no key) and
writes the page with each output and the panel's final state; a cell that raises makes it exit non-zero.

It runs where it stands, in ``notebooks/`` of a temporary copy of the checkout made a git repository, with
batchnb imported as ``pip install .`` leaves it (``tests/test_notebooks.py``'s fixtures), and must leave
``git status`` empty: the state beside the notebook and marimo's ``__marimo__/`` session cache are ignored.
The page is written outside that copy; marimo's own config and cache go to the test's temporary directory.
A second test opens such a page in Chromium and reads both panels' final state there.
"""

from __future__ import annotations

import html
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import test_notebooks as notebooks
from .test_browser import CHROMIUM
from .test_notebooks import NOTEBOOKS, git

# test_notebooks.py's fixtures: no key (the emulator), notebooks/ left as it was, a copy of the checkout
offline, notebooks_dir_untouched = notebooks.offline, notebooks.notebooks_dir_untouched
installed, checkout = notebooks.installed, notebooks.checkout

# marimo is never imported in this process: importing it writes a log file under the user's cache directory
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("marimo") is None, reason="marimo is in the dev extra")]


def readable(page: str) -> str:
    """The page's text as a person reads it: JSON escapes decoded, HTML tags dropped, spaces collapsed."""
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", decoded)).replace("\xa0", " "))


def export_html(notebook: str, cwd: Path, page_path: Path, tmp_path: Path) -> str:
    """``marimo export html`` (it runs every cell), marimo's config and cache in ``tmp_path``; the page."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run([sys.executable, "-m", "marimo", "export", "html", notebook, "-o", str(page_path)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return page_path.read_text()


def test_the_marimo_notebook_runs_in_marimo_export_html(checkout, tmp_path):
    # from the repository's root, as the guide says
    page = export_html("notebooks/reviews_marimo.py", checkout.parent, tmp_path / "reviews_marimo.html", tmp_path)
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


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_the_exported_page_shows_both_panels_final_state(tmp_path):
    """The page draws the panels from their kept state, in Chromium; marimo's front end, which the page loads
    from its CDN, is served from the installed marimo instead (no network)."""
    from playwright.sync_api import expect, sync_playwright

    shutil.copy(NOTEBOOKS / "reviews_marimo.py", tmp_path / "reviews_marimo.py")
    page_path = tmp_path / "reviews_marimo.html"
    export_html("reviews_marimo.py", tmp_path, page_path, tmp_path)
    spec = importlib.util.find_spec("marimo")
    assert spec is not None and spec.submodule_search_locations
    static = Path(spec.submodule_search_locations[0]) / "_static"
    cdn = f"https://cdn.jsdelivr.net/npm/@marimo-team/frontend@{importlib.metadata.version('marimo')}/dist/"
    elsewhere: list[str] = []

    def serve(route):
        url = route.request.url
        if url.startswith(cdn) and (static / url[len(cdn):].split("?")[0]).is_file():
            return route.fulfill(path=str(static / url[len(cdn):].split("?")[0]))
        if url.startswith(("file:", "data:", "blob:")):
            return route.continue_()
        elsewhere.append(url)
        return route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", serve)
            page.goto(page_path.as_uri())
            panels = page.locator(".batchnb-live")
            expect(panels).to_have_count(2, timeout=60_000)
            items = [panels.nth(i).locator(".batchnb-part[data-part=items]") for i in (0, 1)]
            expect(items[0]).to_contain_text("300 / 300  300 succeeded · 0 failed · 0 in flight")
            expect(items[1]).to_contain_text("350 / 350  350 succeeded · 0 failed · 0 in flight")
            expect(panels.nth(1).locator(".batchnb-part[data-part=status]")).to_contain_text("done")
            expect(panels.nth(0).get_by_role("button", name="Retry failed")).to_be_disabled()
        finally:
            browser.close()
    assert elsewhere == []

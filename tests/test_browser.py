"""The panel in a real browser: JupyterLab on 127.0.0.1, headless Debian Chromium driven by Playwright.

Skipped where Chromium is absent; ``.ci/run`` installs it, so CI runs it. The screenshots are saved in a
temporary directory, so a run leaves the checkout untouched; ``BATCHNB_UPDATE_SCREENSHOTS=1 pytest
tests/test_browser.py`` also copies them over the tracked ``docs/panel.png`` and ``docs/panel-after-retry.png``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from batchnb.sim import Simulator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
UPDATE_SCREENSHOTS = os.environ.get("BATCHNB_UPDATE_SCREENSHOTS") == "1"
FAILING = [3, 7, 12, 18, 25]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")]

NOTEBOOK = f'''
from batchnb import BatchManager
from batchnb.sim import Faults, Simulator

FAILING = {set(FAILING)!r}

def outcome(custom_id, params):
    index = int(params["messages"][0]["content"].split()[1].rstrip(":"))
    return "errored:overloaded_error" if index in FAILING and "-r" not in custom_id else None

sim = Simulator(latency=0.5, faults=Faults(item_outcome=outcome), store_path="browser.sim").start()
manager = BatchManager(messages=[f"item {{i}}: tell me something" for i in range(30)], model="claude-haiku-4-5",
                       client=sim.client(), items_per_job=10, max_parallel_jobs=3, max_cost=0.05, poll_interval=0.1)
manager.start()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def jupyterlab(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NOTEBOOK)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "panel.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--allow-root", "--ServerApp.disable_check_xsrf=True"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
    try:
        yield base, token, tmp_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_panel_renders_in_jupyterlab_and_retry_resubmits_the_failed_items(jupyterlab, tmp_path_factory):
    from playwright.sync_api import expect, sync_playwright

    base, token, workdir = jupyterlab
    shots = tmp_path_factory.mktemp("screenshots")  # outside JupyterLab's root: its file browser stays as it was
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/lab/tree/panel.ipynb?token={token}")
        page.locator(".jp-Notebook").wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=60_000)  # kernel ready
        page.locator(".jp-Cell .jp-InputArea-editor").first.click()
        page.keyboard.press("Shift+Enter")  # run the cell: the manager starts and shows its panel

        panel = page.locator(".batchnb-live").first  # the anywidget's view
        panel.wait_for(timeout=60_000)
        items_label = panel.locator(".batchnb-part[data-part=items]")
        expect(items_label).to_contain_text(f"25 succeeded · {len(FAILING)} failed · 0 in flight", timeout=60_000)
        expect(panel.locator(".batchnb-part[data-part=cost]")).to_contain_text("spent")
        expect(panel.locator(".batchnb-part[data-part=cost]")).to_contain_text("limit $0.0500")
        assert panel.locator(".batchnb-bar").count() == 3  # items, jobs, cost: stacked HTML bars
        group = panel.locator("details.batchnb-failed-group")
        expect(group).to_have_count(1)
        expect(group.locator("summary")).to_have_text(f"errored:overloaded_error — {len(FAILING)} item(s)")
        group.locator("summary").click()  # open the group: its rows
        rows = panel.locator("table.batchnb-failed tbody tr")
        expect(rows).to_have_count(len(FAILING))
        assert [int(rows.nth(i).locator("td").first.inner_text()) for i in range(len(FAILING))] == FAILING
        retry = panel.get_by_role("button", name=re.compile("Retry failed"))
        assert retry.get_attribute("data-action") == "retry"
        expect(retry).to_be_enabled()
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()  # JupyterLab's "get notified about news?" toast would cover the panel
        panel.screenshot(path=str(shots / "panel.png"))

        panel.get_by_role("button", name=re.compile("^Failed rows as DataFrame")).click()
        frame = panel.locator(".batchnb-part[data-part=frame] table")  # manager.failed(), under the panel
        expect(frame.locator("tbody tr")).to_have_count(len(FAILING))
        expect(frame).to_contain_text("errored:overloaded_error")
        retry.click()
        final = page.locator(".batchnb-panel")  # all done, nothing left to click: the panel turns static HTML
        expect(final).to_contain_text("30 succeeded · 0 failed · 0 in flight", timeout=60_000)
        expect(final.locator("table.batchnb-failed")).to_have_count(0)
        final.screenshot(path=str(shots / "panel-after-retry.png"))
        browser.close()

    with Simulator(store_path=workdir / "browser.sim") as sim:  # what the kernel's emulator recorded
        counters = sim.counters
    retried = sorted(int(c.split("-")[1]) for c in counters.submissions if c.endswith("-r1"))
    assert retried == FAILING and counters.duplicate_submissions == []
    if UPDATE_SCREENSHOTS:  # only from a run that passed
        DOCS.mkdir(exist_ok=True)
        for shot in sorted(shots.iterdir()):
            shutil.copyfile(shot, DOCS / shot.name)

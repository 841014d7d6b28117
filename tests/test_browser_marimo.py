"""The panel under a person's hands in marimo (issue #25): ``marimo edit`` on 127.0.0.1, headless Debian
Chromium driven by Playwright, as ``test_browser_hands.py`` does in JupyterLab (its browser, helpers and
emulator set-ups are reused).

Each test writes its notebook into a temporary directory and opens it in a ``marimo edit`` server of its own
(its own kernel), with marimo's user config, cache and state in that directory too; marimo runs every cell
when the notebook opens (``auto_instantiate``). What the emulator counted is read from its store once the
server is gone. Nothing waits for a time: items are held by the emulator (``Faults.item_outcome``) and a
blocking cell of the user's waits for a file the test drops; timeouts only stop a broken test.

Screenshots go to a temporary directory; ``BATCHNB_UPDATE_SCREENSHOTS=1`` also copies the guide's to
``docs/marimo-*.png`` (from tests that passed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from batchnb.sim import Simulator

from . import test_browser_hands as hands
from .test_browser import CHROMIUM, free_port
from .test_browser_hands import (
    FAIL_ONCE,
    FAILING,
    HANG,
    HELPERS,
    HOLD_ALL,
    HOLD_FIRST_ATTEMPT,
    IMPORTS,
    button,
    line,
    publish,
    retried,
    status,
)

browser = hands.browser  # the fixtures of the JupyterLab hands tests: one Chromium for the module
shots = hands.shots  # screenshots, outside every notebook's folder

# marimo runs in the servers the tests start, never in this process (importing it writes under ~/.cache)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
              pytest.mark.skipif(importlib.util.find_spec("marimo") is None, reason="marimo is in the dev extra")]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def marimo_file(cells: list[str]) -> str:
    """A marimo notebook of these cells (marimo reads each cell's names from its code)."""
    parts = ['import marimo\n\napp = marimo.App(width="medium")\n']
    for source in cells:
        parts.append("\n\n@app.cell\ndef _():\n" + textwrap.indent(source.strip() + "\n", "    ") + "    return\n")
    parts.append('\n\nif __name__ == "__main__":\n    app.run()\n')
    return "".join(parts)


class Marimo:
    """One notebook in a ``marimo edit`` server of its own (loopback only), opened in a page of the browser."""

    def __init__(self, root: Path, browser: Any, name: str, *, cells: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.root, self.name = root, name
        if cells is not None:
            (root / name).write_text(marimo_file(cells))
        (root / "hands_helpers.py").write_text(HELPERS)
        home = root.parent / f"{root.name}-marimo-home"  # marimo's config, cache and state: not the user's
        (home / "config" / "marimo").mkdir(parents=True, exist_ok=True)
        (home / "config" / "marimo" / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        environment.update(XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
                           XDG_STATE_HOME=str(home / "state"), **(env or {}))
        port = free_port()
        self.log_path = home / "server.log"
        with open(self.log_path, "wb") as log:
            # a session of its own: the server and the kernel it starts are ended together (close())
            self.server = subprocess.Popen(
                [sys.executable, "-m", "marimo", "edit", name, "--headless", "--no-token", "--host", "127.0.0.1",
                 "-p", str(port), "--skip-update-check", "--no-sandbox"],
                cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.page: Any = None
        try:
            self.base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + HANG / 1000
            while True:
                try:
                    urllib.request.urlopen(f"{self.base}/health", timeout=2)
                    break
                except OSError:
                    assert self.server.poll() is None, self.log_path.read_text()[-2000:]
                    assert time.monotonic() < deadline, "marimo did not start"
                    time.sleep(0.3)
            self.errors: list[str] = []  # the page's console errors and uncaught exceptions
            self.page = browser.new_page(viewport={"width": 1280, "height": 1000})
            self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
            self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
            self.page.goto(self.base)
            self.cell(0).wait_for(timeout=HANG)
        except BaseException:
            self.close()
            raise

    def cell(self, i: int) -> Any:
        return self.page.locator("div[data-cell-id]").nth(i)

    def output(self, i: int) -> Any:
        return self.cell(i).locator("[data-cell-role=output]").first

    def console(self, i: int) -> Any:
        return self.cell(i).get_by_test_id("console-output-area").first

    def cell_status(self, i: int) -> Any:
        return self.cell(i).get_by_test_id("cell-status").first

    def panel(self, i: int) -> Any:
        """The live panel (the anywidget's view) in the output of cell ``i``."""
        return self.output(i).locator(".batchnb-live").first

    def run(self, i: int) -> None:
        """Run cell ``i`` again with its run button, as a person does."""
        self.cell(i).hover()
        self.cell(i).get_by_test_id("run-button").first.click()

    def counters(self, i: int) -> dict[str, Any]:
        """Run cell ``i`` (``REPORT``) again and return what it printed: the emulator's counters now."""
        from playwright.sync_api import expect

        (self.root / "report-now").touch()
        self.run(i)
        expect(self.console(i)).to_contain_text("COUNTERS", timeout=HANG)
        match = re.search(r"^COUNTERS (\{.*\})$", self.console(i).inner_text(), re.M)
        assert match, self.console(i).inner_text()
        return dict(json.loads(match.group(1)))

    def shoot(self, path: Path, i: int) -> None:
        self.cell(i).scroll_into_view_if_needed()
        self.cell(i).screenshot(path=str(path))

    def assert_no_page_errors(self) -> None:
        assert not [e for e in self.errors if "Failed to load resource" not in e], self.errors

    def close(self) -> None:
        """Close the page, then end the server and its kernel (its session, by its id)."""
        try:
            if self.page is not None:
                self.page.close()
        finally:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.server.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.server.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:  # the kernel too, if it outlived its server
                os.killpg(self.server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture()
def root(tmp_path) -> Path:
    root = tmp_path / "marimo"
    root.mkdir()
    return root


#: A cell printing the emulator's counters when the test asks (``Marimo.counters``); nothing when the notebook opens.
REPORT = '''if os.path.exists("report-now"):
    os.remove("report-now")
    report(sim, manager)'''


def counters_of(store: Path) -> Any:
    """What the emulator's store kept (its batches and submissions), read once the kernel is gone."""
    with Simulator(store_path=store) as sim:
        return sim.counters


# ================================================================================================ tests

def test_the_reviews_notebook_runs_in_marimo_edit_with_its_live_panels(root, browser, shots):
    from playwright.sync_api import expect

    shutil.copy(NOTEBOOKS / "reviews_marimo.py", root / "reviews_marimo.py")
    nb = Marimo(root, browser, "reviews_marimo.py", env={"BATCHNB_DEMO_LATENCY": "1.0"})
    try:
        panels = nb.page.locator(".batchnb-live")
        expect(panels).to_have_count(2, timeout=HANG)  # start()'s, then run(print_progress=True)'s
        first, second = panels.nth(0), panels.nth(1)
        expect(line(first, 1)).to_contain_text("300 / 300", timeout=HANG)
        expect(line(first, 1)).to_contain_text("300 succeeded · 0 failed · 0 in flight")
        expect(status(first)).to_contain_text("done")
        expect(line(second, 1)).to_contain_text("350 / 350", timeout=HANG)
        expect(second).to_contain_text("350 inputs: 300 answered before (reused, not paid again); 50 new request(s)")
        expect(status(second)).to_contain_text("done")
        expect(button(first, "Retry failed")).to_be_disabled()  # nothing failed
        page_text = nb.page.locator("body")
        expect(page_text).to_contain_text("batches created so far: 3", timeout=HANG)
        expect(page_text).to_contain_text("batches created so far: 4", timeout=HANG)
        expect(page_text).to_contain_text("350 rows, 350 classified", timeout=HANG)
        start_cell = nb.page.locator("div[data-cell-id]").filter(has=nb.page.locator(".batchnb-live")).first
        start_cell.scroll_into_view_if_needed()
        start_cell.screenshot(path=str(shots / "marimo-reviews.png"))
        nb.assert_no_page_errors()
    finally:
        nb.close()
    assert (root / "reviews_marimo.state.json").exists()  # beside the notebook (mo.notebook_dir())
    publish(shots, "marimo-reviews.png")


def test_retry_clicked_while_a_cell_runs_is_queued_and_acts_after_it(root, browser, shots):
    """marimo takes a widget's messages between cells: a click during a running cell waits, and its button
    says so; when the cell ends the click acts."""
    from playwright.sync_api import expect

    nb = Marimo(root, browser, "queued.py", cells=[
        IMPORTS + "\n" + FAIL_ONCE + "\nsim = Simulator(latency=0.2, faults=Faults(item_outcome=outcome), "
        'store_path="queued.sim").start()\n'
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)\n"
        "manager.start()",
        '''retried = []
while not os.path.exists("go-queued"):  # the user's own long cell: the test ends it
    retried = [c for c in sim.counters.submissions if c.endswith("-r1")]
    time.sleep(0.05)
os.remove("go-queued")
print("RETRIED WHILE BUSY", retried, manager.stats.failed)''',
    ])
    try:
        panel = nb.panel(0)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed", timeout=HANG)
        expect(status(panel)).to_contain_text("done")
        expect(nb.cell_status(1)).to_have_attribute("data-status", "running")
        retry = button(panel, "Retry failed")
        expect(retry).to_be_enabled()
        retry.click()
        expect(retry).to_have_class(re.compile(r"\bbatchnb-queued\b"))
        after = retry.evaluate("el => getComputedStyle(el, '::after').content")
        assert after == '" · queued: the kernel is busy"', after
        nb.shoot(shots / "marimo-queued.png", 0)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed")  # nothing happened yet
        (root / "go-queued").touch()
        expect(nb.console(1)).to_contain_text("RETRIED WHILE BUSY [] 3", timeout=HANG)
        expect(line(panel, 1)).to_contain_text("20 succeeded · 0 failed", timeout=HANG)  # then the click acted
        expect(status(panel)).to_contain_text("done")
        expect(retry).not_to_have_class(re.compile(r"\bbatchnb-queued\b"))
        expect(retry).to_be_disabled()
        nb.shoot(shots / "marimo-retried.png", 0)
        nb.assert_no_page_errors()
    finally:
        nb.close()
    counters = counters_of(root / "queued.sim")
    assert retried({"submissions": counters.submissions}) == FAILING and counters.duplicate_submissions == []
    publish(shots, "marimo-queued.png")


def test_cancel_and_resume_act_at_once_while_no_cell_runs(root, browser, shots):
    from playwright.sync_api import expect

    nb = Marimo(root, browser, "cancel.py", cells=[
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_FIRST_ATTEMPT}, "
        'store_path="cancel.sim").start()\n'
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "manager.start()  # returns at once; the panel is this cell's output",
        REPORT,
    ])
    try:
        panel = nb.panel(1)
        expect(line(panel, 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)  # both batches held
        expect(line(panel, 1)).to_contain_text("0 succeeded · 0 failed · 20 in flight")
        expect(status(panel)).to_contain_text("running")
        expect(button(panel, "Resume")).to_be_disabled()
        nb.shoot(shots / "marimo-running.png", 1)
        button(panel, "Cancel").click()
        expect(status(panel)).to_contain_text("canceled — 2 batch(es) in flight canceled", timeout=HANG)
        resume = button(panel, "Resume")
        expect(resume).to_be_enabled()
        expect(button(panel, "Cancel")).to_be_disabled()
        nb.shoot(shots / "marimo-canceled.png", 1)
        resume.click()
        expect(line(panel, 1)).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(status(panel)).to_contain_text("done")
        counters = nb.counters(2)
        assert counters["creates"] == 4 and sorted(counters["cancels"].values()) == [1, 1]
        assert counters["duplicates"] == [] and set(counters["submissions"].values()) == {1}
        assert counters["outcome"] == "finished" and counters["succeeded"] == 20
        nb.assert_no_page_errors()
    finally:
        nb.close()


def test_the_panel_shown_again_by_a_cell_run_again_is_live(root, browser):
    """marimo closes a widget's comm when the cell that opened it runs again; the manager's panel lives on,
    so the cell shows it again with a fresh comm: its clicks act and its view follows the run."""
    from playwright.sync_api import expect

    nb = Marimo(root, browser, "again.py", cells=[
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_ALL}, store_path=\"again.sim\").start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)\n"
        "manager.start(show=False)",
        "manager  # a manager as a cell's value: its live panel",
        REPORT,
    ])
    try:
        first = nb.panel(1)
        expect(line(first, 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)
        first.evaluate("el => { el.dataset.shownBefore = '1'; }")
        nb.run(1)
        panel = nb.output(1).locator(".batchnb-live:not([data-shown-before])")
        expect(panel).to_have_count(1, timeout=HANG)  # the cell's new output
        expect(status(panel)).to_contain_text("running")
        button(panel, "Cancel").click()
        expect(status(panel)).to_contain_text("canceled — 2 batch(es) in flight canceled", timeout=HANG)
        counters = nb.counters(2)
        assert sorted(counters["cancels"].values()) == [1, 1] and counters["duplicates"] == []
        assert counters["outcome"] == "canceled"
        nb.assert_no_page_errors()
    finally:
        nb.close()


def test_interrupting_run_cancels_its_batches_and_the_panel_shown_again_resumes(root, browser, shots):
    """marimo's interrupt (■) is Ctrl-C: in ``run()`` it cancels the batches in flight. marimo then shows the
    error where the cell's panel was; a cell holding the manager, run again, shows the panel with Resume."""
    from playwright.sync_api import expect

    nb = Marimo(root, browser, "interrupt-run.py", cells=[
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_FIRST_ATTEMPT}).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "results = manager.run(print_progress=True)",
        "manager",
        REPORT,
    ])
    try:
        expect(line(nb.panel(1), 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)
        expect(nb.cell_status(1)).to_have_attribute("data-status", "running")
        nb.page.get_by_test_id("interrupt-button").click()
        expect(nb.output(1)).to_contain_text("This cell was interrupted", timeout=HANG)
        expect(nb.output(1).locator(".batchnb-live")).to_have_count(0)  # the error instead of the panel
        expect(nb.cell(1)).to_contain_text("run() interrupted by Ctrl-C: 2 batch(es) in flight canceled")
        nb.run(2)
        panel = nb.panel(2)
        expect(status(panel)).to_contain_text("interrupted — by Ctrl-C: 2 batch(es) in flight canceled",
                                              timeout=HANG)
        nb.shoot(shots / "marimo-interrupted.png", 2)
        button(panel, "Resume").click()
        expect(line(panel, 1)).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(status(panel)).to_contain_text("done")
        counters = nb.counters(3)
        assert counters["creates"] == 4 and sorted(counters["cancels"].values()) == [1, 1]
        assert counters["duplicates"] == [] and counters["outcome"] == "finished"
        nb.assert_no_page_errors()
    finally:
        nb.close()


def test_interrupting_wait_leaves_the_run_going(root, browser):
    from playwright.sync_api import expect

    nb = Marimo(root, browser, "interrupt-wait.py", cells=[
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_ALL}).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)\n"
        "manager.start()",
        "results = manager.wait()",
        'print("DONE", manager.done, "RUNNING", manager.stats.running)',
        REPORT,
    ])
    try:
        panel = nb.panel(0)
        expect(line(panel, 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)
        expect(nb.cell_status(1)).to_have_attribute("data-status", "running")
        nb.page.get_by_test_id("interrupt-button").click()
        expect(nb.cell(1)).to_contain_text("wait() interrupted; the run goes on in the background", timeout=HANG)
        nb.run(2)
        expect(nb.console(2)).to_contain_text("DONE False RUNNING True", timeout=HANG)
        expect(status(panel)).to_contain_text("running")
        button(panel, "Cancel").click()  # the kernel is free: the click acts at once
        expect(status(panel)).to_contain_text("canceled — 2 batch(es) in flight canceled", timeout=HANG)
        counters = nb.counters(3)
        assert counters["creates"] == 2 and sorted(counters["cancels"].values()) == [1, 1]
        assert counters["outcome"] == "canceled"
        nb.assert_no_page_errors()
    finally:
        nb.close()

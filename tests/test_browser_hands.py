"""The panel and the run under a person's hands, in a real browser (issue #10): JupyterLab on 127.0.0.1,
headless Debian Chromium driven by Playwright.

Each test opens its own notebook (its own kernel and emulator) in one JupyterLab server and one browser
shared by the module, and acts as an analyst would: clicks the panel's buttons while the kernel's main
thread is busy (``run(print_progress=True)``, ``wait()``, a blocking cell of the user's own), interrupts
the kernel from the Kernel menu, re-runs the cell that builds the manager. What happened is read from the
emulator's counters (a cell prints them as one JSON line) and from the notebook as displayed.

Nothing waits for a time: emulator items are held (``Faults.item_outcome`` -> ``"hold"``) or their results
gated (an ``on_request`` hook that blocks until a cell opens the gate); a user's blocking cell waits for a
file the test drops. Each step is taken once a state is reached; timeouts only stop a broken test. The
click -> "canceled" latencies are measured in the page's clock and printed, never asserted.

Screenshots go to a temporary directory; ``BATCHNB_UPDATE_SCREENSHOTS=1`` also copies them to
``docs/hands-*.png`` (from tests that passed).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from .test_browser import CHROMIUM, DOCS, UPDATE_SCREENSHOTS, free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")]

HANG = 60_000  # ms: a guard against a hang, never a claim about speed
FAILING = [3, 7, 12]

# Written next to the notebooks: what every notebook imports, so that its cells read as an analyst's.
HELPERS = '''"""tests/test_browser_hands.py's helpers: the options of every manager, and what the emulator counted."""
import json

OPTIONS = dict(model="claude-haiku-4-5", items_per_job=10, max_parallel_jobs=2, max_tokens=64, poll_interval=0.1)


def messages(n):
    return [f"item {i}: tell me something" for i in range(n)]


def report(sim, manager=None):
    """One line: COUNTERS {json} (the emulator's counters, and what the manager says of its run)."""
    c = sim.counters
    out = dict(creates=c.creates, cancels=c.cancels, requests=c.requests_by_endpoint, submissions=c.submissions,
               duplicates=c.duplicate_submissions)
    if manager is not None:
        p, panel = manager.stats, manager.panel()
        out.update(done=manager.done, running=p.running, outcome=p.outcome, succeeded=p.succeeded,
                   failed=p.failed, remaining=p.remaining, served_at_once=panel.clicks_served_at_once,
                   panel_error=repr(panel.last_error))
    print("COUNTERS " + json.dumps(out, default=str))


def flag_when_main_waits(flag):
    """Create the file ``flag`` once the main thread is blocked in a manager's wait() (read from its stack),
    so that the test interrupts the kernel there and nowhere else."""
    import os, sys, threading, time

    main, where = threading.main_thread().ident, os.path.join("manager", "engine", "_lifecycle.py")

    def watch():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            while frame is not None:
                if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith(where):
                    open(flag, "w").close()
                    return
                frame = frame.f_back
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
'''

IMPORTS = '''import os, re, threading, time
from collections import Counter
from batchnb import BatchManager
from batchnb.sim import Faults, Simulator
from hands_helpers import OPTIONS, flag_when_main_waits, messages, report  # the test's helpers
'''
HOLD_ALL = 'Faults(item_outcome=lambda custom_id, params: "hold")'  # batches in progress until canceled
HOLD_FIRST_ATTEMPT = 'Faults(item_outcome=lambda custom_id, params: None if "-r" in custom_id else "hold")'
FAIL_ONCE = f'''FAILING = {FAILING!r}

def outcome(custom_id, params):  # these items fail on their first attempt
    index = int(params["messages"][0]["content"].split()[1].rstrip(":"))
    return "errored:overloaded_error" if index in FAILING and "-r" not in custom_id else None
'''
GATED = '''gate = threading.Event()  # results downloads wait for it: the run cannot finish until a cell opens it

def hold_results(event):
    if event.endpoint == "results" and event.phase == "received":
        gate.wait(600)
'''


# ================================================================================================ fixtures

@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """One JupyterLab server for the module, its root in a temporary directory."""
    root = tmp_path_factory.mktemp("lab")
    (root / "hands_helpers.py").write_text(HELPERS)
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    log_path = root.parent / f"{root.name}-jupyterlab.log"  # outside the root: the file browser stays as it was
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--allow-root", "--ServerApp.disable_check_xsrf=True"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            assert server.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
    try:
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # every expect() waits for a state, never races a clock: a loaded CI machine takes longer, not otherwise
    expect.set_options(timeout=HANG)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")  # outside JupyterLab's root


def publish(shots: Path, *names: str) -> None:
    """Copy a passing test's screenshots to docs/ when asked to."""
    if UPDATE_SCREENSHOTS:
        DOCS.mkdir(exist_ok=True)
        for name in names:
            shutil.copyfile(shots / name, DOCS / name)


# ================================================================================================ driving

class Notebook:
    """One notebook opened in a JupyterLab workspace of its own, with its own kernel."""

    def __init__(self, lab: tuple[str, str, Path], browser: Any, name: str, cells: list[str]) -> None:
        self.base, self.token, self.root = lab
        self.name = name
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source.strip()) for source in cells]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, self.root / f"{name}.ipynb")
        self.errors: list[str] = []  # the page's console errors and uncaught exceptions
        self.page = browser.new_page(viewport={"width": 1280, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        # a workspace of its own: JupyterLab does not reopen the other tests' notebooks beside this one
        self.page.goto(f"{self.base}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={self.token}")
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=HANG)
        self.kernel_is("Idle")
        no_news = self.page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()  # JupyterLab's "get notified about news?" toast would cover the panel

    def kernel_is(self, state: str) -> None:
        self.page.get_by_text(re.compile(rf"Python 3 \(ipykernel\) \| {state}")).wait_for(timeout=HANG)

    def cell(self, i: int) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(i)

    def output(self, i: int) -> Any:
        return self.cell(i).locator(".jp-OutputArea").first

    def run(self, i: int) -> None:
        """Run cell ``i`` as a person does: click into it, Shift+Enter."""
        self.cell(i).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def run_to_end(self, *cells: int) -> None:
        for i in cells:
            self.run(i)
            self.wait_finished(i)

    def wait_finished(self, i: int) -> None:
        """Until the cell's prompt shows its execution count ("[*]" while queued or running)."""
        self.page.wait_for_function("el => /\\[\\d+\\]/.test(el.textContent)",
                                    arg=self.cell(i).locator(".jp-InputPrompt").first.element_handle(),
                                    polling=50, timeout=HANG)

    def is_running(self, i: int) -> bool:
        return "*" in self.cell(i).locator(".jp-InputPrompt").first.inner_text()

    def counters(self, i: int) -> dict[str, Any]:
        """Run cell ``i`` (it calls ``report()``) and return what it printed."""
        self.run_to_end(i)
        text = self.output(i).inner_text()
        match = re.search(r"^COUNTERS (\{.*\})$", text, re.M)
        assert match, text
        return json.loads(match.group(1))

    def wait_for_file(self, name: str) -> None:
        deadline = time.monotonic() + HANG / 1000
        while not (self.root / name).exists():
            assert time.monotonic() < deadline, f"{name} never appeared"
            time.sleep(0.02)
        (self.root / name).unlink()

    def interrupt(self) -> None:
        """Kernel > Interrupt Kernel, from JupyterLab's menu bar."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Kernel$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Interrupt Kernel$")).click()

    def panel(self, i: int) -> Any:
        """The live panel (the anywidget's view) in the output of cell ``i``."""
        return self.cell(i).locator(".batchnb-live").first

    def static_panel(self, i: int) -> Any:
        """The panel turned into static HTML in the output of cell ``i``."""
        return self.output(i).locator(".batchnb-panel")

    def shoot(self, path: Path, first: int, last: int | None = None) -> None:
        """A screenshot of cells ``first`` to ``last`` (their inputs, panels and outputs)."""
        self.cell(first).evaluate("el => el.scrollIntoView({block: 'start'})")
        top = self.cell(first).bounding_box()
        bottom = self.cell(first if last is None else last).bounding_box()
        height = min(bottom["y"] + bottom["height"], 1000) - top["y"]
        self.page.screenshot(path=str(path), clip={"x": top["x"], "y": top["y"], "width": top["width"],
                                                   "height": height})

    def saved(self) -> Any:
        """Save the notebook (Ctrl+S) and read what JupyterLab wrote (written atomically)."""
        path = self.root / f"{self.name}.ipynb"
        before = path.stat().st_mtime_ns
        self.cell(0).locator(".jp-InputPrompt").click()  # command mode
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + HANG / 1000
        while path.stat().st_mtime_ns == before:
            assert time.monotonic() < deadline, "the notebook was not saved"
            time.sleep(0.05)
        return nbformat.read(path, as_version=4)

    def assert_no_page_errors(self) -> None:
        assert not [e for e in self.errors if "Failed to load resource" not in e], self.errors

    def close(self) -> None:
        """Shut the kernel down (its emulator and threads with it) and close the tab."""
        auth = {"Authorization": f"token {self.token}"}
        try:
            sessions = json.load(urllib.request.urlopen(
                urllib.request.Request(f"{self.base}/api/sessions", headers=auth), timeout=10))
            for session in sessions:
                if session["path"].endswith(f"{self.name}.ipynb"):
                    urllib.request.urlopen(urllib.request.Request(
                        f"{self.base}/api/sessions/{session['id']}", method="DELETE", headers=auth), timeout=10)
        finally:
            self.page.close()


LINES = ("title", "items", "jobs", "cost", "timing", "status", "failed-items")


def line(panel: Any, k: int) -> Any:
    """Line ``k`` of a live panel: 0 title, 1 items, 2 jobs, 3 cost, 4 timing, 5 status, 6 failed items."""
    return panel.locator(f".batchnb-part[data-part={LINES[k]}]")


def status(panel: Any) -> Any:
    return line(panel, 5)


def button(panel: Any, label: str) -> Any:
    # a queued button's CSS appends " · queued: ..." to its name
    return panel.get_by_role("button", name=re.compile(f"^{re.escape(label)}"))


WATCH_JS = """([button, status, word]) => {
  // when the click is made, how long the button reads "queued" (batchnb-queued), when the status line first
  // contains `word`: all in the page's clock, so the measurement has no polling delay
  const w = {clickAt: null, activeMs: 0, activeSince: null, statusAt: null};
  window.__watch = w;
  new MutationObserver(() => {
    const active = button.classList.contains('batchnb-queued');
    if (active && w.activeSince === null) w.activeSince = performance.now();
    if (!active && w.activeSince !== null) { w.activeMs += performance.now() - w.activeSince; w.activeSince = null; }
  }).observe(button, {attributes: true, attributeFilter: ['class']});
  const look = () => { if (w.statusAt === null && status.textContent.includes(word)) w.statusAt = performance.now(); };
  new MutationObserver(look).observe(status, {subtree: true, childList: true, characterData: true});
  button.addEventListener('mousedown', () => { w.clickAt = performance.now(); }, {capture: true});
}"""


def click_and_time(nb: Notebook, panel: Any, label: str, word: str) -> dict[str, float]:
    """Click ``label`` and wait for the status line to contain ``word``: the seconds from the click to that,
    and the milliseconds the button read "queued"."""
    target = button(panel, label)
    nb.page.evaluate(WATCH_JS, [target.element_handle(), status(panel).element_handle(), word])
    target.click()
    nb.page.wait_for_function("() => window.__watch.statusAt !== null", polling=50, timeout=HANG)
    measured: dict[str, float] = nb.page.evaluate("""() => { const w = window.__watch;
        return {seconds: (w.statusAt - w.clickAt) / 1000,
                queued_ms: w.activeMs + (w.activeSince === null ? 0 : performance.now() - w.activeSince)}; }""")
    return measured


def one_interrupt_line(text: str, start: str) -> str:
    """The output holds exactly one ``KeyboardInterrupt`` line, starting with ``start``, and no traceback."""
    lines = [x for x in text.splitlines() if "KeyboardInterrupt" in x]
    assert len(lines) == 1 and lines[0].startswith(start), text
    assert "Traceback" not in text and "File " not in text, text
    return lines[0]


def retried(counters: dict[str, Any]) -> list[int]:
    """The item indices submitted as first retries (custom_id ``{prefix}-{index}-r1``)."""
    return sorted(int(c.split("-")[-2]) for c in counters["submissions"] if c.endswith("-r1"))


def say(capsys: Any, text: str) -> None:
    with capsys.disabled():
        print(f"\n[hands] {text}")


# ================================================================================================ tests

def test_cancel_during_run_with_print_progress_stops_the_run_at_once(lab, browser, shots, capsys):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-cancel-run", [
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_ALL}).start()\n"
        "manager = BatchManager(messages=messages(30), client=sim.client(), max_cost=0.05, **OPTIONS)",
        'results = manager.run(print_progress=True)\nprint("RUN RETURNED", Counter(r.status for r in results))',
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0)
        nb.run(1)
        panel = nb.panel(1)
        expect(line(panel, 2)).to_contain_text("2 in flight · 1 pending", timeout=HANG)  # 2 batches held, 1 waiting
        expect(line(panel, 1)).to_contain_text("20 in flight · 10 pending")
        expect(status(panel)).to_contain_text("running")
        # stacked bars: the items in flight in blue; the cost gauge holds the reserve of the batches in flight
        assert panel.locator(".batchnb-bar div[title='20 in flight']").count() == 1
        expect(line(panel, 3)).to_contain_text(re.compile(r"\$0\.0+ spent · \$0\.0*[1-9]\d* reserved · limit \$0\.05"))
        assert line(panel, 3).locator(".batchnb-bar div[title$='reserved for batches in flight']").count() == 1
        assert nb.is_running(1)
        nb.shoot(shots / "hands-run-during.png", 1)

        timing = click_and_time(nb, panel, "Cancel", "canceled")
        nb.wait_finished(1)  # run() returned: the cell is over
        expect(status(panel)).to_contain_text("canceled — 2 batch(es) in flight canceled (what they finished comes in with the next run); no item done yet")
        expect(button(panel, "Resume")).to_be_enabled()
        expect(button(panel, "Cancel")).to_be_disabled()
        assert "RUN RETURNED" in nb.output(1).inner_text()
        nb.shoot(shots / "hands-run-canceled.png", 1)

        counters = nb.counters(2)
        assert counters["creates"] == 2  # nothing created after the click (the panel showed two before it)
        assert sorted(counters["cancels"].values()) == [1, 1]  # one cancel per batch in flight
        assert counters["done"] is True and counters["outcome"] == "canceled" and counters["served_at_once"]
        say(capsys, f"Cancel during run(): click -> 'canceled' {timing['seconds']:.2f} s, "
                    f"'queued' shown {timing['queued_ms']:.0f} ms")
        nb.assert_no_page_errors()
        publish(shots, "hands-run-during.png", "hands-run-canceled.png")
    finally:
        nb.close()


def test_cancel_during_wait_stops_the_run_at_once(lab, browser, shots, capsys):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-cancel-wait", [
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_ALL}).start()\n"
        "manager = BatchManager(messages=messages(30), client=sim.client(), **OPTIONS)",
        "manager.start()",
        ('print("waiting", flush=True)\nresults = manager.wait()\n'
         'print("WAIT RETURNED", Counter(r.status for r in results))'),
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1)  # start() returns at once; the panel lives in its output
        panel = nb.panel(1)
        expect(line(panel, 2)).to_contain_text("2 in flight · 1 pending", timeout=HANG)
        nb.run(2)
        expect(nb.output(2)).to_contain_text("waiting", timeout=HANG)
        assert nb.is_running(2)

        timing = click_and_time(nb, panel, "Cancel", "canceled")
        nb.wait_finished(2)  # wait() returned
        assert "WAIT RETURNED" in nb.output(2).inner_text()
        expect(status(panel)).to_contain_text("canceled — 2 batch(es) in flight canceled (what they finished comes in with the next run); no item done yet")
        expect(button(panel, "Resume")).to_be_enabled()
        nb.shoot(shots / "hands-wait-canceled.png", 1, 2)

        counters = nb.counters(3)
        assert counters["creates"] == 2 and sorted(counters["cancels"].values()) == [1, 1]
        assert counters["done"] is True and counters["outcome"] == "canceled" and counters["served_at_once"]
        say(capsys, f"Cancel during wait(): click -> 'canceled' {timing['seconds']:.2f} s, "
                    f"'queued' shown {timing['queued_ms']:.0f} ms")
        nb.assert_no_page_errors()
        publish(shots, "hands-wait-canceled.png")
    finally:
        nb.close()


def test_retry_acts_at_once_while_a_cell_of_the_users_blocks(lab, browser, shots):
    """Cell 1's run ends with failures; cell 2 blocks (the user's own loop, until the test drops a file);
    Retry in cell 1's panel resubmits exactly the failed items while cell 2 is still busy."""
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-retry", [
        IMPORTS + "\n" + FAIL_ONCE + "\nsim = Simulator(latency=0.2, faults=Faults(item_outcome=outcome)).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "results = manager.run(print_progress=True)",
        '''# my own long cell: the kernel is busy until the file "go" appears
retried = []
while not os.path.exists("go"):
    retried = sorted(int(re.search(r"-(\\d+)-r1$", c).group(1)) for c in sim.counters.submissions if c.endswith("-r1"))
    time.sleep(0.05)
os.remove("go")
print("RETRIED WHILE BUSY", retried)''',
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1)
        panel = nb.panel(1)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed · 0 in flight · 0 pending")
        assert panel.locator(".batchnb-bar div[title='17 succeeded']").count() == 1
        assert panel.locator(".batchnb-bar div[title='3 failed']").count() == 1
        expect(status(panel)).to_contain_text("done")
        retry = button(panel, "Retry failed")
        expect(retry).to_be_enabled()
        nb.run(2)
        nb.kernel_is("Busy")

        retry.click()
        nb.shoot(shots / "hands-retry-acting.png", 1)
        # the retry runs and ends while cell 2 still blocks; with nothing left to click the panel turns static
        final = nb.static_panel(1)
        expect(final).to_contain_text("20 succeeded · 0 failed · 0 in flight · 0 pending", timeout=HANG)
        expect(final).to_contain_text("done")
        assert nb.is_running(2)
        nb.shoot(shots / "hands-retry-done-while-busy.png", 1, 2)
        (nb.root / "go").touch()
        nb.wait_finished(2)
        assert f"RETRIED WHILE BUSY {FAILING}" in nb.output(2).inner_text()

        counters = nb.counters(3)
        assert retried(counters) == FAILING and counters["duplicates"] == [] and counters["creates"] == 3
        assert counters["outcome"] == "finished" and counters["served_at_once"]
        nb.assert_no_page_errors()
        publish(shots, "hands-retry-acting.png", "hands-retry-done-while-busy.png")
    finally:
        nb.close()


def test_retry_acts_at_once_while_the_kernel_waits_in_wait(lab, browser, shots):
    """Cell 1's run ends with failures; cell 2 blocks in ``wait()`` on another manager's run (its results
    gated); Retry in cell 1's panel resubmits exactly the failed items while ``wait()`` still blocks."""
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-retry-wait", [
        IMPORTS + "\n" + FAIL_ONCE + "\n" + GATED
        + "\nsim = Simulator(latency=0.2, faults=Faults(item_outcome=outcome)).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)\n"
        "other_sim = Simulator(latency=0.2, on_request=hold_results).start()\n"
        "other = BatchManager(messages=messages(10), client=other_sim.client(), **OPTIONS)\n"
        "def open_gate_on_file():  # the test drops the file; the kernel's main thread is in wait() then\n"
        "    while not os.path.exists('open-gate'):\n"
        "        time.sleep(0.05)\n"
        "    gate.set()\n"
        "threading.Thread(target=open_gate_on_file, daemon=True).start()",
        "results = manager.run(print_progress=True)",
        "other.start(show=False)\nother_results = other.wait()\nprint('OTHER DONE', len(other_results))",
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1)
        panel = nb.panel(1)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed · 0 in flight · 0 pending")
        retry = button(panel, "Retry failed")
        expect(retry).to_be_enabled()
        nb.run(2)
        nb.kernel_is("Busy")
        retry.click()
        final = nb.static_panel(1)  # the retry ran and ended while wait() blocks the main thread
        expect(final).to_contain_text("20 succeeded · 0 failed · 0 in flight · 0 pending", timeout=HANG)
        assert nb.is_running(2)
        (nb.root / "open-gate").touch()
        nb.wait_finished(2)
        assert "OTHER DONE 10" in nb.output(2).inner_text()
        counters = nb.counters(3)
        assert retried(counters) == FAILING and counters["duplicates"] == [] and counters["creates"] == 3
        assert counters["outcome"] == "finished" and counters["served_at_once"]
        nb.assert_no_page_errors()
    finally:
        nb.close()


def test_interrupting_wait_leaves_the_run_going(lab, browser, shots):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-interrupt-wait", [
        IMPORTS + "\n" + GATED + "\nsim = Simulator(latency=0.2, on_request=hold_results).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "manager.start()",
        'flag_when_main_waits("waiting")  # tells the test when to interrupt\nmanager.wait()',
        'print("DONE", manager.done, "RUNNING", manager.stats.running)',
        ('gate.set()  # the provider hands the results over\nresults = manager.wait()\n'
         'print("STATUSES", dict(Counter(r.status for r in results)))'),
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1)
        panel = nb.panel(1)
        expect(line(panel, 2)).to_contain_text("2 in flight", timeout=HANG)
        nb.run(2)
        nb.wait_for_file("waiting")  # the kernel's main thread is blocked in wait()
        nb.interrupt()
        nb.wait_finished(2)
        said = one_interrupt_line(nb.output(2).inner_text(),
                                  "KeyboardInterrupt: wait() interrupted; the run goes on in the background (0/20")
        assert "manager.cancel() or the panel's Cancel stops it; manager.wait() waits again." in said
        nb.run_to_end(3)
        assert "DONE False RUNNING True" in nb.output(3).inner_text()
        expect(status(panel)).to_contain_text("running")
        nb.shoot(shots / "hands-wait-interrupted.png", 1, 3)

        nb.run_to_end(4)
        assert "STATUSES {'succeeded': 20}" in nb.output(4).inner_text()
        # the panel went on updating after the interrupt, to the end; then static HTML: nothing left to click
        expect(nb.static_panel(1)).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(nb.static_panel(1)).to_contain_text("done")
        counters = nb.counters(5)
        assert counters["creates"] == 2 and counters["cancels"] == {} and counters["duplicates"] == []
        assert counters["outcome"] == "finished"
        nb.shoot(shots / "hands-wait-interrupted-final.png", 1, 4)
        nb.assert_no_page_errors()
        publish(shots, "hands-wait-interrupted.png", "hands-wait-interrupted-final.png")
    finally:
        nb.close()


def test_interrupting_run_cancels_the_batches_and_resume_finishes_them(lab, browser, shots):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-interrupt-run", [
        IMPORTS + f"\nsim = Simulator(latency=0.2, faults={HOLD_FIRST_ATTEMPT}).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "results = manager.run(print_progress=True)",
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0)
        nb.run(1)
        panel = nb.panel(1)
        expect(line(panel, 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)
        nb.interrupt()
        nb.wait_finished(1)
        one_interrupt_line(nb.output(1).inner_text(),
                           "KeyboardInterrupt: run() interrupted by Ctrl-C: 2 batch(es) in flight canceled (what they finished comes in with the next run); no item done yet")
        expect(status(panel)).to_contain_text("interrupted")
        expect(status(panel)).to_contain_text("Resume with manager.run()")
        resume = button(panel, "Resume")
        expect(resume).to_be_enabled()
        nb.shoot(shots / "hands-run-interrupted.png", 1)

        resume.click()  # the kernel is idle: the run goes on in the background
        final = nb.static_panel(1)  # done, nothing left to click: static HTML
        expect(final).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(final).to_contain_text("done")
        nb.shoot(shots / "hands-run-resumed.png", 1)
        counters = nb.counters(2)
        assert counters["duplicates"] == [] and set(counters["submissions"].values()) == {1}
        assert counters["creates"] == 4 and sorted(counters["cancels"].values()) == [1, 1]
        assert counters["outcome"] == "finished" and counters["succeeded"] == 20
        nb.assert_no_page_errors()
        publish(shots, "hands-run-interrupted.png", "hands-run-resumed.png")
    finally:
        nb.close()


def test_rerunning_the_manager_cell_mid_run_is_refused_and_shows_the_live_panel(lab, browser, shots, capsys):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-rerun", [
        IMPORTS + "\n" + GATED + "\nsim = Simulator(latency=0.2, on_request=hold_results).start()",
        'manager = BatchManager(messages=messages(20), client=sim.client(), state_path="hands-rerun.json", **OPTIONS)',
        "manager.start()",
        'print("SAME", BatchManager.running("hands-rerun.json") is manager, "DONE", manager.done)',
        "gate.set()\nmanager.wait()\nreport(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1, 2)
        panel = nb.panel(2)
        expect(line(panel, 2)).to_contain_text("2 in flight", timeout=HANG)

        started = time.monotonic()
        nb.run(1)  # the manager cell again, same state_path, while its run is live
        nb.wait_finished(1)
        refused_after = time.monotonic() - started
        text = nb.output(1).inner_text()
        assert "StateError" in text and "being run by another manager in this kernel" in text, text
        assert "BatchManager.running(state_path)" in text
        shown_again = nb.panel(1)  # the live panel, shown again above the error
        expect(line(shown_again, 2)).to_contain_text("2 in flight")
        expect(status(shown_again)).to_contain_text("running")
        nb.shoot(shots / "hands-rerun-refused.png", 1)
        nb.run_to_end(3)
        assert "SAME True DONE False" in nb.output(3).inner_text()

        counters = nb.counters(4)
        assert counters["creates"] == 2 and counters["duplicates"] == [] and counters["outcome"] == "finished"
        for i in (1, 2):  # both displays of the panel went on updating, to the end
            expect(nb.static_panel(i)).to_contain_text("20 succeeded", timeout=HANG)
        say(capsys, f"re-run manager cell: StateError shown {refused_after:.2f} s after Shift+Enter")
        nb.shoot(shots / "hands-rerun-final.png", 1, 2)
        nb.assert_no_page_errors()
        publish(shots, "hands-rerun-refused.png", "hands-rerun-final.png")
    finally:
        nb.close()


def test_where_clicks_cannot_be_served_at_once_a_pressed_button_says_queued_and_acts_after_the_cell(
        lab, browser, shots):
    """The fallback (an ipykernel without subshells; here routing is turned off): clicks wait in the kernel's
    queue, and the pressed button says so until the busy cell ends; then its action runs."""
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-queued", [
        IMPORTS + "import batchnb.views._kernel_clicks as kernel_clicks\n"
        "kernel_clicks._tried, kernel_clicks._subshell = True, None  # as if this kernel had no subshells\n\n"
        + FAIL_ONCE + "\nsim = Simulator(latency=0.2, faults=Faults(item_outcome=outcome)).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "results = manager.run(print_progress=True)",
        '''retried = []
while not os.path.exists("go-queued"):
    retried = [c for c in sim.counters.submissions if c.endswith("-r1")]
    time.sleep(0.05)
os.remove("go-queued")
print("RETRIED WHILE BUSY", retried)''',
        "report(sim, manager)",
    ])
    try:
        nb.run_to_end(0, 1)
        panel = nb.panel(1)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed")
        nb.run(2)
        nb.kernel_is("Busy")
        retry = button(panel, "Retry failed")
        retry.click()
        expect(retry).to_have_class(re.compile(r"\bbatchnb-queued\b"))
        after = retry.evaluate("el => getComputedStyle(el, '::after').content")
        assert after == '" · queued: the kernel is busy"', after
        nb.shoot(shots / "hands-queued.png", 1)
        assert nb.is_running(2)
        expect(line(panel, 1)).to_contain_text("17 succeeded · 3 failed")  # nothing happened yet
        (nb.root / "go-queued").touch()
        nb.wait_finished(2)
        assert "RETRIED WHILE BUSY []" in nb.output(2).inner_text()
        # then the click acted; the retry ended with nothing left to click: the panel is static HTML now
        expect(nb.static_panel(1)).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(nb.output(1).locator(".batchnb-live")).to_have_count(0)
        counters = nb.counters(3)
        assert counters["served_at_once"] is False and counters["duplicates"] == []
        assert retried(counters) == FAILING
        nb.assert_no_page_errors()
        publish(shots, "hands-queued.png")
    finally:
        nb.close()


# ===================================================================== what a saved notebook keeps

@pytest.mark.parametrize("label", ["Retry failed", "Resume"])
def test_a_run_finished_by_a_panel_button_is_saved_with_its_final_counts(lab, browser, label):
    """What a saved notebook shows where the widget cannot run (GitHub, nbconvert)."""
    from playwright.sync_api import expect

    faults = "Faults(item_outcome=outcome)" if label == "Retry failed" else HOLD_FIRST_ATTEMPT
    nb = Notebook(lab, browser, "hands-saved-" + label.split()[0].lower(), [
        IMPORTS + "\n" + FAIL_ONCE + f"\nsim = Simulator(latency=0.2, faults={faults}).start()\n"
        "manager = BatchManager(messages=messages(20), client=sim.client(), **OPTIONS)",
        "results = manager.run(print_progress=True)",
    ])
    try:
        nb.run_to_end(0)
        nb.run(1)
        panel = nb.panel(1)
        if label == "Resume":
            expect(line(panel, 2)).to_contain_text("2 in flight · 0 pending", timeout=HANG)
            nb.interrupt()
        nb.wait_finished(1)
        button(panel, label).click()
        final = nb.static_panel(1)  # the button's run ended with nothing left to click: static HTML
        expect(final).to_contain_text("20 succeeded · 0 failed", timeout=HANG)
        expect(final).to_contain_text("done")
        bundle = next(out["data"] for out in nb.saved().cells[1].outputs if out["output_type"] == "display_data")
        assert "— done" in bundle["text/plain"] and "Failed: 0 items" in bundle["text/plain"], bundle["text/plain"]
        assert "20 succeeded · 0 failed" in re.sub(r"<[^>]+>", "", bundle["text/html"]), bundle["text/html"]
    finally:
        nb.close()


def test_the_static_panel_reads_as_text_in_jupyterlab(lab, browser):
    from playwright.sync_api import expect

    nb = Notebook(lab, browser, "hands-static", [
        IMPORTS + "\nsim = Simulator(latency=0.2).start()\n"
        "manager = BatchManager(messages=messages(5), client=sim.client(), max_cost=0.05, **OPTIONS)\n"
        "results = manager.run(print_progress=True)\n"
        "from IPython.display import HTML\n"
        "display(HTML(\"<span class='typeset-control'>$x$</span>\"))  # typeset after the panel, once MathJax is up",
    ])
    try:
        nb.run_to_end(0)
        static = nb.static_panel(0)
        expect(static).to_contain_text("5 succeeded · 0 failed", timeout=HANG)  # all done: static HTML
        expect(nb.output(0).locator(".batchnb-live")).to_have_count(0)
        nb.output(0).locator(".typeset-control mjx-container").wait_for(timeout=HANG)  # the panel's turn is over
        assert static.locator("mjx-container").count() == 0
        expect(static).to_contain_text(re.compile(r"\$0\.\d+ spent · \$0\.0+ reserved · limit \$0\.05"))
    finally:
        nb.close()

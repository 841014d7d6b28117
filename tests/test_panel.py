"""The notebook panel's widget state, in pure Python (no browser, no kernel): it must equal the engine's.

Clicks are sent as the front end sends them (``helpers.click_panel``: the widget's custom message, handled as
the kernel handles a comm message); what a browser shows is the widget's traits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from batchnb import BatchManager
from batchnb.views._panel import Panel, actionable
from batchnb.views._panel_html import ROWS_PER_REASON, cost_html, items_html, jobs_html, status_html, timing_html
from batchnb.sim import Faults, Simulator

from .helpers import click_panel, wait_for

MODEL = "claude-haiku-4-5"
FAILING = {4: "errored:api_error", 9: "expired", 13: "errored:overloaded_error"}


def _outcome(custom_id: str, params: dict[str, Any]) -> str | None:
    index = int(params["messages"][0]["content"].split()[1])
    return FAILING.get(index) if "-r" not in custom_id else None


def _manager(sim: Simulator, n: int = 30, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = dict(model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                                   items_per_job=10)
    return BatchManager(messages=[f"item {i} please" for i in range(n)], **{**options, **kwargs})


def _table_rows(panel: Panel) -> dict[str, list[list[str]]]:
    """The failed table's rows by reason group ("reason — N item(s)" summaries)."""
    groups = re.findall(r"<summary>(.*?) — ([\d,]+) item\(s\)</summary>(.*?)</details>", panel.widget.failed_html)
    return {
        reason: [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", body)]
        for reason, _, body in groups
    }


def test_after_a_run_the_widgets_equal_the_engine_stats_and_retry_resubmits_only_the_failed():
    with Simulator(latency=0.01, faults=Faults(item_outcome=_outcome)) as sim:
        manager = _manager(sim, max_cost=0.5)
        manager.run()
        panel = manager.panel()
        panel.refresh(force=True)
        stats = manager.stats
        assert (stats.finished, stats.items_total, stats.failed) == (30, 30, 3)
        assert "30 / 30" in panel.widget.items_html and "27 succeeded" in panel.widget.items_html
        assert "3 failed" in panel.widget.items_html and "0 pending" in panel.widget.items_html
        # the stacked bar: a green segment for 27 of 30, a red one for 3 of 30
        assert "width:90.000%;background:#2e7d32" in panel.widget.items_html
        assert "width:10.000%;background:#c62828" in panel.widget.items_html
        assert "3 done · 0 in flight" in panel.widget.jobs_html and "limit $0.50" in panel.widget.cost_html
        groups = _table_rows(panel)
        assert {reason: [int(r[0]) for r in rows] for reason, rows in groups.items()} == {
            "errored:api_error": [4], "expired": [9], "errored:overloaded_error": [13]}
        assert "Failed items: 3" in panel.widget.failed_html
        assert set(panel.widget.enabled) == {"retry", "failed"}  # not cancel, not resume
        assert "done" in panel.widget.status_html

        before = dict(sim.counters.submissions)
        click_panel(panel, "retry")  # the button's handler: a background retry_failed()
        manager.wait(timeout=30)
        resubmitted = set(sim.counters.submissions) - set(before)
        assert sorted(int(c.split("-")[1]) for c in resubmitted) == sorted(FAILING)
        assert not sim.counters.duplicate_submissions
        panel.refresh(force=True)
        items = panel.widget.items_html
        assert "30 succeeded" in items and "width:100.000%;background:#2e7d32" in items
        assert panel.widget.failed_html == "" and "retry" not in panel.widget.enabled
        assert manager.stats.cost == pytest.approx(sim.counters.billed_usd)
        assert not actionable(manager.stats)  # nothing left to click: a saved display may become static


def test_a_second_click_while_the_first_acts_says_why_in_the_panel():
    with Simulator(latency=0.01, faults=Faults(item_outcome=lambda custom_id, params: "hold")) as sim:
        manager = _manager(sim)
        panel = manager.panel()
        manager.start(show=False)  # e.g. a Retry already going, its batches held by the provider
        wait_for(lambda: sim.counters.creates >= 1, timeout=10)
        click_panel(panel, "retry")  # as from a browser that has not redrawn yet
        assert "Retry failed: this manager is already running" in panel.widget.status_html
        click_panel(panel, "cancel")
        manager.wait(timeout=30)
        assert "canceled" in panel.widget.status_html


def test_cancel_button_stops_a_background_run_and_the_panel_says_why():
    def hold(custom_id: str, params: dict[str, Any]) -> str | None:
        return "hold"

    with Simulator(latency=0.05, faults=Faults(item_outcome=hold)) as sim:
        manager = _manager(sim, n=20)
        manager.start(show=False)
        panel = manager.panel()
        wait_for(lambda: sim.counters.creates >= 2, timeout=10)
        panel.refresh(force=True)
        assert "cancel" in panel.widget.enabled and "0 done · 2 in flight" in panel.widget.jobs_html
        click_panel(panel, "cancel")
        manager.wait(timeout=10)
        assert manager.done and sim.counters.requests_by_endpoint.get("cancel") == 2
        panel.refresh(force=True)
        assert "canceled</b> — 2 batch(es) in flight canceled (what they finished comes in with the next run)" in (
            panel.widget.status_html)
        assert "Resume" in panel.widget.status_html and "resume" in panel.widget.enabled


def test_the_failed_table_groups_by_reason_and_stays_readable_at_a_thousand_rows():
    with Simulator(latency=0.01, faults=Faults(errored_rate=1.0)) as sim:
        manager = _manager(sim, n=1200, items_per_job=400)
        manager.run()
    panel = manager.panel()
    panel.refresh(force=True)
    groups = _table_rows(panel)
    summaries = re.findall(r"<summary>(.*?) — ([\d,]+) item", panel.widget.failed_html)
    counts = {r: int(n.replace(",", "")) for r, n in summaries}
    assert set(counts) == set(groups) and len(groups) == 2 and sum(counts.values()) == 1200  # two errored kinds
    for reason, rows in groups.items():
        assert len(rows) == ROWS_PER_REASON + 1 and f"{counts[reason] - ROWS_PER_REASON:,} more" in rows[-1][0]
    # the table scrolls within the panel (the front end's stylesheet)
    assert re.search(r"\.batchnb-failed-items \{ max-height: 260px; overflow: auto; \}", panel.widget._css)
    assert "Failed items: 1,200" in panel.widget.failed_html
    failed = manager.failed()  # the panel's "Failed rows as DataFrame"
    assert len(failed) == 1200 and set(failed["status"]) == {"failed"}


def test_the_cost_bar_shows_spent_and_reserved_against_the_limit():
    from batchnb.views._readings import Progress

    p = Progress(items_total=10, succeeded=2, failed=0, processing=4, pending=4, jobs_total=3, jobs_completed=1,
                 jobs_in_flight=2, jobs_pending=0, cost=0.01, reserved=0.022, max_cost=0.035, elapsed=3.0,
                 eta_seconds=None, budget_stop=None, running=True)
    text = cost_html(p)
    assert "limit $0.0350 (91% committed)" in text and "$0.0220 reserved" in text
    assert "width:28.571%;background:#c62828" in text  # spent, red from 90% committed
    assert "width:62.857%;background:#90caf9" in text  # reserved, drawn beside it


def test_outside_a_kernel_the_manager_shows_a_plain_text_summary():
    with Simulator(latency=0.01) as sim:
        manager = _manager(sim, n=12, max_cost=1.0)
        manager.run()
    bundle = manager._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    text = bundle["text/plain"]
    assert "Processing: 12/12 items (100.0%)" in text and "Jobs: 2/2 completed" in text
    assert "Cost: $0.0" in text and "/ $1.00" in text and "Failed: 0 items" in text



SYNCED = ("title", "items_html", "jobs_html", "cost_html", "timing_html", "status_html", "failed_html",
          "frame_html", "printed", "buttons", "enabled", "handled")


def test_the_widget_state_is_the_panels_pictures_and_round_trips_without_a_browser():
    """What a front end receives (the widget's state as JSON) is the engine's figures, drawn by _panel_html."""
    from batchnb.views._panel_widget import PanelWidget

    with Simulator(latency=0.01, faults=Faults(item_outcome=_outcome)) as sim:
        manager = _manager(sim, max_cost=0.5)
        manager.run()
    panel = manager.panel()
    panel.refresh(force=True)
    p = manager.stats
    state = json.loads(json.dumps(panel.widget.get_state()))  # what the comm carries
    assert state["items_html"] == items_html(p) and state["jobs_html"] == jobs_html(p)
    assert state["cost_html"] == cost_html(p) and state["timing_html"] == timing_html(p)
    assert state["status_html"] == status_html(p) and "Failed items: 3" in state["failed_html"]
    assert state["title"] == panel.title_text and state["enabled"] == ["retry", "failed"] and state["handled"] == 0
    assert [b["label"] for b in state["buttons"]] == ["Pilot", "Retry failed", "Cancel", "Resume",
                                                      "Failed rows as DataFrame"]
    assert "batchnb-queued::after" in state["_css"] and "model.send" in state["_esm"]
    other = PanelWidget()
    other.set_state({key: state[key] for key in SYNCED})
    assert {key: getattr(other, key) for key in SYNCED} == {key: state[key] for key in SYNCED}

    click_panel(panel, "failed")  # "Failed rows as DataFrame": the frame's HTML, under the panel
    assert "<table" in panel.widget.frame_html and panel.widget.frame_html.count("errored:api_error") == 1
    # the display: the widget view, with a text and an HTML rendering beside it for a saved notebook
    data, _ = panel._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert "— done" in data["text/plain"] and "27 succeeded · 3 failed" in re.sub("<[^>]+>", "", data["text/html"])
    assert panel._display_() is panel.widget  # how marimo displays it


def test_an_idle_panel_sends_nothing_and_a_click_sends_only_what_changed():
    """The refresher runs 4 times a second: a trait is set (and a message sent) only when its value changed."""
    with Simulator(latency=0.01) as sim:
        manager = _manager(sim, n=12, max_cost=1.0)
        manager.run()
    panel = manager.panel()
    sent: list[dict[str, Any]] = []
    send = panel.widget._send
    panel.widget._send = lambda msg, buffers=None: (sent.append(msg), send(msg, buffers=buffers))
    for _ in range(3):
        panel.refresh(force=True)
    assert sent == []
    click_panel(panel, "resume", seq=5)  # nothing left to run: the click is taken, nothing else changes
    assert [m["method"] for m in sent] == ["update"] and set(sent[0]["state"]) == {"handled"}


def test_a_click_is_acknowledged_when_taken_and_a_second_click_while_it_acts_does_nothing():
    """The front end shows "queued" for a click until ``handled`` reaches its number: the kernel sets it the
    moment it takes the click, before acting; while the handler acts its button is disabled, and another click
    on it is acknowledged and does nothing. Cancel's requests are held until the test has looked."""
    import threading

    from batchnb.sim import RequestEvent

    gate, entered = threading.Event(), threading.Event()

    def hold_cancels(event: RequestEvent) -> None:
        if event.endpoint == "cancel" and event.phase == "received":
            entered.set()
            gate.wait(60)

    with Simulator(latency=0.01, faults=Faults(item_outcome=lambda c, p: "hold"), on_request=hold_cancels) as sim:
        manager = _manager(sim, n=20)
        panel = manager.panel()
        assert panel.clicks_served_at_once is False  # no kernel here: a click waits for the kernel's thread
        manager.start(show=False)
        wait_for(lambda: sim.counters.creates >= 2, timeout=10)
        panel.refresh(force=True)
        assert panel.widget.handled == 0 and "cancel" in panel.widget.enabled
        clicking = threading.Thread(target=click_panel, args=(panel, "cancel", 41))
        clicking.start()
        try:
            entered.wait(30)
            assert panel.widget.handled == 41 and "cancel" not in panel.widget.enabled  # taken, acting
            click_panel(panel, "cancel", 42)  # a second click while the first acts
            assert panel.widget.handled == 42 and sim.counters.requests_by_endpoint.get("cancel") == 1
            click_panel(panel, "cancel", 7)  # a late message of an older click: the number never goes back
            panel.widget._handle_msg({"content": {"data": {"method": "custom", "content": {"click": "explode"}}},
                                      "buffers": []})  # not a click: ignored
            assert panel.widget.handled == 42
        finally:
            gate.set()
            clicking.join(30)
        manager.wait(timeout=30)
        assert sim.counters.requests_by_endpoint.get("cancel") == 2 and panel.notice == ""
        panel.refresh(force=True)
        assert "canceled" in panel.widget.status_html and "cancel" not in panel.widget.enabled


def test_the_front_end_ships_as_package_data():
    """``pip install .`` must carry panel.js and panel.css (the widget reads them when batchnb is imported)."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["batchnb"]
    shipped = {p.relative_to(root / "batchnb").as_posix() for g in globs for p in (root / "batchnb").glob(g)}
    assert {"views/panel.js", "views/panel.css"} <= shipped

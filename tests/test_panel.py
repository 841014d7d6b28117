"""The notebook panel's widget state, in pure Python (no browser, no kernel): it must equal the engine's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from batchnb import BatchManager
from batchnb.views._panel import Panel, actionable
from batchnb.views._panel_html import ROWS_PER_REASON
from batchnb.sim import Faults, Simulator

from .helpers import wait_for

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
    groups = re.findall(r"<summary>(.*?) — ([\d,]+) item\(s\)</summary>(.*?)</details>", panel.failed_table.value)
    return {
        reason: [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", body)]
        for reason, _, body in groups
    }


def _press(button: Any) -> None:
    """What the browser does on a click: the toggle's value turns true; the handler turns it back."""
    button.value = True
    assert button.value is False


def test_after_a_run_the_widgets_equal_the_engine_stats_and_retry_resubmits_only_the_failed():
    with Simulator(latency=0.01, faults=Faults(item_outcome=_outcome)) as sim:
        manager = _manager(sim, max_cost=0.5)
        manager.run()
        panel = manager.panel()
        panel.refresh(force=True)
        stats = manager.stats
        assert (stats.finished, stats.items_total, stats.failed) == (30, 30, 3)
        assert "30 / 30" in panel.items.value and "27 succeeded" in panel.items.value
        assert "3 failed" in panel.items.value and "0 pending" in panel.items.value
        # the stacked bar: a green segment for 27 of 30, a red one for 3 of 30
        assert "width:90.000%;background:#2e7d32" in panel.items.value
        assert "width:10.000%;background:#c62828" in panel.items.value
        assert "3 done · 0 in flight" in panel.jobs.value and "limit $0.50" in panel.cost.value
        groups = _table_rows(panel)
        assert {reason: [int(r[0]) for r in rows] for reason, rows in groups.items()} == {
            "errored:api_error": [4], "expired": [9], "errored:overloaded_error": [13]}
        assert "Failed items: 3" in panel.failed_table.value
        assert not panel.retry_button.disabled and panel.cancel_button.disabled and panel.resume_button.disabled
        assert "done" in panel.status.value

        before = dict(sim.counters.submissions)
        _press(panel.retry_button)  # the button's handler: a background retry_failed()
        manager.wait(timeout=30)
        resubmitted = set(sim.counters.submissions) - set(before)
        assert sorted(int(c.split("-")[1]) for c in resubmitted) == sorted(FAILING)
        assert not sim.counters.duplicate_submissions
        panel.refresh(force=True)
        assert "30 succeeded" in panel.items.value and "width:100.000%;background:#2e7d32" in panel.items.value
        assert panel.failed_table.value == "" and panel.retry_button.disabled
        assert manager.stats.cost == pytest.approx(sim.counters.billed_usd)
        assert not actionable(manager.stats)  # nothing left to click: a saved display may become static


def test_a_second_click_while_the_first_acts_says_why_in_the_panel():
    with Simulator(latency=0.01, faults=Faults(item_outcome=lambda custom_id, params: "hold")) as sim:
        manager = _manager(sim)
        panel = manager.panel()
        manager.start(show=False)  # e.g. a Retry already going, its batches held by the provider
        wait_for(lambda: sim.counters.creates >= 1, timeout=10)
        panel.retry_button.disabled = False  # as in a browser that has not redrawn yet
        _press(panel.retry_button)
        assert "Retry failed: this manager is already running" in panel.status.value
        _press(panel.cancel_button)
        manager.wait(timeout=30)
        assert "canceled" in panel.status.value


def test_cancel_button_stops_a_background_run_and_the_panel_says_why():
    def hold(custom_id: str, params: dict[str, Any]) -> str | None:
        return "hold"

    with Simulator(latency=0.05, faults=Faults(item_outcome=hold)) as sim:
        manager = _manager(sim, n=20)
        manager.start(show=False)
        panel = manager.panel()
        wait_for(lambda: sim.counters.creates >= 2, timeout=10)
        panel.refresh(force=True)
        assert not panel.cancel_button.disabled and "0 done · 2 in flight" in panel.jobs.value
        _press(panel.cancel_button)
        manager.wait(timeout=10)
        assert manager.done and sim.counters.requests_by_endpoint.get("cancel") == 2
        panel.refresh(force=True)
        assert "canceled</b> — 2 batch(es) in flight canceled (what they finished comes in with the next run)" in (
            panel.status.value)
        assert "Resume" in panel.status.value and not panel.resume_button.disabled


def test_the_failed_table_groups_by_reason_and_stays_readable_at_a_thousand_rows():
    with Simulator(latency=0.01, faults=Faults(errored_rate=1.0)) as sim:
        manager = _manager(sim, n=1200, items_per_job=400)
        manager.run()
    panel = manager.panel()
    panel.refresh(force=True)
    groups = _table_rows(panel)
    counts = {r: int(n.replace(",", "")) for r, n in re.findall(r"<summary>(.*?) — ([\d,]+) item", panel.failed_table.value)}
    assert set(counts) == set(groups) and len(groups) == 2 and sum(counts.values()) == 1200  # two errored kinds
    for reason, rows in groups.items():
        assert len(rows) == ROWS_PER_REASON + 1 and f"{counts[reason] - ROWS_PER_REASON:,} more" in rows[-1][0]
    assert panel.failed_table.layout.overflow == "auto" and panel.failed_table.layout.max_height == "260px"
    assert "Failed items: 1,200" in panel.failed_table.value
    failed = manager.failed()  # the panel's "Failed rows as DataFrame"
    assert len(failed) == 1200 and set(failed["status"]) == {"failed"}


def test_the_cost_bar_shows_spent_and_reserved_against_the_limit():
    from batchnb.views._panel_html import cost_html
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


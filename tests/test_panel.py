"""The notebook panel's widget state, in pure Python (no browser, no kernel): it must equal the engine's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from batchnb import BatchManager
from batchnb._panel import MAX_TABLE_ROWS, Panel, cost_style
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


def _table_rows(panel: Panel) -> list[list[str]]:
    body = panel.failed_table.value.split("<tbody>")[1]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_after_a_run_the_widgets_equal_the_engine_stats_and_retry_resubmits_only_the_failed():
    with Simulator(latency=0.01, faults=Faults(item_outcome=_outcome)) as sim:
        manager = _manager(sim, max_cost=0.5)
        manager.run()
        panel = manager.panel()
        panel.refresh(force=True)
        stats = manager.stats
        assert (panel.items_bar.value, panel.items_bar.max) == (stats.finished, stats.items_total) == (30, 30)
        assert panel.items_bar.bar_style == "warning" and "27 succeeded" in panel.items_label.value
        assert "3 failed" in panel.items_label.value and "0 remaining" in panel.items_label.value
        assert (panel.jobs_bar.value, panel.jobs_bar.max) == (stats.jobs_completed, stats.jobs_total) == (3, 3)
        assert panel.cost_gauge.value == pytest.approx(stats.cost) and panel.cost_gauge.max == 0.5
        assert panel.cost_gauge.bar_style == "success"
        rows = _table_rows(panel)
        assert [(int(r[0]), r[2]) for r in rows] == [(i, FAILING[i]) for i in sorted(FAILING)]
        assert [int(r[1]) for r in rows] == [0, 0, 1] and "Failed items: 3" in panel.failed_title.value
        assert not panel.retry_button.disabled and panel.cancel_button.disabled

        before = dict(sim.counters.submissions)
        panel.retry_button.click()  # the button's handler: a background retry_failed()
        manager.wait(timeout=30)
        resubmitted = set(sim.counters.submissions) - set(before)
        assert sorted(int(c.split("-")[1]) for c in resubmitted) == sorted(FAILING)
        assert not sim.counters.duplicate_submissions
        panel.refresh(force=True)
        assert panel.items_bar.value == 30 and "30 succeeded" in panel.items_label.value
        assert panel.failed_table.value == "" and panel.retry_button.disabled
        assert panel.cost_gauge.value == pytest.approx(manager.stats.cost)
        assert manager.stats.cost == pytest.approx(sim.counters.billed_usd)


def test_cancel_button_stops_a_background_run():
    def hold(custom_id: str, params: dict[str, Any]) -> str | None:
        return "hold"

    with Simulator(latency=0.05, faults=Faults(item_outcome=hold)) as sim:
        manager = _manager(sim, n=20)
        manager.start(show=False)
        panel = manager.panel()
        wait_for(lambda: sim.counters.creates >= 2, timeout=10)
        panel.refresh(force=True)
        assert not panel.cancel_button.disabled and panel.jobs_label.value.startswith("0 done · 2 in flight")
        panel.cancel_button.click()
        manager.wait(timeout=10)
        assert manager.done and sim.counters.requests_by_endpoint.get("cancel") == 2


def test_the_failed_table_stays_readable_at_a_thousand_rows():
    with Simulator(latency=0.01, faults=Faults(errored_rate=1.0)) as sim:
        manager = _manager(sim, n=1200, items_per_job=400)
        manager.run()
    panel = manager.panel()
    panel.refresh(force=True)
    rows = _table_rows(panel)
    assert len(rows) == MAX_TABLE_ROWS + 1 and "200 more" in rows[-1][0]
    assert panel.failed_table.layout.overflow == "auto" and panel.failed_table.layout.max_height == "260px"
    assert "Failed items: 1,200" in panel.failed_title.value


def test_the_cost_gauge_turns_amber_then_red_near_the_limit():
    assert cost_style(0.5, 0.0, 1.0) == "success"
    assert cost_style(0.5, 0.25, 1.0) == "warning"
    assert cost_style(0.85, 0.1, 1.0) == "danger"
    assert cost_style(3.0, 0.0, None) == "info"


def test_outside_a_kernel_the_manager_shows_a_plain_text_summary():
    with Simulator(latency=0.01) as sim:
        manager = _manager(sim, n=12, max_cost=1.0)
        manager.run()
    bundle = manager._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    text = bundle["text/plain"]
    assert "Processing: 12/12 items (100.0%)" in text and "Jobs: 2/2 completed" in text
    assert "Cost: $0.0" in text and "/ $1.00" in text and "Failed: 0 items" in text


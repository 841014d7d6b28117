"""The notebook panel: ipywidgets bound to the progress model (ipywidgets is imported only here).

The panel only reads ``ProgressModel.snapshot()``. A daemon thread refreshes it a few times a second when
the model's ``version`` moved; widget traits are set from that thread, never ``with output:``. Buttons call
the manager's public methods through the callbacks given (``on_retry``, ``on_cancel``), the same path as
``retry_failed()`` and ``cancel()``.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ._progress import FailedRow, Progress, ProgressModel, format_duration, money

#: Refreshes per second while the panel is live.
REFRESH_HZ = 4.0
#: Failed rows rendered in the table (the count above it is always exact).
MAX_TABLE_ROWS = 1_000


def widgets_available() -> bool:
    """True inside an IPython kernel with ipywidgets importable (else the text repr is used)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def cost_style(spent: float, reserved: float, limit: float | None) -> str:
    """Bar colour of the cost gauge: green, then amber from 70% of the limit, red from 90%."""
    if limit is None or limit <= 0:
        return "info"
    used = (spent + reserved) / limit
    return "danger" if used >= 0.9 else "warning" if used >= 0.7 else "success"


class Panel:
    """Progress bars, cost gauge, timing, failed-items table and Retry / Cancel buttons."""

    def __init__(
        self,
        model: ProgressModel,
        *,
        title: str = "batchnb",
        on_retry: Callable[[], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        import ipywidgets as w

        self.model = model
        self._on_retry, self._on_cancel = on_retry, on_cancel
        wide = w.Layout(width="420px")
        self.title = w.HTML(f"<b>{html.escape(title)}</b>")
        self.items_bar = w.IntProgress(value=0, min=0, max=1, description="Items", layout=wide)
        self.items_label = w.HTML()
        self.jobs_bar = w.IntProgress(value=0, min=0, max=1, description="Jobs", layout=wide)
        self.jobs_label = w.HTML()
        self.cost_gauge = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Cost", layout=wide)
        self.cost_label = w.HTML()
        self.timing = w.HTML()
        self.status = w.HTML()
        self.failed_title = w.HTML()
        self.failed_table = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.retry_button = w.Button(description="Retry failed", icon="redo", button_style="warning", disabled=True)
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="danger", disabled=True)
        self.retry_button.on_click(lambda _: self._on_retry and self._on_retry())
        self.cancel_button.on_click(lambda _: self._on_cancel and self._on_cancel())
        self.widget = w.VBox(
            [
                self.title,
                w.HBox([self.items_bar, self.items_label]),
                w.HBox([self.jobs_bar, self.jobs_label]),
                w.HBox([self.cost_gauge, self.cost_label]),
                self.timing,
                self.status,
                w.HBox([self.retry_button, self.cancel_button]),
                self.failed_title,
                self.failed_table,
            ]
        )
        self._seen = -1
        self.last_error: Exception | None = None  # the last exception a background refresh met, if any
        self._failed_seen: tuple[FailedRow, ...] | None = None
        self._closed = threading.Event()
        self.refresh()
        model.when_run_ends(self.show_final)
        _start_refresher(self)

    def show_final(self) -> None:
        """Render the final state as soon as a run ends (called from the engine's thread)."""
        try:
            self.refresh(force=True)
        except Exception as exc:  # a view must never break the engine
            self.last_error = exc

    # ------------------------------------------------------------------------------------------ render

    def refresh(self, force: bool = False) -> None:
        """Set every trait from one snapshot of the model (cheap when nothing changed)."""
        version = self.model.version
        progress = self.model.snapshot()
        if not force and version == self._seen and not progress.running:
            return
        self._seen = version
        self.render(progress)

    def render(self, p: Progress) -> None:
        remaining = p.items_total - p.finished
        self.items_bar.max = max(p.items_total, 1)
        self.items_bar.value = p.finished
        self.items_bar.bar_style = "warning" if p.failed else "success" if p.finished == p.items_total else "info"
        self.items_label.value = (
            f"{p.finished:,} / {p.items_total:,} &nbsp; <span style='color:green'>"
            f"{p.succeeded:,} succeeded</span> · <span style='color:#c00'>{p.failed:,} failed"
            f"</span> · {remaining:,} remaining"
        )
        self.jobs_bar.max = max(p.jobs_total, 1)
        self.jobs_bar.value = p.jobs_completed
        self.jobs_label.value = (
            f"{p.jobs_completed} done · {p.jobs_in_flight} in flight · {p.jobs_pending} pending"
            + (f" · {p.jobs_reconciling} reconciling" if p.jobs_reconciling else "")
            + (f" · {p.jobs_canceling} canceling" if p.jobs_canceling else "")
        )
        limit = p.max_cost
        self.cost_gauge.max = limit if limit else max(p.cost + p.reserved, 1e-9)
        self.cost_gauge.value = min(p.cost, self.cost_gauge.max)
        committed = p.cost + p.reserved + p.held
        self.cost_gauge.bar_style = cost_style(p.cost, p.reserved + p.held, limit)
        self.cost_label.value = (
            f"${p.cost:,.4f} spent · ${p.reserved:,.4f} reserved"
            + (f" · ${p.held:,.4f} held" if p.held else "")
            + (f" · limit {money(limit)} ({100 * committed / limit:.0f}% committed)" if limit else " · no limit")
        )
        eta = f" · ETA {format_duration(p.eta_seconds)}" if p.running and p.eta_seconds is not None else ""
        self.timing.value = f"Elapsed {format_duration(p.elapsed)}{eta}"
        state = "running" if p.running else "done" if p.finished == p.items_total else "stopped"
        self.status.value = f"<i>{state}</i>" + (f" — {html.escape(p.budget_stop)}" if p.budget_stop else "")
        self.retry_button.disabled = p.running or not p.failed
        # also with no run going (after a kernel restart, or a run that raised): batches may still be in flight;
        # a batch whose cancel was accepted, or a create still being reconciled, has nothing more to cancel
        cancelable = p.jobs_in_flight - p.jobs_reconciling - p.jobs_canceling
        self.cancel_button.disabled = not p.running and cancelable <= 0
        if p.failed_rows != self._failed_seen:
            self._failed_seen = p.failed_rows
            self.failed_title.value = f"<b>Failed items: {p.failed:,}</b>" if p.failed else ""
            self.failed_table.value = failed_table_html(p.failed_rows)

    # ------------------------------------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        self._closed.set()
        self.widget.close()


def failed_table_html(rows: tuple[FailedRow, ...]) -> str:
    """An HTML table of failed items (index, job, reason, message), first ``MAX_TABLE_ROWS`` rows."""
    if not rows:
        return ""
    shown = rows[:MAX_TABLE_ROWS]
    td = "<td style='padding:1px 10px 1px 0;text-align:left;vertical-align:top'>"
    cells = "".join(
        f"<tr>{td}{r.index}</td>{td}{'' if r.job is None else r.job}</td>{td}{html.escape(r.reason)}</td>"
        f"{td}{html.escape(r.message[:300])}</td></tr>"
        for r in shown
    )
    more = (
        f"<tr><td colspan=4><i>… {len(rows) - len(shown):,} more (see manager.to_pandas())</i></td></tr>"
        if len(rows) > len(shown)
        else ""
    )
    return (
        "<table class='batchnb-failed' style='border-collapse:collapse;font-size:12px'>"
        "<thead><tr>"
        + "".join(
            f"<th style='padding:1px 10px 1px 0;text-align:left'>{h}</th>"
            for h in ("index", "job", "reason", "message")
        )
        + "</tr></thead>"
        f"<tbody>{cells}{more}</tbody></table>"
    )


def _start_refresher(panel: Panel) -> None:
    """A daemon thread that refreshes the panel; it holds only a weak reference, so it ends with it."""
    ref = weakref.ref(panel)
    closed = panel._closed

    def loop() -> None:
        while not closed.wait(1.0 / REFRESH_HZ):
            target = ref()
            if target is None:
                return
            try:
                target.refresh()
            except Exception as exc:  # keep refreshing: one failed update must not freeze the panel
                target.last_error = exc
            del target

    threading.Thread(target=loop, name="batchnb-panel", daemon=True).start()

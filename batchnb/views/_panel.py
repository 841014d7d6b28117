"""The notebook panel: ipywidgets bound to the progress model (ipywidgets is imported only here).

The panel only reads ``ProgressModel.snapshot()``; its pictures are ``_panel_html``'s. A daemon thread
refreshes it a few times a second when the model's ``version`` moved; widget traits are set from that
thread, never ``with output:``. Buttons call the manager's public methods through the callbacks given
(``on_pilot``, ``on_retry``, ``on_cancel``, ``on_resume``, ``on_failed``), the same paths as ``retry_failed()``,
``cancel()``, ``start()`` and ``failed()``; a callback's error is shown in the panel, not lost in a log.

Buttons are toggle buttons: the browser marks one pressed the instant it is clicked, before the kernel
hears of it, and the panel's CSS then reads "queued: the kernel is busy" until its handler runs (at once
where ``_kernel_clicks`` could route clicks off the main thread; after the running cell elsewhere).

Display: ``show()`` displays the panel with a display id, and its bundle carries a text and an HTML
rendering beside the widget, so a saved notebook reads well in nbconvert or on GitHub. When a run ends
with nothing left to click, each display becomes that static HTML: it survives a kernel restart.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ._kernel_clicks import serve_clicks_off_main_thread
from ._panel_html import (
    cost_html,
    failed_html,
    items_html,
    jobs_html,
    plain_text,
    static_html,
    status_html,
    timing_html,
)
from ._progress import ProgressModel
from ._readings import FailedRow, Progress

#: Refreshes per second while the panel is live.
REFRESH_HZ = 4.0

_CSS = """<style>
.batchnb-btn.mod-active::after { content: " · queued: the kernel is busy"; font-style: italic; }
.batchnb-btn:disabled { filter: grayscale(1); opacity: 0.45; cursor: default; }
.batchnb-panel details summary { cursor: pointer; }
</style>"""


def widgets_available() -> bool:
    """True inside an IPython kernel with ipywidgets importable (else the text repr is used)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def actionable(p: Progress) -> bool:
    """Whether a button of the panel could still do something (else a finished panel may become static)."""
    cancelable = p.jobs_in_flight - p.jobs_reconciling - p.jobs_canceling
    return p.running or p.failed > 0 or cancelable > 0 or (p.remaining > 0 and not p.budget_stop)


class Panel:
    """Stacked progress bars, cost gauge, timing, status, failed items by reason and the buttons."""

    def __init__(
        self,
        model: ProgressModel,
        *,
        title: str = "batchnb",
        on_retry: Callable[[], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        on_pilot: Callable[[], None] | None = None,
        on_failed: Callable[[], Any] | None = None,
        index_name: str = "index",
        row_label: Callable[[int], object] | None = None,
    ) -> None:
        import ipywidgets as w

        self.model = model
        self.index_name, self.row_label = index_name, row_label  # failed rows named by the user's labels
        self.title_text = title
        self.notice = ""  # the last button error, shown under the status
        self.info = ""  # what a button does or did (the Pilot's report), shown under the status
        self.title = w.HTML(f"{_CSS}<b>{html.escape(title)}</b>")
        self.items = w.HTML()
        self.jobs = w.HTML()
        self.cost = w.HTML()
        self.timing = w.HTML()
        self.status = w.HTML()
        self.retry_button = self._button("Retry failed", "warning", on_retry, "resubmit the failed items")
        self.cancel_button = self._button("Cancel", "danger", on_cancel, "cancel the batches in flight")
        self.resume_button = self._button("Resume", "info", on_resume, "run what is not finished")
        self.pilot_button = self._button(
            "Pilot", "", on_pilot, "run a sample spread over the inputs first: its cost and quality (manager.pilot())"
        )
        self.failed_button = self._button("Failed rows as DataFrame", "", self._show_failed, "manager.failed()")
        self._on_failed = on_failed
        self.failed_table = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.frame = w.Output()
        self.buttons = [
            self.pilot_button, self.retry_button, self.cancel_button, self.resume_button, self.failed_button
        ]  # fmt: skip
        self.widget = w.VBox(
            [self.title, self.items, self.jobs, self.cost, self.timing, self.status, w.HBox(self.buttons)]
            + [self.failed_table, self.frame]
        )
        self.clicks_served_at_once = serve_clicks_off_main_thread(self.buttons)
        self._handles: list[Any] = []
        self._updating = threading.Lock()
        # one refresh at a time: the refresher thread and a run's end (``show_final``) both render, and an
        # older snapshot rendered last would leave "running" on a panel whose run is over (seen in CI)
        self._rendering = threading.Lock()
        self._seen = -1
        self.last_error: Exception | None = None  # the last exception a background refresh met, if any
        self._failed_seen: tuple[FailedRow, ...] | None = None
        self._closed = threading.Event()
        self.refresh()
        model.when_run_ends(self.show_final)
        _start_refresher(self)

    def _button(self, label: str, style: str, action: Callable[[], Any] | None, tip: str) -> Any:
        import ipywidgets as w

        button = w.ToggleButton(
            description=label, button_style=style, disabled=True, tooltip=tip, layout=w.Layout(width="auto")
        )
        button.add_class("batchnb-btn")

        def pressed(change: dict[str, Any]) -> None:
            if not change["new"]:
                return
            try:
                button.disabled = True  # a second click while this one acts does nothing
                self.notice = self.info = ""
                if action is not None:
                    action()
            except Exception as exc:  # shown in the panel: a button's error must not vanish into a log
                self.notice = f"{label}: {exc}"
            finally:
                button.value = False
                self.refresh(force=True)

        button.observe(pressed, names="value")
        return button

    def say(self, text: str) -> None:
        """Show what a button does or did under the status (plain text, kept until the next click)."""
        self.info = text
        self.refresh(force=True)

    def _show_failed(self) -> None:
        if self._on_failed is None:
            return
        frame = self._on_failed()
        self.frame.clear_output()
        self.frame.append_display_data(frame)

    def show_final(self) -> None:
        """Render the final state as soon as a run ends (called from the engine's thread)."""
        try:
            self.refresh(force=True)
        except Exception as exc:  # a view must never break the engine
            self.last_error = exc

    # ------------------------------------------------------------------------------------------ render

    def refresh(self, force: bool = False) -> None:
        """Set every trait from one snapshot of the model (cheap when nothing changed)."""
        with self._rendering:
            version = self.model.version
            progress = self.model.snapshot()
            if not force and version == self._seen and not progress.running:
                return
            self._seen = version
            self.render(progress)

    def render(self, p: Progress) -> None:
        self.items.value = items_html(p)
        self.jobs.value = jobs_html(p)
        self.cost.value = cost_html(p)
        self.timing.value = timing_html(p)
        self.status.value = status_html(p, self.notice) + (
            f"<div class='batchnb-info' style='white-space:pre-wrap;margin-top:4px'>{html.escape(self.info)}</div>"
            if self.info
            else ""
        )
        cancelable = p.jobs_in_flight - p.jobs_reconciling - p.jobs_canceling
        # Cancel also with no run going (after a kernel restart, or a run that raised): batches may be in
        # flight; a batch whose cancel was accepted, or a create still being reconciled, has nothing to cancel
        enabled = {
            self.retry_button: not p.running and p.failed > 0,
            self.cancel_button: p.running or cancelable > 0,
            self.resume_button: not p.running and p.remaining > 0 and not p.budget_stop,
            # before anything was answered: a pilot is how a run starts, not something to do halfway
            self.pilot_button: not p.running and p.finished == 0 and p.remaining > 0 and not p.budget_stop,
            self.failed_button: p.failed > 0 and self._on_failed is not None,
        }
        for button, on in enabled.items():
            if not button.value:  # a pressed button stays disabled until its handler is done
                button.disabled = not on
        if p.failed_rows != self._failed_seen:
            self._failed_seen = p.failed_rows
            self.failed_table.value = failed_html(p.failed_rows, index_name=self.index_name, label=self.row_label)

    # ------------------------------------------------------------------------------------------ display

    def show(self) -> None:
        """Display the panel in the current cell, remembering the display so a run's end can update it."""
        from IPython.display import display

        self.refresh(force=True)
        handle = display(self, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None:
            self._handles.append(handle)

    def update_displays(self) -> None:
        """Give every display of this panel the current text and HTML; static HTML once nothing is left to do.

        Called when a run is over: from the run's own thread (JupyterLab routes an update by its display id,
        whatever thread sends it: a run started by a button has no cell waiting for it) and again on the
        main thread by ``run()`` / ``wait()`` (nbclient keeps only updates sent from a running cell). The
        same update twice is harmless; the lock keeps the two from interleaving."""
        with self._updating:
            progress = self.model.snapshot()
            bundle = None if actionable(progress) else self.static_bundle(progress)
            for handle in self._handles:
                if bundle is None:
                    handle.update(self)
                else:
                    handle.update(bundle, raw=True)

    def static_bundle(self, progress: Progress | None = None) -> dict[str, str]:
        p = progress or self.model.snapshot()
        page = static_html(p, self.title_text, self.notice, index_name=self.index_name, label=self.row_label)
        return {"text/plain": plain_text(p, self.title_text), "text/html": page}

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle.update(self.static_bundle())  # the widget view where a kernel runs it; text and HTML elsewhere
        return bundle

    def close(self) -> None:
        self._closed.set()
        self.widget.close()


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

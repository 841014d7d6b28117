"""The notebook panel: one anywidget (``_panel_widget``) bound to the progress model (anywidget and its base,
ipywidgets, are imported only from here, lazily).

The panel only reads ``ProgressModel.snapshot()``; its pictures are ``_panel_html``'s, synced as HTML through
the widget's traits (a trait is set only when its value changed: an idle panel sends nothing). A daemon
thread refreshes it a few times a second when the model's ``version`` moved. Buttons call the manager's
public methods through the callbacks given (``on_pilot``, ``on_retry``, ``on_cancel``, ``on_resume``,
``on_failed``), the same paths as ``retry_failed()``, ``cancel()``, ``start()`` and ``failed()``; a callback's
error is shown in the panel, not lost in a log.

Clicks come as the widget's custom messages, numbered by the front end; the panel acknowledges a click's
number the moment it takes it, and the clicked button reads "queued: the kernel is busy" until then: at
once where ``_kernel_clicks`` routes the widget's messages off the main thread; after the running cell
elsewhere.

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


def widgets_available() -> bool:
    """True inside an IPython kernel with anywidget importable (else the text repr is used)."""
    try:
        import anywidget  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def actionable(p: Progress) -> bool:
    """Whether a button of the panel could still do something (else a finished panel may become static)."""
    cancelable = p.jobs_in_flight - p.jobs_reconciling - p.jobs_canceling
    return p.running or p.failed > 0 or cancelable > 0 or (p.remaining > 0 and not p.budget_stop)


def enabled_actions(p: Progress, *, can_show_failed: bool) -> set[str]:
    """The buttons that can act on this snapshot."""
    cancelable = p.jobs_in_flight - p.jobs_reconciling - p.jobs_canceling
    # Cancel also with no run going (after a kernel restart, or a run that raised): batches may be in
    # flight; a batch whose cancel was accepted, or a create still being reconciled, has nothing to cancel
    wanted = {
        "retry": not p.running and p.failed > 0,
        "cancel": p.running or cancelable > 0,
        "resume": not p.running and p.remaining > 0 and not p.budget_stop,
        # before anything was answered: a pilot is how a run starts, not something to do halfway
        "pilot": not p.running and p.finished == 0 and p.remaining > 0 and not p.budget_stop,
        "failed": p.failed > 0 and can_show_failed,
    }
    return {action for action, on in wanted.items() if on}


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
        from ._panel_widget import PanelWidget

        self.model = model
        self.index_name, self.row_label = index_name, row_label  # failed rows named by the user's labels
        self.title_text = title
        self.notice = ""  # the last button error, shown under the status
        self.info = ""  # what a button does or did (the Pilot's report), shown under the status
        self._on_failed = on_failed
        self._actions: dict[str, Callable[[], Any] | None] = {
            "pilot": on_pilot, "retry": on_retry, "cancel": on_cancel, "resume": on_resume,
            "failed": self._show_failed,
        }  # fmt: skip
        self._acting: set[str] = set()  # actions whose handler runs now: their button is disabled
        self._handled = 0  # the highest click number taken
        self._frame_html = ""
        self._printed = ""
        self.widget = PanelWidget(title=title)
        self.widget.on_msg(self._message)
        self.clicks_served_at_once = serve_clicks_off_main_thread([self.widget])
        self._handles: list[Any] = []
        self._updating = threading.Lock()
        # one refresh at a time: the refresher thread, a click and a run's end (``show_final``) all render,
        # and an older snapshot rendered last would leave "running" on a panel whose run is over (seen in CI);
        # every trait is set under it
        self._rendering = threading.Lock()
        self._seen = -1
        self.last_error: Exception | None = None  # the last exception a background refresh met, if any
        self._failed_seen: tuple[FailedRow, ...] | None = None
        self._closed = threading.Event()
        self.refresh()
        model.when_run_ends(self.show_final)
        _start_refresher(self)

    # ------------------------------------------------------------------------------------------ clicks

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        from ._panel_widget import click_of

        click = click_of(content)
        if click is not None:
            self.click(*click)

    def click(self, action: str, seq: int = 0) -> None:
        """What the click numbered ``seq`` on ``action``'s button does: taken at once (the number is
        acknowledged, the button disabled while it acts), then its callback; an error shows in the panel."""
        from ._panel_widget import LABELS

        with self._rendering:
            self._handled = max(self._handled, seq)
            again = action in self._acting  # a second click while the first acts does nothing
            self._acting.add(action)
        callback = self._actions.get(action)
        try:
            if again:
                return
            self.notice = self.info = ""
            self.refresh(force=True)  # the click is taken: no longer "queued"
            if callback is not None:
                callback()
        except Exception as exc:  # shown in the panel: a button's error must not vanish into a log
            self.notice = f"{LABELS[action]}: {exc}"
        finally:
            if not again:
                with self._rendering:
                    self._acting.discard(action)
            self.refresh(force=True)

    def say(self, text: str) -> None:
        """Show what a button does or did under the status (plain text, kept until the next click)."""
        self.info = text
        self.refresh(force=True)

    def append_stdout(self, text: str) -> None:
        """Show text printed where no cell waits (``on_done`` in a run a button started) under the panel."""
        self._printed += text
        self.refresh(force=True)

    def _show_failed(self) -> None:
        if self._on_failed is None:
            return
        frame = self._on_failed()
        shown = getattr(frame, "_repr_html_", None)
        page = shown() if callable(shown) else None
        self._frame_html = page or f"<pre>{html.escape(repr(frame))}</pre>"

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
        """Put one snapshot into the widget's traits; only the traits whose value changed are set (and sent).
        Called under the render lock."""
        info = (
            f"<div class='batchnb-info' style='white-space:pre-wrap;margin-top:4px'>{html.escape(self.info)}</div>"
            if self.info
            else ""
        )
        on = enabled_actions(p, can_show_failed=self._on_failed is not None) - self._acting
        values: dict[str, Any] = {
            "items_html": items_html(p),
            "jobs_html": jobs_html(p),
            "cost_html": cost_html(p),
            "timing_html": timing_html(p),
            "status_html": status_html(p, self.notice) + info,
            "frame_html": self._frame_html,
            "printed": self._printed,
            "enabled": [action for action in self._actions if action in on],
            "handled": self._handled,
        }
        if p.failed_rows != self._failed_seen:
            self._failed_seen = p.failed_rows
            values["failed_html"] = failed_html(p.failed_rows, index_name=self.index_name, label=self.row_label)
        widget = self.widget
        with widget.hold_sync():  # the changed traits go in one message
            for name, value in values.items():
                if getattr(widget, name) != value:
                    setattr(widget, name, value)

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

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The widget view where a front end runs it; text and HTML beside it for everywhere else."""
        shown = self.widget._repr_mimebundle_(**kwargs)
        data, metadata = shown if isinstance(shown, tuple) else (shown or {}, {})
        return {**data, **self.static_bundle()}, dict(metadata or {})

    def _display_(self) -> Any:
        """The widget, for front ends that display objects by this protocol (marimo: a live view of it)."""
        from ._marimo import active, view

        return view(self.widget) if active() else self.widget

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

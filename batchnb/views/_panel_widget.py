"""The panel's one widget: an ``anywidget.AnyWidget`` whose state is the panel's pictures (``_panel_html``'s
HTML fragments), the buttons' enabled flags and the last click the kernel took; its front end is
``panel.js`` + ``panel.css`` (package data), the same ES module wherever anywidget runs (JupyterLab, VS Code,
Colab, marimo): there is no branch on the front end.

A click travels as a custom message ``{"click": action, "seq": n}``; the kernel acknowledges ``n`` through
the ``handled`` trait as soon as it takes the click. Until then the clicked button reads "queued: the kernel
is busy" (a kernel that runs cells and widget messages on one thread takes it after the running cell).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import anywidget
import traitlets

#: The buttons, in their order: (action, label, style, tooltip). ``style`` colours them as ipywidgets did.
BUTTONS: tuple[tuple[str, str, str, str], ...] = (
    ("pilot", "Pilot", "", "run a sample spread over the inputs first: its cost and quality (manager.pilot())"),
    ("retry", "Retry failed", "warning", "resubmit the failed items"),
    ("cancel", "Cancel", "danger", "cancel the batches in flight"),
    ("resume", "Resume", "info", "run what is not finished"),
    ("failed", "Failed rows as DataFrame", "", "manager.failed()"),
)
LABELS = {action: label for action, label, _, _ in BUTTONS}

#: The traits holding HTML the panel rendered, in the order the front end shows them.
PARTS = ("items_html", "jobs_html", "cost_html", "timing_html", "status_html", "failed_html", "frame_html")


def _asset(name: str) -> str:
    return files(__package__ or "batchnb.views").joinpath(name).read_text(encoding="utf-8")


class PanelWidget(anywidget.AnyWidget):
    """The live panel's state, synced to every view of it; set only by ``Panel.render`` (under its lock)."""

    _esm = _asset("panel.js")
    _css = _asset("panel.css")

    title = traitlets.Unicode("").tag(sync=True)
    items_html = traitlets.Unicode("").tag(sync=True)
    jobs_html = traitlets.Unicode("").tag(sync=True)
    cost_html = traitlets.Unicode("").tag(sync=True)
    timing_html = traitlets.Unicode("").tag(sync=True)
    status_html = traitlets.Unicode("").tag(sync=True)
    failed_html = traitlets.Unicode("").tag(sync=True)
    #: what "Failed rows as DataFrame" showed (the frame's own HTML), under the panel
    frame_html = traitlets.Unicode("").tag(sync=True)
    #: what ``on_done`` printed in a run a button started (no cell waits for it), as text
    printed = traitlets.Unicode("").tag(sync=True)
    buttons = traitlets.List(
        [{"action": a, "label": label, "style": s, "tip": tip} for a, label, s, tip in BUTTONS]
    ).tag(sync=True)
    #: the actions whose button can be clicked now
    enabled = traitlets.List(traitlets.Unicode(), []).tag(sync=True)
    #: the highest click number the kernel has taken; a view shows "queued" for its clicks above it
    handled = traitlets.Int(0).tag(sync=True)


def click_of(content: Any) -> tuple[str, int] | None:
    """The (action, number) of a click message from the front end; ``None`` for anything else."""
    if not isinstance(content, dict):
        return None
    action, seq = content.get("click"), content.get("seq")
    if action not in LABELS or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return None
    return action, seq

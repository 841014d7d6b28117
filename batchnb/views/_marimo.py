"""The panel in a marimo notebook: where a run shows it, and a fresh view of it in each cell that shows it.

marimo renders anywidgets itself, without ipykernel: a widget built in a cell opens a comm bound to the
notebook's session, so the panel's refresher thread and a run's own thread update it from anywhere (no
``mo.Thread`` needed), and its clicks arrive as custom messages, taken on marimo's main thread between cells
(while a cell runs they wait, and the clicked button reads "queued"). The same ES module runs there as in
JupyterLab; this adapter only does what marimo asks of the Python side:

- a run shows the panel with ``mo.output.append`` in the running cell (IPython's ``display`` is not there);
- marimo closes a widget's comm when the cell that opened it runs again or is deleted, while the panel lives
  on in its manager: showing it reopens a closed comm (a new model, through ipywidgets' ``open()`` and the
  comm provider marimo installs) and wraps it in a new ``mo.ui.anywidget``, so every display is live.

marimo is never imported here unless a marimo kernel has imported it already (``active()``).
"""

from __future__ import annotations

import sys
from typing import Any


def active() -> bool:
    """True inside a marimo notebook's kernel (``marimo edit``, ``marimo run``, ``marimo export html``)."""
    marimo = sys.modules.get("marimo")
    if marimo is None:
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # an older or partial marimo: the panel is simply not shown there
        return False


def view(widget: Any) -> Any:
    """What marimo shows for the panel's widget: a new ``mo.ui.anywidget`` of it, its comm open."""
    import marimo as mo

    reopen_if_closed(widget)
    return mo.ui.anywidget(widget)


def show(panel: Any) -> None:
    """Append the panel to the output of the cell running now (it displays itself through ``view``)."""
    import marimo as mo

    mo.output.append(panel)


def reopen_if_closed(widget: Any) -> None:
    """Open a new comm for a widget whose comm marimo closed (its cell ran again): a new model id, so that
    the front end makes a new model and view rather than keep the closed one."""
    comm = getattr(widget, "comm", None)
    if comm is not None and not getattr(comm, "_closed", False):
        return
    widget.comm = None
    widget._model_id = None
    widget.open()

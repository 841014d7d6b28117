"""The manager in a notebook: its panel (created on first use), how it displays itself (a Jupyter kernel's
display bundle; marimo's ``_display_``), and the updates of every display when a run ends. A mixin of
``BatchManager``; with ``_front`` the only room of manager/ that imports the views (the panel, lazily: anywidget
only when a panel is asked for)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...inputs._requests import RequestOptions
from ...views._console import ConsoleView
from ...views._progress import ProgressModel
from ..state._state import ManagerState
from ._source import Source

if TYPE_CHECKING:
    import pandas as pd

    from ..engine._pilot import PilotReport


#: Items the panel's Pilot button samples (``manager.pilot(n)`` for another number).
PANEL_PILOT = 20


class PanelView:
    """``panel()``, ``_repr_mimebundle_`` and the display updates, on the manager's own attributes."""

    _panel: Any
    _panel_shown: bool
    _progress: ProgressModel
    _source: Source
    options: RequestOptions

    if TYPE_CHECKING:

        @property
        def manager_id(self) -> str: ...
        @property
        def _state(self) -> ManagerState: ...
        def start(self, *, retry: bool = False, show: bool = True, pilot: int | None = None) -> None: ...
        def _claim_run(self) -> None: ...
        def _launch(
            self,
            *,
            retry: bool,
            show: bool,
            pilot: list[int] | None,
            background: bool,
            then: Callable[[], object] = ...,
        ) -> None: ...
        def _pilot_positions(self, n: int, seed: int) -> list[int]: ...
        def _pilot_slots(self, positions: list[int]) -> list[int]: ...
        def _pilot_report(self, positions: list[int]) -> PilotReport: ...
        def cancel(self) -> None: ...
        def failed(self) -> pd.DataFrame: ...

    def panel(self) -> Any:
        """The notebook panel of this manager (one per manager, created on first use)."""
        if self._panel is None:
            from ...views._panel import Panel

            self._panel = Panel(
                self._progress,
                title=f"batchnb · {self.options.model} · {self.manager_id[:8]}",
                on_retry=lambda: self.start(retry=True, show=False),
                on_cancel=self.cancel,
                on_resume=lambda: self.start(show=False),
                on_pilot=self._pilot_clicked,
                on_failed=self.failed,
                index_name=self._source.index_name,
                row_label=self._row_label,
            )
        return self._panel

    def _pilot_clicked(self) -> None:
        """The panel's Pilot: ``pilot(PANEL_PILOT)`` in the background. The panel says at once what it sends,
        and shows the report once it is over (also when nothing was left to send: the sample's figures)."""
        panel, positions = self.panel(), self._pilot_positions(PANEL_PILOT, 0)
        slots = self._pilot_slots(positions)
        self._claim_run()
        panel.say(
            f"Pilot: {len(positions)} items sampled across the inputs are sent alone first (what earlier runs "
            "answered is reused); their report shows here when they are done."
        )

        def report() -> None:
            try:
                panel.say(str(self._pilot_report(positions)))
            except Exception as exc:  # a view must never break the run's end
                panel.last_error = exc

        self._launch(retry=False, show=False, pilot=slots, background=True, then=report)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """The panel's bundle (data, metadata) in a kernel; plain text elsewhere."""
        from ...views._panel import widgets_available

        if widgets_available():
            return self.panel()._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self)}

    def _display_(self) -> Any:
        """marimo's display protocol (the manager as a cell's value): the live panel in a marimo notebook."""
        from ...views import _marimo

        return self.panel() if _marimo.active() else repr(self)

    def _show_progress(self, wanted: bool) -> None:
        self._panel_shown = wanted and self._show_panel()

    def _show_panel(self) -> bool:
        """Show the live panel in the running cell where a front end can run it: a Jupyter kernel (a display
        that a run's end updates) or a marimo notebook (appended to the cell's output)."""
        from ...views import _marimo
        from ...views._panel import widgets_available

        if widgets_available():
            self.panel().show()
            return True
        if _marimo.active():
            _marimo.show(self.panel())
            return True
        return False

    def _show_run(self, wanted: bool, *, console: bool) -> ConsoleView | None:
        """Show a run if ``wanted``: the live panel in a kernel; elsewhere, with ``console``, the console view
        (returned: the run attaches it to its events, and closes it with a summary)."""
        self._show_progress(wanted)
        return ConsoleView(self._progress) if wanted and console and not self._panel_shown else None

    def _update_displays(self) -> None:
        if self._panel is not None:
            try:
                self._panel.update_displays()
            except Exception as exc:  # a view must never break the run's end
                self._panel.last_error = exc

    def _row_label(self, item: int) -> Any:
        """How views name a state item: the user's label of the first input asking it."""
        view = self._state.inputs
        return self._source.label(view.position(item) if view is not None else item)

"""``manager.pilot(n)``: a sample spread over the inputs run first, and its report (``_pilot``). A mixin of
``BatchManager``, on the manager's own attributes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import InputError
from ...inputs._requests import RequestOptions
from ...results._item_result import ItemResult
from ..engine._context import RunContext
from ..engine._pilot import PilotReport, pilot_report, sample_positions
from ..engine._run import RunBody
from ..state._recorder import Recorder


class PilotView:
    options: RequestOptions
    _recorder: Recorder
    _ctx: RunContext
    _body: RunBody

    if TYPE_CHECKING:

        def _claim_run(self) -> None: ...
        def _run_here(self, *, retry: bool, show: bool, pilot: list[int] | None = None) -> None: ...
        def results(self) -> Sequence[ItemResult]: ...

    def pilot(self, n: int = 20, *, seed: int = 0, print_progress: bool = True) -> PilotReport:
        """Run ``n`` items sampled across the inputs (one per stratum, ``seed``-ed: the same sample each time)
        as one batch, within ``max_cost``, and report what they tell about the whole run: the share that
        validated and why the others failed, tokens (mean, p95), the measured cost per item, the projected
        cost, the headroom under ``max_tokens``, and what it met on its way (refusals waited out). Their
        answers are kept: ``run()`` then sends only the other items. Sampled items answered before are not
        sent again; after an interrupted pilot, its batches are collected and what they canceled sent again.

        ``print_progress`` (default on: a pilot is watched): the live panel in a notebook, console lines
        elsewhere, as ``run(print_progress=True)``.
        """
        positions = self._pilot_positions(n, seed)
        slots = self._pilot_slots(positions)
        self._claim_run()
        self._run_here(retry=False, show=print_progress, pilot=slots)
        return self._pilot_report(positions)

    def _pilot_report(self, positions: list[int]) -> PilotReport:
        """The report of the sample at input ``positions``, from the answers in the state and what the last
        run met (``ErrorsMet``)."""
        results = self.results()
        return self._recorder.read(
            lambda state: pilot_report(
                [results[p] for p in positions],
                positions,
                items=state.wanted_count,
                unanswered=sum(1 for i, n in enumerate(state.results.chosen) if n < 0 and i not in state.aside),
                max_tokens=self.options.max_tokens,
                max_cost=self._ctx.max_cost,
                model_name=self.options.response_model.__name__ if self.options.response_model else "",
                errors=self._body.met.counts(),
            )
        )

    def _pilot_positions(self, n: int, seed: int) -> list[int]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"pilot(n=...) takes a number of items of at least 1, got {n!r}.")
        return sample_positions(self._recorder.read(lambda state: self._ctx.inputs.input_count), n, seed)

    def _pilot_slots(self, positions: list[int]) -> list[int]:
        """The state items the sampled input ``positions`` ask."""
        return self._recorder.read(lambda state: [self._ctx.inputs.slot(p) for p in positions])

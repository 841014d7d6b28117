"""``manager.pilot(n)``: a sample spread over the inputs run first, and its report (``_pilot``); with
``models=[...]``, the same sample through each model and how far they agree (``_comparison``). A mixin of
``BatchManager``, on the manager's own attributes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from ...errors import InputError
from ...inputs._requests import RequestOptions
from ...results._item_result import ItemResult
from ..engine._comparison import ModelComparison, compare_models
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
        def with_model(self, model: str) -> Any: ...
        @property
        def _committed(self) -> float: ...

    @overload
    def pilot(self, n: int = 20, *, seed: int = 0, print_progress: bool = True) -> PilotReport: ...
    @overload
    def pilot(
        self, n: int = 20, *, seed: int = 0, print_progress: bool = True, models: Sequence[str]
    ) -> ModelComparison: ...

    def pilot(
        self, n: int = 20, *, seed: int = 0, print_progress: bool = True, models: Sequence[str] | None = None
    ) -> PilotReport | ModelComparison:
        """Run ``n`` items sampled across the inputs (one per stratum, ``seed``-ed: the same sample each time)
        as one batch, within ``max_cost``, and report what they tell about the whole run: the share that
        validated and why the others failed, tokens (mean, p95), the measured cost per item, the projected
        cost, the headroom under ``max_tokens``, and what it met on its way (refusals waited out). Their
        answers are kept: ``run()`` then sends only the other items. Sampled items answered before are not
        sent again; after an interrupted pilot, its batches are collected and what they canceled sent again.

        ``print_progress`` (default on: a pilot is watched): the live panel in a notebook, console lines
        elsewhere, as ``run(print_progress=True)``.

        ``models=["claude-sonnet-4-5", ...]``: the same sample through each model (this manager's own added
        first if not named), each model's answers in a state of its own (``with_model``), and a
        ``ModelComparison``: per field how often each pair agrees, with its 95% interval, the cost per item of
        each, and a recommendation. ``max_cost`` holds everything together: each model's pilot runs within
        what is left of it, and a later ``run()`` of any of them counts what the others spent.
        """
        if models is not None:
            return self._compare(n, seed, print_progress, models)
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

    def _compare(self, n: int, seed: int, show: bool, models: Sequence[str]) -> ModelComparison:
        """``pilot(n, models=...)``: every model's manager built first (a bad model id fails before anything is
        sent), then each model's pilot of the same sample, one after another."""
        if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
            raise InputError(f"pilot(models=...) takes a list of model ids, got {models!r}.")
        own = self.options.model
        names = list(dict.fromkeys([own, *models]))
        if len(names) < 2:
            raise InputError(f"pilot(models=...) compares models: name at least one besides {own!r}.")
        positions = self._pilot_positions(n, seed)
        managers = {name: self.with_model(name) for name in names}
        before = {name: _spent(m) for name, m in managers.items()}
        reports = {name: m.pilot(n, seed=seed, print_progress=show) for name, m in managers.items()}
        results = {name: _at(m.results(), positions) for name, m in managers.items()}
        spent = sum(_spent(m) - before[name] for name, m in managers.items())
        return compare_models(names, results, reports, positions, spent=spent, max_cost=self._ctx.max_cost)


def _at(results: Sequence[ItemResult], positions: list[int]) -> list[ItemResult]:
    return [results[p] for p in positions]


def _spent(manager: Any) -> float:
    """What a manager's state spent and holds (its reservations released once its runs are over)."""
    state = manager._recorder.state
    return float(state.total_cost + state.held)

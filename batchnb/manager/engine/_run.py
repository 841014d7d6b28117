"""The body of one run, between opening the state files and closing them, and the words for how it ended.

Every run ends with one ``RunEnded`` whose ``outcome`` says why (finished, canceled, interrupted, budget,
error, stopped) and whose ``message`` says what became of the work and how to go on: the panel and the
console show it, and the state keeps it for the next kernel.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from ..._events import JobsPlanned, RunEnded, RunStarted
from ...errors import ProviderError, StateError
from ...views._readings import money
from ..plan._job import JobRecord
from ..state._recorder import utc_now
from ..state._state import ManagerState
from ._context import RunContext
from ._driver import JobDriver
from ._pilot import ErrorsMet, plan_pilot
from ._scheduler import Scheduler

#: Rounds of a pilot at most: what is at the provider collected and the rest sent, then what came back canceled.
PILOT_ROUNDS = 3


class RunBody:
    def __init__(self, ctx: RunContext, scheduler: Scheduler, driver: JobDriver) -> None:
        self.ctx, self.scheduler, self.driver = ctx, scheduler, driver
        self._cancels_before = 0
        self._sample: list[int] = []
        self.met = ErrorsMet()  # what each run met on its way (a pilot's report says it)
        ctx.recorder.listeners.append(self.met)

    def run(self, retry: bool, console: Any, pilot: list[int] | None = None) -> bool:
        """One run; ``pilot``: the sampled state items, sent alone (``_pilot``), nothing else driven. ``False``
        when there was nothing to do (no run started: nothing written, nobody told)."""
        ctx = self.ctx
        ctx.job_errors.clear()
        ctx.notes.clear()
        self.met.clear()
        if console is not None:
            ctx.recorder.listeners.append(console)
        if ctx.save_results_dir is not None:
            ctx.save_results_dir.mkdir(parents=True, exist_ok=True)
        planned = None
        if pilot is not None:
            self._sample = pilot
            planned = ctx.recorder.read(self._pilot_plan)
            if planned is None:
                return False  # the sample is answered: nothing to send
        elif not retry and not ctx.recorder.read(lambda _: self.scheduler.has_work()):
            return False  # nothing to do: nothing is written, and the views keep saying how the last run ended
        ctx.deadline_at = ctx.deadline.at(time.time()) if ctx.deadline is not None else None
        ctx.deadline_passed = False
        ctx.recorder.emit(RunStarted(at=utc_now(), max_cost=ctx.max_cost, deadline=ctx.deadline_at))
        warm = self._warm_plan() if planned is None and not retry else None
        self._cancels_before = self._cancels()
        if retry:
            self.scheduler.plan_retries(lambda result, attempts: True)
        outcome: tuple[str, str] | None = None
        try:
            if planned is not None:
                self._drive_pilot(planned)
            else:
                if warm is not None:  # one request alone first: it writes the prompt cache the others then read
                    for event in warm[0]:
                        ctx.recorder.emit(event)
                    ctx.only_jobs = warm[1]
                    self.scheduler.run()
                    ctx.only_jobs = None
                self.scheduler.run()
        except BaseException as exc:
            outcome = ("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:  # the run is over however it ended: views stop showing "running" and say why
            if outcome is None and ctx.stop_reason == "interrupted":  # Ctrl-C where the caller waits
                with suppress(StateError, ProviderError):
                    self.driver.cancel_jobs(None)
                outcome = ("interrupted", f"by Ctrl-C: {self._canceled_words()}")
            if outcome is None:
                with ctx.cancel_lock:  # a cancel() being sent: wait for it, to say what it did
                    outcome = self._how_it_ended()
            ctx.only_jobs = None
            message = " ".join(filter(None, (outcome[1], *ctx.notes)))
            with suppress(StateError):  # a state that cannot be written is reported by the caller
                ctx.recorder.emit(RunEnded(at=utc_now(), outcome=outcome[0], message=message))
        if ctx.job_errors and outcome[0] != "interrupted":
            raise self._job_error()
        return True

    def _pilot_plan(self, state: ManagerState) -> tuple[list[JobsPlanned], frozenset[int]] | None:
        ctx = self.ctx
        return plan_pilot(state, self._sample, ctx.costings, ctx.items_per_job, ctx.limits)

    def _drive_pilot(self, planned: tuple[list[JobsPlanned], frozenset[int]] | None) -> None:
        """A pilot's rounds, its jobs driven alone: what is at the provider (an interrupted pilot's batches)
        collected and the rest sent; then what came back canceled sent again, until the sample is answered or
        the run stops (cancel, Ctrl-C, the budget, a job that could not run)."""
        ctx, driven = self.ctx, set()  # type: RunContext, set[int]
        for round_ in range(PILOT_ROUNDS):
            with ctx.recorder.lock:  # planned against the state as it is when emitted (job numbers)
                if round_:
                    planned = self._pilot_plan(ctx.state)
                if planned is None:
                    return
                for event in planned[0]:
                    ctx.recorder.emit(event)
            driven |= planned[1]
            ctx.only_jobs = frozenset(driven)
            self.scheduler.run()
            if ctx.stop.is_set() or ctx.state.budget_stop or ctx.job_errors:
                return

    def _cancels(self) -> int:
        """Batches of this state whose cancel the provider accepted (ever)."""
        return self.ctx.recorder.read(lambda s: sum(1 for j in s.jobs if j.cancel_requested))

    def _canceled_words(self) -> str:
        state, canceled = self.ctx.state, self._cancels() - self._cancels_before
        done = state.counts["succeeded"] + state.counts["failed"]
        finished = f"{done:,}/{state.wanted_count:,} items done, their results kept" if done else "no item done yet"
        collected = " (what they finished comes in with the next run)" if canceled else ""
        stopped = f"{canceled} batch(es) in flight canceled{collected}"
        if self.ctx.deadline_passed:  # its batches were canceled at the deadline already
            stopped = "realtime calls stopped after the deadline (the items not called yet go in the next run)"
        return f"{stopped}; {finished}. {self.ctx.resume_hint}"

    def _how_it_ended(self) -> tuple[str, str]:
        ctx, state = self.ctx, self.ctx.state
        if ctx.job_errors:
            return "error", str(self._job_error())
        if ctx.stop_reason == "canceled":
            return "canceled", self._canceled_words()
        if state.budget_stop:
            return "budget", state.budget_stop
        left = state.counts["pending"] + state.counts["processing"]
        if ctx.only_jobs is not None:
            return "pilot", self._pilot_words(left)
        if ctx.deadline_passed and not ctx.deadline_fallback and left:
            unanswered = state.wanted_count - state.counts["succeeded"]
            return "deadline", (
                f"batches in flight were canceled; {_count(unanswered, 'item')} without an answer "
                f"(Deadline(..., fallback=False) sends nothing after the deadline). {ctx.resume_hint}"
            )
        if left:
            return "stopped", f"{left:,} items not finished. {ctx.resume_hint}"
        if ctx.deadline_passed:
            return "finished", self._deadline_words()
        return "finished", ""

    def _deadline_words(self) -> str:
        """How a run the deadline reached finished: what went as realtime calls, and what they cost."""
        state = self.ctx.state
        _, answered, costs = _outcomes(state, [job for job in state.jobs if job.realtime and job.started_at])
        cost = sum(cost or 0.0 for cost in costs)
        by_batch = state.counts["succeeded"] - answered
        return (
            f"the deadline came: {_count(answered, 'item')} answered by realtime calls ({money(cost)} at full "
            "price)" + (f", {_count(by_batch, 'item')} by batches" if by_batch > 0 else "")
        )

    def _warm_plan(self) -> tuple[list[JobsPlanned], frozenset[int]] | None:
        """``PromptCache(warm=True)``: the first item alone, when nothing of the run is answered yet (else the cache was
        written already, or its requests are on their way)."""
        ctx = self.ctx
        if not ctx.warm_cache:
            return None

        def plan(state: ManagerState) -> tuple[list[JobsPlanned], frozenset[int]] | None:
            if any(number >= 0 for number in state.results.chosen):
                return None
            first = next((i for i in range(state.item_count) if i not in state.aside), None)
            if first is None:
                return None
            return plan_pilot(state, [first], ctx.costings, ctx.items_per_job, ctx.limits, reason="warm cache")

        return ctx.recorder.read(plan)

    def _pilot_words(self, left: int) -> str:
        """How a pilot run ended, with what the panel can show of its figures (``pilot()`` reports more)."""
        ctx, state = self.ctx, self.ctx.state
        batches = sum(1 for index in ctx.only_jobs or () if state.jobs[index].batch_id)
        sample = [item for item in sorted(set(self._sample)) if item not in state.aside]
        answered = [item for item in sample if state.item_status[item] in ("succeeded", "failed")]
        ok = sum(1 for item in answered if state.item_status[item] == "succeeded")
        costs = [state.results.cost_of(state.results.chosen[item]) for item in answered]
        words = f"{_count(len(answered), 'sampled item')} answered in {_count(batches, 'batch')}, {ok:,} succeeded"
        if answered and all(cost is not None for cost in costs):
            per_item = sum(cost or 0.0 for cost in costs) / len(answered)
            words += f"; {money(per_item)} per item measured, about {money(per_item * left)} for the {left:,} left"
        return f"{words}. Resume (or run()) sends the {_count(left, 'item')} left, reusing the pilot's answers."

    def _job_error(self) -> ProviderError:
        errors = self.ctx.job_errors
        index, first = next(iter(errors.items()))
        error = ProviderError(
            f"{len(errors)} job(s) could not be run, e.g. job {index}: {first}. "
            "Finished results are kept; run() again once the cause is fixed."
        )
        error.__cause__ = first
        return error


def _outcomes(state: ManagerState, jobs: list[JobRecord]) -> tuple[int, int, list[float | None]]:
    """The outcomes of ``jobs``: how many, how many succeeded, and their costs."""
    ledger = state.results
    numbers = [number for job in jobs for number in job.done]
    return len(numbers), sum(ledger.status_of(n) == "succeeded" for n in numbers), [ledger.cost_of(n) for n in numbers]


def _count(n: int, noun: str) -> str:
    """``1 batch``, ``2 batches``, ``20 sampled items``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "es" if noun.endswith(("s", "sh", "ch", "x")) else "s")

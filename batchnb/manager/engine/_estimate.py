"""What ``run()`` would do, without spending anything: jobs left and the worst case of what is left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...views._readings import money
from ..plan._budget import available, fit_prefix
from ..state._state import ManagerState
from ._context import RunContext
from ._rounds import Foresight, foresee, measured_cost
from ._scheduler import auto_retryable, failures


@dataclass(frozen=True, repr=False)
class Estimate:
    """What ``run()`` would do, without spending anything."""

    items: int
    jobs: int
    job_sizes: list[int]  # items in each job left to run (the option items_per_job is their maximum)
    worst_case_cost: float | None
    input_tokens_estimate: int
    max_cost: float | None
    already_spent: float  # by this state, and by the manager's other models' states (they share max_cost)
    items_at_once: int | None = None  # items left whose worst cases fit in the budget together (None: no limit)
    reused: int = 0  # inputs whose request this state has already answered: reused, never sent or paid again
    repeats: int = 0  # inputs asking the same request as an earlier input: sent once, both rows filled
    new: int = 0  # inputs whose request is still to send (``todo`` requests: fewer when inputs repeat)
    sent: int = 0  # inputs whose request is in a batch already sent (or maybe sent): collected by the run
    again: int = 0  # inputs whose request failed and that run() sends again (canceled; transient, max_retries)
    measured_cost_per_item: float | None = None  # mean cost of the answers so far (a pilot's, an earlier run's)
    measured_items: int = 0  # answers that mean is over
    deadline: str = ""  # when a run must be over (``deadline=``), in words ("" : none)
    deadline_fallback: bool = True  # items left at the deadline go as realtime calls, at full price
    rounds: int | None = None  # max_cost binds: rounds of batches it implies, one after another (else None)
    rounds_at_least: bool = False  # no cost measured yet: ``rounds`` is the fewest the cap allows
    one_round_max_cost: float | None = None  # the max_cost that would send every item left in one round
    suggested_max_tokens: int | None = None  # from the answers' p95 output with a margin: more items a round
    rounds_words: str = ""  # the rounds in words (what ``str()`` says of them)
    spent_elsewhere: float = 0.0  # of ``already_spent``: by the manager's other models (``pilot(models=)``)

    @property
    def fits(self) -> bool:
        return self.max_cost is None or (self.worst_case_cost or 0.0) + self.already_spent <= self.max_cost

    @property
    def budget_limited(self) -> bool:
        """True when ``max_cost`` cannot hold the worst case of every item left at once: the run then goes in
        rounds of batches one after another (``rounds``; each round packed in as few batches as the limits
        allow), and stops when even one item's worst case no longer fits. Actual costs are usually far below
        the worst case, so such a run often still finishes, later."""
        return not self.fits

    @property
    def todo(self) -> int:
        return sum(self.job_sizes)

    def __repr__(self) -> str:  # a notebook shows the sentence, not the dataclass's fields
        return f"<Estimate: {self}>"

    def __str__(self) -> str:
        cost = "unknown (no price)" if self.worst_case_cost is None else f"${self.worst_case_cost:.4f}"
        limit = (
            ""
            if self.max_cost is None
            else f" against max_cost {money(self.max_cost)}"
            + (f" (${self.already_spent:.4f} already spent" if self.already_spent else "")
            + (f", {money(self.spent_elsewhere)} of it by other models" if self.spent_elsewhere else "")
            + (")" if self.already_spent else "")
        )
        if self.reused or self.repeats or self.sent or self.again:
            parts = [f"{self.reused:,} reused (answered before, not paid again)"] if self.reused else []
            requests = f" as {self.todo:,} requests" if self.todo != self.new + self.again else ""
            sending = [f"{self.new:,} new"] if self.new else []
            if self.again:
                sending.append(f"{self.again:,} again (canceled, or failed for a reason a retry may fix)")
            parts.append(
                f"{' and '.join(sending)} to send{requests} in {_jobs(self.jobs)}" if sending else "none to send"
            )
            if self.sent:
                parts.append(f"{self.sent:,} in batches already sent (the run collects them)")
            work = f"{self.items:,} items: " + ", ".join(parts)
            if self.repeats:
                work += f" ({self.repeats:,} repeat another item's request: each request is sent once)"
        else:
            work = f"{self.items:,} items in {_jobs(self.jobs)}"
        text = f"{work}; worst-case cost {cost}{limit}; at most {self.input_tokens_estimate:,} input tokens"
        if self.measured_cost_per_item is not None and self.todo:
            text += (
                f"; measured {money(self.measured_cost_per_item)} per item over {self.measured_items:,} answer(s) "
                f"so far: about {money(self.measured_cost_per_item * self.todo)} for the {self.todo:,} to send"
            )
        if self.deadline:
            then = "batches still running then are canceled"
            if self.deadline_fallback:
                worst = "" if self.worst_case_cost is None else f": a worst case of {money(2 * self.worst_case_cost)}"
                then = (
                    "what batches have not answered by then goes as realtime calls at full price (twice the batch "
                    f"price{worst} if none is answered by a batch), within max_cost"
                )
            text += f"; deadline {self.deadline}: {then}"
        if self.budget_limited and self.rounds_words:
            text += (
                f". {self.rounds_words}. It stops if even one item's worst case no longer fits. Raise max_cost (or "
                "lower max_tokens) to run in fewer rounds"
            )
        elif self.budget_limited:
            text += (
                f". max_cost limits this run: the worst cases of only {self.items_at_once or 0:,} of the "
                f"{self.todo:,} items left fit in it at once, so jobs are cut to fit and run fewer at a time "
                "(more jobs than planned, and longer); it stops if even one item's worst case no longer fits. "
                "Raise max_cost (or lower max_tokens) to run as planned"
            )
        return text


def _jobs(count: int) -> str:
    return f"{count:,} job" + ("" if count == 1 else "s")


def estimate(state: ManagerState, ctx: RunContext) -> Estimate:
    view, aside = ctx.inputs, state.aside
    jobs, item_job = state.jobs, state.item_job
    todo = [  # items in jobs not created yet (a job in doubt may have made its batch: it is counted as sent)
        i
        for i in range(state.item_count)
        if state.item_status[i] == "pending" and i not in aside and jobs[item_job[i]].status == "pending"
    ]
    again = sorted(i for i, result, attempt in failures(state) if auto_retryable(result, attempt, ctx.max_retries))
    per_job = max(ctx.items_per_job, 1)
    retry_sizes = [len(again[k : k + per_job]) for k in range(0, len(again), per_job)]
    todo += again
    at_once = None
    elsewhere = ctx.elsewhere  # the manager's other models' states share max_cost
    if ctx.max_cost is not None:
        room = available(ctx.cap, state.total_cost + state.held, state.reserved)
        at_once = fit_prefix([ctx.worst[i] or 0.0 for i in todo], room).count
    wanted = [w for i, w in enumerate(ctx.worst) if i not in aside]
    worst = None if any(w is None for w in wanted) else sum(ctx.worst[i] or 0.0 for i in todo)
    todo_set = set(todo)
    sizes = [len([i for i in job.items if i in todo_set]) for job in state.jobs if job.status == "pending"]
    sizes += retry_sizes
    positions = view.positions if view.positions is not None else range(view.input_count)
    costings = ctx.costings
    again_set = set(again)
    measured = _measured(state)
    spent = state.total_cost + state.held + elsewhere
    binds = ctx.max_cost is not None and worst is not None and worst + spent > ctx.max_cost  # else: one round
    reused = sum(1 for item in positions if item in state.results and item not in again_set)
    sent_again = sum(1 for item in positions if item in again_set)
    new = sum(1 for item in positions if item in todo_set) - sent_again
    return Estimate(
        items=view.input_count,
        reused=reused,
        repeats=view.repeats,
        new=new,
        again=sent_again,
        sent=view.input_count - reused - new - sent_again,
        jobs=len([s for s in sizes if s]),
        job_sizes=[s for s in sizes if s],
        worst_case_cost=worst,
        input_tokens_estimate=sum(c.input_tokens for c in (costings[i] for i in todo) if c is not None),
        max_cost=ctx.max_cost,
        already_spent=spent,  # held: results never returned, maybe billed
        spent_elsewhere=elsewhere,
        items_at_once=at_once,
        deadline=ctx.deadline.words() if ctx.deadline is not None else "",
        deadline_fallback=ctx.deadline_fallback,
        **measured,
        **_rounds(foresee(ctx, state, todo, measured.get("measured_cost_per_item")) if binds else None),
    )


def _measured(state: ManagerState) -> dict[str, Any]:
    """The mean cost of the answers the asked items have (a pilot's, an earlier run's): what the rest will
    likely cost, beside the worst case. Nothing when some answer has no price."""
    cost = measured_cost(state)
    if cost is None:
        return {}
    answered = sum(1 for item, number in enumerate(state.results.answered()) if number >= 0 and item not in state.aside)
    return {"measured_cost_per_item": cost, "measured_items": answered}


def _rounds(foresight: Foresight | None) -> dict[str, Any]:
    """What a binding max_cost implies (``_rounds``); nothing when it does not bind."""
    if foresight is None:
        return {}
    return {
        "rounds": foresight.rounds.count,
        "rounds_at_least": not foresight.measured,
        "one_round_max_cost": foresight.one_round,
        "suggested_max_tokens": foresight.max_tokens,
        "rounds_words": foresight.words(),
    }

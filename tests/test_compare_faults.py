"""The models of one manager (``pilot(models=)``, ``with_model()``) under faults the comparison's own tests do
not stage: two processes (kernels) running two of them at once, a manager that read the other models' states
before another process ran one of them. ``max_cost`` is one cap over the group in every process."""

from __future__ import annotations

import threading

import pytest

from batchnb import StateError
from batchnb.sim import Faults, RequestEvent, Simulator

from .fault_harness import Killer, SecondKernel, run_worker
from .test_compare_models import HAIKU, SONNET, manager

#: 120 items in jobs of 2, one at a time: the first job reserves a small part of the cap; either model alone
#: would spend nearly all of it (haiku ~$0.0046, sonnet more than the cap)
CAP = 0.005
OPTIONS = {"count": 120, "items_per_job": 2, "max_parallel_jobs": 1, "poll_interval": 0.01, "max_cost": CAP}


def first_create(event) -> bool:
    return event.endpoint == "create" and event.count == 1 and event.phase == "received"


@pytest.mark.parametrize("first, second", [(HAIKU, SONNET), (SONNET, HAIKU)])
def test_a_second_process_running_another_model_of_the_manager_meanwhile_is_refused(tmp_path, first, second):
    """One process runs a model of the manager; from inside its first create (its first reservation journaled)
    a second process runs the other model on the same state. Each reserved against the other's state as it
    read it once (a reservation, or nothing), then spent up to the cap on its own: $0.0073 billed for $0.005.
    The group runs one at a time in every process: the second is refused, the cap holds."""
    state = tmp_path / "s.json"
    mine = {**OPTIONS, "run_model": first} if first != HAIKU else OPTIONS
    theirs = {**OPTIONS, "run_model": second} if second != HAIKU else OPTIONS
    with Simulator(latency=0.01) as sim:
        kernel = SecondKernel(sim, state, theirs, first_create, "now")
        sim.on_request = kernel.hook
        try:
            summary = run_worker(sim, state, mine)
        finally:
            sim.on_request = None
            kernel.stop()
        billed = sim.counters.billed_usd
        assert kernel.outcome is not None and "one at a time" in kernel.outcome.get("refused", ""), kernel.outcome
        assert billed <= CAP and summary["cost"] == pytest.approx(billed)
        assert sum(sim.billed_by_custom_id().values()) == pytest.approx(billed)
        assert not sim.counters.duplicate_submissions


def test_a_kernel_that_read_the_other_models_before_another_process_ran_one_counts_what_it_spent(tmp_path):
    """A kernel builds the manager and estimates (reading the other models' states: sonnet's first reservation)
    while another process runs sonnet to the cap; then it runs haiku. Counting what it read back then, it
    billed up to the cap again on haiku; read again when its run takes the group, it stops at the cap."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        kernel = SecondKernel(sim, state, {**OPTIONS, "estimate_first": True}, first_create, "later")
        sim.on_request = kernel.hook
        try:
            sonnet = run_worker(sim, state, {**OPTIONS, "run_model": SONNET})
            spent = sim.counters.billed_usd
            assert sonnet["budget_stop"] and spent <= CAP
            haiku = kernel.finish()
        finally:
            sim.on_request = None
            kernel.stop()
        billed = sim.counters.billed_usd
        assert haiku is not None and "by the manager's other models" in (haiku["budget_stop"] or "")
        assert billed <= CAP and haiku["cost"] == pytest.approx(billed - spent)


def test_a_manager_counts_another_models_run_by_another_manager_on_the_same_state(tmp_path):
    """The same in one process: a manager that estimated before the other model's state existed never looked
    for it again and billed the whole cap once more ($0.097 for $0.05)."""
    cap = 0.05
    with Simulator(latency=0.01) as sim:
        first = manager(sim, tmp_path / "s.json", n=300, max_cost=cap)
        assert first.estimate().spent_elsewhere == 0
        other = manager(sim, tmp_path / "s.json", n=300, max_cost=cap)  # another kernel's manager
        other.with_model(SONNET).run()
        spent = sim.counters.billed_usd
        first.run()
        assert sim.counters.billed_usd <= cap and first.stats.cost == pytest.approx(sim.counters.billed_usd - spent)
        assert "by the manager's other models" in first.stats.outcome_message


@pytest.mark.parametrize("lost", ["file", "folder's journal"])
def test_another_models_state_found_damaged_stops_the_run_and_is_left_untouched(tmp_path, lost):
    """Sonnet's state lost its file (its folder, journal and results log left), or its journal has a bad line:
    what it spent cannot be read. Counting nothing for it, a new manager billed the cap again on haiku; it
    must refuse, naming that state, and leave every file as it was."""
    cap = 0.05
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state, n=300, max_cost=cap)
        first.pilot(20, models=[SONNET], print_progress=False)
        first.with_model(SONNET).run()
        spent = sim.counters.billed_usd
        sonnet = tmp_path / ".s.json.d" / "models" / f"{SONNET}.state.json"
        if lost == "file":
            sonnet.unlink()
        else:
            journal = sonnet.with_name(f".{sonnet.name}.d") / "journal"
            journal.write_bytes(b"not a record\n" + journal.read_bytes())
        files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "lock"}
        for again in (manager(sim, state, n=300, max_cost=cap), first):  # a new kernel, and the same one
            with pytest.raises(StateError, match=SONNET):
                again.run()
        assert sim.counters.billed_usd == spent
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "lock"} == files


def test_a_model_erroring_on_most_items_is_not_called_the_cheaper_one(tmp_path):
    """Sonnet's answers error (unbilled) on 9 of the 10 sampled items. Its cost per item counted those as free
    ($0.00005 where one answer costs $0.0005): the comparison called sonnet the cheaper model, "at 30% of the
    cost" of haiku. A model's cost per item is the mean of its billed answers."""
    seen: list[str] = []

    def sonnet_errs(custom_id: str, params: dict) -> str | None:
        if params["model"] != SONNET:
            return None
        seen.append(custom_id)
        return "errored:overloaded_error" if len(seen) > 1 else None

    with Simulator(latency=0.01, faults=Faults(item_outcome=sonnet_errs)) as sim:
        comparison = manager(sim, tmp_path / "s.json", n=60).pilot(10, models=[SONNET], print_progress=False)
        billed = sim.billed_by_custom_id()
    costs = comparison.cost_per_item
    assert costs[SONNET] == pytest.approx(billed[seen[0]])  # its one billed answer
    assert costs[HAIKU] is not None and costs[HAIKU] < costs[SONNET] and comparison.reference == SONNET
    (pair,) = comparison.pairs
    assert pair.models == (HAIKU, SONNET) and (pair.compared, pair.failed) == (1, 9)
    assert f"{HAIKU} agrees with {SONNET}" in comparison.recommendation
    assert f"{costs[HAIKU] / costs[SONNET]:.0%} of the cost" in comparison.recommendation


def test_a_manager_built_while_another_managers_model_runs_waits_for_it_then_runs(tmp_path):
    """A second manager on the same state, in the same kernel, while the first one's sonnet runs: its run is
    refused (the models run one at a time) and it takes that running sonnet into its own group. Once sonnet is
    over, its hold of the state (taken through the first manager's files) is given back: the second runs."""
    gate = threading.Event()

    def hold_creates(event: RequestEvent) -> None:
        if event.endpoint == "create":
            gate.wait(60)

    with Simulator(latency=0.01, on_request=hold_creates) as sim:
        first = manager(sim, tmp_path / "s.json", n=20, max_cost=0.05)
        first.with_model(SONNET).start(show=False)
        second = manager(sim, tmp_path / "s.json", n=20, max_cost=0.05)
        with pytest.raises(StateError, match="one at a time"):
            second.run()
        gate.set()
        first.with_model(SONNET).wait()
        assert all(r.ok for r in second.run()) and sim.counters.items_by_result == {"succeeded": 40}
        assert sim.counters.billed_usd <= 0.05


@pytest.mark.parametrize("endpoint, phase", [("retrieve", "applied"), ("results", "received"), ("results", "applied")])
def test_a_kill_while_the_other_models_pilot_polls_or_collects_then_the_same_comparison_pays_nothing_twice(
        tmp_path, endpoint, phase):
    """As the comparison's own test kills inside sonnet's create, at its later calls: the next process collects
    sonnet's batch (never made again), sends no haiku pilot item again, and every custom_id is billed once."""
    state = tmp_path / "s.json"
    options = {"count": 40, "items_per_job": 10, "poll_interval": 0.01, "pilot": 8, "compare": [SONNET],
               "max_cost": 0.05}
    with Simulator(latency=0.01, model_differences=True) as sim:
        # at its first such call once sonnet's pilot batch is made (haiku's was the first)
        killer = Killer(sim, lambda e: e.endpoint == endpoint and e.phase == phase and sim.counters.creates == 2)
        assert killer.run(state, options) is None
        summary = run_worker(sim, state, options)
        assert summary["statuses"] == ["succeeded"] * 40
        counters = sim.counters
        assert sum(counters.submissions.values()) == 48 and not counters.duplicate_submissions
        assert counters.items_by_result == {"succeeded": 48} and len(sim.billed_by_custom_id()) == 48
        assert counters.billed_usd <= 0.05

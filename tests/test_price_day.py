"""One rule for which day's prices apply, live and on rebuild: the day the provider created the batch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from batchnb.results._pricing import PRICES_ENV
from batchnb.sim import Simulator

from .fault_harness import Killer, run_worker

HEADER = "model,effective_from,min_prompt_tokens,input,cache_write_5m,cache_write_1h,cache_read,output,status,source,as_of"


@pytest.mark.slow
def test_a_price_change_between_a_run_and_its_resume_cannot_change_total_cost(tmp_path):
    """The provider's clock is three days behind ours, and claude-haiku-4-5 costs ten times more from
    yesterday on (a second dated row, from $BATCHNB_PRICES_FILE). A run killed half-way and resumed today
    prices every item at the rate of the day its batch was created, the rate the emulator billed."""
    today = datetime.now(timezone.utc).date()
    prices = tmp_path / "prices.csv"
    prices.write_text(f"{HEADER}\nclaude-haiku-4-5,{today - timedelta(days=1)},0,10,12.5,20,1,50,current,test,{today}\n")
    env = {PRICES_ENV: str(prices)}
    state = tmp_path / "s.json"
    options = dict(count=40, items_per_job=10, max_parallel_jobs=1, poll_interval=0.01)
    with Simulator(latency=0.05, clock_skew=-3 * 86_400) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "results" and e.count == 2 and e.phase == "applied")
        killer.run(state, options, env=env)  # killed with one job's results recorded, the next one's in the air
        resumed = run_worker(sim, state, options, env=env)
        billed = sim.counters.billed_usd
        assert resumed["statuses"] == ["succeeded"] * 40
        assert resumed["cost"] == pytest.approx(billed, rel=1e-9)
        again = run_worker(sim, state, options, env=env)  # rebuilt from the state alone, with today's prices known
        assert again["cost"] == pytest.approx(billed, rel=1e-9)
        assert sim.counters.creates == 4


def test_a_bad_prices_file_is_an_input_error(tmp_path, monkeypatch):
    from batchnb.errors import InputError
    from batchnb.results._pricing import default_table

    bad = tmp_path / "prices.csv"
    bad.write_text("model,input\nclaude-haiku-4-5,1\n")
    monkeypatch.setenv(PRICES_ENV, str(bad))
    default_table.cache_clear()
    try:
        with pytest.raises(InputError, match="BATCHNB_PRICES_FILE"):
            default_table()
    finally:
        monkeypatch.delenv(PRICES_ENV)
        default_table.cache_clear()

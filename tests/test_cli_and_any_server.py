"""The emulator as a process, batch() against it with only the standard environment variables, the demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest


@pytest.fixture()
def sim_process(emulator_process):
    """``python -m batchnb sim --port 0`` in its own process; yields its base URL."""
    with emulator_process("--latency", "0.05") as base_url:
        yield base_url


SCRIPT = textwrap.dedent("""
    import json, pydantic
    from batchnb import batch

    class Answer(pydantic.BaseModel):
        label: str
        score: int

    job = batch([[{"role": "user", "content": f"question {i}"}] for i in range(6)],
                model="claude-haiku-4-5", max_tokens=200, response_model=Answer)
    results = job.wait(poll_interval=0.05).results()
    print(json.dumps([[r.index, r.status, r.value.model_dump() if r.ok else None, r.cost] for r in results]))
""")


def test_batch_runs_against_any_server_given_only_the_standard_environment(sim_process, tmp_path):
    """No client argument, no batchnb hook: anthropic.Anthropic() reads ANTHROPIC_BASE_URL / _API_KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(ANTHROPIC_BASE_URL=sim_process, ANTHROPIC_API_KEY="any-key-at-all")
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert [r[0] for r in rows] == list(range(6)) and all(r[1] == "succeeded" for r in rows)
    assert all(isinstance(r[2]["label"], str) and isinstance(r[2]["score"], int) and r[3] > 0 for r in rows)


def test_the_demo_runs_on_the_embedded_emulator_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    done = subprocess.run([sys.executable, "-m", "batchnb", "demo", "--latency", "0.1"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # whatever it writes stays there
    assert done.returncode == 0, done.stderr
    assert "batchnb emulator" in done.stdout and "6/6 succeeded" in done.stdout
    assert re.search(r"total cost \$0\.0\d{4}", done.stdout)
    assert "negative" in done.stdout and "positive" in done.stdout

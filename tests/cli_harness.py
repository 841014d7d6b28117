"""Running the ``batchnb`` command as a real process against an emulator of the test's own (the SDK's
``ANTHROPIC_BASE_URL`` and a dummy key, as a user would point it anywhere), and the files it reads. Not a
test module: ``test_cli.py`` and ``test_cli_kill.py`` use it.

The emulator lives in the test's process, the command in its own: a command killed with SIGKILL and run
again meets the same emulator, whose counters say what was sent, and whose ``on_request`` hook gives exact
kill points (see ``fault_harness.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from batchnb.manager.state._store import StateStore
from batchnb.sim import Simulator

MODEL = "claude-haiku-4-5"
#: The console script ``pip install`` made beside this Python, else the module (the same ``main``).
SCRIPT = Path(sys.executable).with_name("batchnb")
SCHEMA = "import pydantic\n\nclass Review(pydantic.BaseModel):\n    sentiment: str\n    stars: int\n"
PROMPT = "Classify this review: {review} ({stars} stars)"


def batchnb_command(*args: str, module: bool = False) -> list[str]:
    """``batchnb ARGS`` (the console script), or ``python -m batchnb ARGS`` (``module``, or no script)."""
    head = [sys.executable, "-m", "batchnb"] if module or not SCRIPT.exists() else [str(SCRIPT)]
    return [*head, *args]


def environment(sim: Simulator | None, key: str | None = "cli-test") -> dict[str, str]:
    """This process's environment without its ``ANTHROPIC_*`` variables, then pointing at ``sim``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    if sim is not None:
        env["ANTHROPIC_BASE_URL"] = sim.base_url
    if key is not None:
        env["ANTHROPIC_API_KEY"] = key
    return env


def batchnb(sim: Simulator | None, cwd: Path, *args: str, key: str | None = "cli-test",
            module: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (a guard of 180 s, then it is killed: ``subprocess.run`` does that)."""
    return subprocess.run(batchnb_command(*args, module=module), cwd=cwd, env=environment(sim, key),
                          capture_output=True, text=True, timeout=180)


def start(sim: Simulator, cwd: Path, *args: str) -> subprocess.Popen[str]:
    """The command started, not waited for (the test ends it on any outcome)."""
    return subprocess.Popen(batchnb_command(*args), cwd=cwd, env=environment(sim), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def reviews(count: int) -> list[str]:
    return [f"Lamp {n}: {'lovely light' if n % 3 else 'broke at once'}" for n in range(count)]


def write_inputs(folder: Path, count: int = 300, name: str = "reviews.csv") -> Path:
    """A CSV of ``count`` reviews (columns ``review``, ``stars``) and ``review_model.py`` (``Review``)."""
    import pandas as pd

    frame = pd.DataFrame({"review": reviews(count), "stars": [5 if n % 3 else 1 for n in range(count)]})
    path = folder / name
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    (folder / "review_model.py").write_text(SCHEMA)
    return path


def run_args(input_name: str = "reviews.csv", *extra: str, items_per_job: int = 60) -> list[str]:
    """``run INPUT`` with the template, the model, the schema, small polls, and ``extra``."""
    return ["run", input_name, "--prompt", PROMPT, "--model", MODEL, "--schema", "review_model:Review",
            "--items-per-job", str(items_per_job), "--poll-interval", "0.02", *extra]


def journal_count(state: Path, kind: str) -> int:
    journal = StateStore(state).journal_path
    return journal.read_text().count(f'"type":"{kind}"') if journal.exists() else 0


def check_every_request_once(sim: Simulator, count: int) -> Any:
    """The emulator's word: each of ``count`` custom_ids submitted once (retries have ids of their own)."""
    counters = sim.counters
    assert counters.duplicate_submissions == [], "a custom_id was submitted twice"
    assert set(counters.submissions.values()) == {1}
    firsts = [cid for cid in counters.submissions if cid.count("-") == 1]  # prefix-index: no -r1, -t
    assert len(firsts) == count and len({cid.split("-")[0] for cid in firsts}) == 1
    return counters

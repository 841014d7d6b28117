"""The notebooks run in a real kernel (nbclient), on the emulator, with their widget state stored.

Each runs from a copy in the test's ``tmp_path`` (the kernel's working directory), so what it writes (state
files, PDFs, CSV, Parquet, the emulator's store) stays there and ``notebooks/`` is left as it was. Most run where
they stand: in ``notebooks/`` of a copy of the checkout made a git repository, with batchnb imported as
``pip install .`` leaves it (the package alone, no checkout beside it), and must leave ``git status`` empty.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from batchnb.manager.state._store import StateStore
from batchnb.sim import Simulator

from .helpers import wait_for

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ROOT = NOTEBOOKS.parent

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The kernel inherits this environment: no key, so the notebooks use the emulator."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("BATCHNB_DEMO_LATENCY", "1.0")


@pytest.fixture(autouse=True)
def notebooks_dir_untouched():
    """Running a notebook writes nothing beside it in the checkout."""
    before = sorted(p.relative_to(NOTEBOOKS) for p in NOTEBOOKS.rglob("*"))
    yield
    assert sorted(p.relative_to(NOTEBOOKS) for p in NOTEBOOKS.rglob("*")) == before


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """A folder holding batchnb as ``pip install .`` leaves it: the package alone, no examples/ beside it."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "batchnb", site / "batchnb", ignore=shutil.ignore_patterns("__pycache__"))
    return site


@pytest.fixture()
def checkout(tmp_path, monkeypatch, installed) -> Path:
    """``notebooks/`` of a git repository holding the checkout's tracked notebooks, examples and ignore rules,
    committed; the kernel imports batchnb from ``installed``. Returns the notebooks' folder."""
    repo = tmp_path / "repo"
    for name in git(ROOT, "ls-files", "notebooks", "examples", ".gitignore").splitlines():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "checkout")
    monkeypatch.setenv("PYTHONPATH", str(installed))
    return repo / "notebooks"


def execute_where_it_stands(name: str, notebooks: Path) -> nbformat.NotebookNode:
    """Run ``notebooks/name`` in its own folder (as Jupyter does); it must leave nothing ``git status`` shows."""
    nb = nbformat.read(notebooks / name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(notebooks)}}).execute()
    left = git(notebooks.parent, "status", "--porcelain", "--untracked-files=all")
    assert left == "", f"running {name} left files the ignore rules do not cover:\n{left}"
    return nb


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    shutil.copy(NOTEBOOKS / name, workdir / name)
    nb = nbformat.read(workdir / name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def widget_states(nb: nbformat.NotebookNode) -> list[dict]:
    store = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return [model["state"] | {"_model_name": model["model_name"]} for model in store.values()]


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("name") == "stdout")


def html_values(nb: nbformat.NotebookNode, marker: str) -> list[str]:
    """The panels' pictures as their widgets last held them (the anywidget's ``*_html`` traits) that contain
    ``marker``."""
    return [value for s in widget_states(nb) if s["_model_name"] == "AnyModel"
            for key, value in s.items() if key.endswith("_html") and marker in value]


def test_the_quickstart_runs_and_its_panel_shows_the_final_state(checkout):
    nb = execute_where_it_stands("quickstart.ipynb", checkout)
    items = html_values(nb, ">Items</b>")
    assert items and "40 / 40" in items[0] and "40 succeeded" in items[0]
    assert "width:100.000%;background:#2e7d32" in items[0]  # the stacked bar, all green after the retry
    assert html_values(nb, ">Jobs</b>") and html_values(nb, "limit $0.50")
    assert html_values(nb, "batchnb-failed") == []  # after the retry nothing is left failed: the table is empty
    out = stdout_of(nb)
    assert "Processing: 40/40 items (100.0%)" in out and "failed now: 0" in out
    assert (checkout / "tickets.csv").exists() and (checkout / "tickets.parquet").exists()
    assert not (checkout / "tickets.csv.schema.json").exists()  # to_csv writes one plain CSV, nothing beside it


def test_a_saved_executed_notebook_reads_as_text_where_no_widget_runs(tmp_path):
    """nbconvert to markdown (GitHub, a diff): the panel's outputs read as text with the final counts, and
    the panel of a run that ended with nothing left to do is static HTML (no widget to break after a restart)."""
    from nbconvert import MarkdownExporter

    nb = execute("quickstart.ipynb", tmp_path)
    start_cell = next(c for c in nb.cells if "manager.start()" in c.source)
    panel_outputs = [o for o in start_cell.outputs if o.get("output_type") == "display_data"]
    assert len(panel_outputs) == 1
    data = panel_outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # finished, nothing to click: static
    assert "40 / 40" in data["text/html"] and "Processing: 40/40 items (100.0%)" in data["text/plain"]
    markdown, _ = MarkdownExporter().from_notebook_node(nb)
    assert "PanelWidget object" not in markdown  # the panel reads as its counts, not as a widget's repr
    panel_part = markdown[markdown.index("manager.start()") :]
    assert "40 / 40" in panel_part and "40 succeeded" in panel_part and "0 failed" in panel_part
    assert "limit $0.50" in panel_part and "<b style='color:#2e7d32'>done</b>" in panel_part


def test_the_resume_walkthrough_runs(checkout):
    nb = execute_where_it_stands("resume_after_restart.ipynb", checkout)
    assert "rows=60 unique=True succeeded=60" in stdout_of(nb)


def test_a_killed_kernel_resumes_in_a_new_one_without_submitting_twice(tmp_path):
    name = "resume_after_restart.ipynb"
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    journal = StateStore(tmp_path / "resume-demo.state.json").journal_path
    nb = nbformat.read(tmp_path / name, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        start_cell = next(i for i, c in enumerate(nb.cells) if "manager.start()" in c.source)
        for index in range(start_cell + 1):
            client.execute_cell(nb.cells[index], index)

        def two_submitted_none_in_doubt() -> bool:
            """At least two batches submitted, and every create the run began has been answered: a kill now
            leaves no create in doubt (which the resume would spend ``create_visible_within`` proving)."""
            text = journal.read_text() if journal.exists() else ""
            submitted = text.count('"type":"submitted"')
            return submitted >= 2 and text.count('"type":"submit_intent"') == submitted

        wait_for(two_submitted_none_in_doubt, message="no batch was submitted")
        pid = client.km.provisioner.pid
        os.kill(pid, signal.SIGKILL)  # the kernel dies with batches in flight
        wait_for(lambda: client.km.provisioner.process.poll() is not None, timeout=10,
                 message="the kernel survived SIGKILL")
    assert '"type":"run_ended"' not in journal.read_text()  # killed mid-run

    again = execute(name, tmp_path)  # a new kernel runs the whole notebook again
    assert "rows=60 unique=True succeeded=60" in stdout_of(again)
    with Simulator(store_path=tmp_path / "resume-demo.sim") as sim:
        counters = sim.counters
    assert counters.duplicate_submissions == [] and len(counters.submissions) == 60
    assert counters.creates == 6 and counters.items_by_result.get("succeeded") == 60


def test_the_invoice_notebook_extracts_every_invoice_with_citations(checkout):
    nb = execute_where_it_stands("invoices.ipynb", checkout)  # examples/ found without an editable install
    out = stdout_of(nb)
    assert "100/100 invoices equal the ground truth" in out and "Processing: 100/100 items (100.0%)" in out
    assert re.search(r"\d{3,} line items", out) and re.search(r"invoice \d+: INV-\S+, \d+ cited fields", out)
    items = html_values(nb, ">Items</b>")
    assert items and "100 / 100" in items[0]
    assert len(list((checkout / "invoice_results" / "processed").iterdir())) == 10


def test_the_reviews_notebook_sends_only_what_changed(checkout):
    nb = execute_where_it_stands("reviews_dataframe.ipynb", checkout)
    out = stdout_of(nb)
    created = [int(n) for n in re.findall(r"batches created so far: (\d+)", out)]
    assert created == [3, 4, 5]  # 300 rows in 3 batches; the 50 new rows in 1; the reworded kettle rows in 1
    assert "350 items: 300 reused (answered before, not paid again), 50 new to send in 1 job;" in out
    kettles = int(re.search(r"(\d+) kettle rows", out).group(1))
    assert f"350 items: {350 - kettles} reused (answered before, not paid again), {kettles} new to send in 1 job;" in out
    assert "350 rows, 350 classified" in out
    shown = " ".join(html_values(nb, ">Items</b>")) + " ".join(
        out.get("data", {}).get("text/html", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert "350 inputs: 300 answered before (reused, not paid again); 50 new request(s)" in shown  # the panels
    assert f"350 inputs: {350 - kettles} answered before (reused, not paid again); {kettles} new request(s)" in shown


def test_an_input_error_in_a_cell_reads_as_its_message_and_the_users_line(tmp_path):
    """Errors about the user's own inputs show the message and the line that raised, not batchnb's frames."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import batchnb\nx = 1\nmanager = batchnb.BatchManager(messages=[], "
                                          "model='claude-haiku-4-5')")]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    [error] = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.traceback == [
        "InputError: messages is empty: pass at least one conversation.",
        "  at line 3: manager = batchnb.BatchManager(messages=[], model='claude-haiku-4-5')",
    ]


def shown_of(nb: nbformat.NotebookNode) -> list[str]:
    """The plain text of what the cells showed (their values: a comparison, a panel, a frame), in order."""
    return [out["data"].get("text/plain", "") for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") in ("execute_result", "display_data")]


def test_the_trust_notebook_pilots_two_models_runs_the_chosen_one_and_measures_the_review(checkout):
    """notebooks/trust.ipynb (issue #26): pilot across two models -> choose -> run -> review 30 -> accuracy."""
    nb = execute_where_it_stands("trust.ipynb", checkout)
    out, shown = stdout_of(nb), shown_of(nb)
    [comparison] = [text for text in shown if text.startswith("Model comparison on 30 sampled items")]
    assert "claude-haiku-4-5 vs claude-sonnet-4-5" in comparison
    [html_table] = [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
                    for out in cell.get("outputs", []) if "Model comparison" in out.get("data", {}).get("text/html", "")]
    assert "mathjax_ignore" in html_table  # JupyterLab shows its "$" amounts as they are, not as TeX
    for row in ("sentiment", "stars", "summary", "topics", "all fields"):
        assert re.search(rf"^{row} +\d+% \(\d+%–\d+%\)$", comparison, re.M), row
    assert re.search(r"Cost per item \(measured\): claude-haiku-4-5 \$\S+, claude-sonnet-4-5 \$\S+", comparison)
    assert re.search(r"claude-haiku-4-5 agrees with claude-sonnet-4-5 on \d+% of fields .* at \d+% of the cost",
                     comparison)
    # the choice follows the notebook's rule: the cheaper model only if even its interval's low end is >= 90%
    share, low, high, chosen = re.search(r"on (\d+)% of fields \(95% interval (\d+)%–(\d+)%\)\nchosen: (\S+)",
                                         out).groups()
    assert int(low) <= int(share) <= int(high) and int(low) < 90 and chosen == "claude-sonnet-4-5"
    # run() on the chosen model sent only what its pilot had not answered (the emulator's counters)
    assert "30 answers reused from the pilot, 270 reviews to send" in out
    assert ("run() sent 270 requests to claude-sonnet-4-5 (the emulator's count); "
            "30 of the 300 answers came from the pilot") in out
    assert any("claude-sonnet-4-5" in text and "Processing: 300/300 items (100.0%)" in text for text in shown)
    # 30 answers labelled, field by field, and the review widget shows every label
    assert "30 of 30 sampled answers labelled, field by field" in out
    [review] = [s for s in widget_states(nb) if s["_model_name"] == "AnyModel" and "items" in s and "index" in s]
    assert len(review["items"]) == 30
    assert all(set(item["labels"]) == {"sentiment", "stars", "summary", "topics"} for item in review["items"])
    # accuracy: each share within its interval, the expected wrong rows within theirs
    [accuracy] = [text for text in shown if text.startswith("Accuracy of 30 reviewed items (95% Wilson score")]
    lines = re.findall(r"^  (\w+): (\d+)% right \(95% interval (\d+)%–(\d+)%\), (\d+) of 30 reviewed; "
                       r"about (\d+) of 300 rows wrong \((\d+)–(\d+)\)$", accuracy, re.M)
    assert [line[0] for line in lines] == ["overall", "sentiment", "stars", "summary", "topics"]
    for _, share, low, high, right, wrong, wrong_low, wrong_high in lines:
        assert int(low) <= int(share) <= int(high) and round(100 * int(right) / 30) == int(share)
        assert int(wrong_low) <= int(wrong) <= int(wrong_high)
    right = int(lines[0][4])
    assert 0 < right < 30  # some answers of the chosen model are wrong, as the emulator's differences make them
    # the frame carries the labels: the wrong answers are the rows with a wrong field
    assert f"30 answers reviewed, {30 - right} with a wrong field" in out
    assert "label.sentiment" in shown[-1] and "corrected.stars" in shown[-1]

"""The hand review under a person's hands (issue #26), in JupyterLab with headless Chromium (the harness of
``test_browser_hands.py``): ``manager.review(4)`` shows the sampled answers one at a time; three are labelled by
clicking (a field right, a field wrong with the right value typed, a whole answer right while a cell of the
user's blocks the kernel's main thread: served on its click subshell); the kernel is
restarted from the Kernel menu; the cell that builds the manager runs again, and the labels are there:
``accuracy()`` counts them, ``to_pandas()`` has them, and the review opened again shows them.

Each step waits for a state the page shows (the kernel answered a click: the counter moved), never for a time.
``BATCHNB_UPDATE_SCREENSHOTS=1`` copies the first screenshot to ``docs/review.png`` (from a passing run).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from .test_browser import CHROMIUM
from .test_browser_hands import HANG, Notebook, browser, lab, publish, shots  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")]

SETUP = '''from pathlib import Path
from typing import Literal
import pydantic
from fpdf import FPDF
from batchnb import BatchManager
from batchnb.sim import Simulator


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int
    quote: str  # a passage of the review: the emulator cites it, as Claude does


def pdf(i):  # a two-page review as a real PDF, written once (a PDF rewritten is new bytes: another request)
    path, doc = Path(f"review-{i}.pdf"), FPDF()
    if path.exists():
        return path
    doc.set_font("Helvetica", size=12)
    for text in (f"Customer review {i}. Bought a desk lamp in March.",
                 f"The lamp is bright and sturdy. The cable is too short for my desk. I would buy it again."):
        doc.add_page()
        doc.multi_cell(0, 8, text)
    doc.output(str(path))
    return path


sim = Simulator(latency=0.05).start()  # after a restart a new, empty one: nothing is sent again
manager = BatchManager(files=[pdf(i) for i in range(12)], prompt="Read this customer review.",
                       model="claude-haiku-4-5", client=sim.client(), state_path="trust.state.json",
                       response_model=Review, enable_citations=True, max_tokens=400, poll_interval=0.05)'''

REPORT = '''import json
accuracy = manager.accuracy()
frame = manager.to_pandas()
labelled = frame[frame["label_correct"].notna()]
print(accuracy)
print("LABELS " + json.dumps({"reviewed": accuracy.reviewed, "right": int(accuracy["overall"].right),
                              "rows": [int(i) for i in labelled.index],
                              "corrected": {str(k): v for k, v in labelled["corrected.stars"].dropna().items()},
                              "requests": sim.counters.requests_by_endpoint.get("create", 0)}))'''


def labels_printed(nb: Notebook, cell: int) -> dict[str, Any]:
    nb.run_to_end(cell)
    text = nb.output(cell).inner_text()
    match = re.search(r"^LABELS (\{.*\})$", text, re.M)
    assert match, text
    return json.loads(match.group(1))


def restart_kernel(nb: Notebook) -> None:
    """Kernel > Restart Kernel…, and Restart in the dialog, as a person does."""
    nb.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Kernel$")).click()
    nb.page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Restart Kernel…$")).click()
    nb.page.locator(".jp-Dialog").get_by_role("button", name="Confirm Kernel Restart").click()  # its "Restart"


def test_labels_clicked_in_the_review_are_there_after_a_kernel_restart(lab, browser, shots):  # noqa: F811
    from playwright.sync_api import expect

    block = "import os, time\nwhile not os.path.exists('go'):  # a cell of the user's that blocks\n    time.sleep(0.05)"
    nb = Notebook(lab, browser, "trust-review", [SETUP, "results = manager.run()", "manager.review(4)", REPORT, block])
    try:
        nb.run_to_end(0, 1, 2)
        review = nb.output(2).locator(".batchnb-review")
        counter, where = review.locator(".bnr-counter"), review.locator(".bnr-where")
        expect(counter).to_have_text("0 of 4 reviewed", timeout=HANG)
        expect(where).to_have_text("item 1 of 4")

        def field(name: str) -> Any:
            return review.locator(f".bnr-field[data-field='{name}']")

        def button(name: str, label: str) -> Any:
            return field(name).get_by_role("button", name=label, exact=True)

        button("sentiment", "right").click()  # item 1: its sentiment is right
        expect(counter).to_have_text("1 of 4 reviewed")  # the kernel recorded it and sent the items back
        expect(field("sentiment").locator(".bnr-verdict")).to_have_text("right")
        review.get_by_role("button", name="Next").click()
        expect(where).to_have_text("item 2 of 4")
        field("stars").locator(".bnr-typed").fill("2")  # item 2: its stars are wrong, 2 is right
        button("stars", "wrong").click()
        expect(counter).to_have_text("2 of 4 reviewed")
        expect(field("stars").locator(".bnr-verdict")).to_have_text("wrong, right value: 2")
        expect(review.locator(".bnr-source mark").first).to_be_visible()  # the cited spans, marked on their page
        expect(review.locator(".bnr-cited-where").first).to_contain_text("page")
        nb.shoot(shots / "review.png", 2)
        review.get_by_role("button", name="Next").click()
        expect(where).to_have_text("item 3 of 4")
        nb.run(4)  # the kernel's main thread is busy: the click is served on its click subshell at once
        expect(nb.cell(4).locator(".jp-InputPrompt").first).to_contain_text("*")
        review.get_by_role("button", name="whole answer right").click()  # item 3: all of it is right
        expect(counter).to_have_text("3 of 4 reviewed")
        assert nb.is_running(4)  # recorded while the cell still blocks
        (nb.root / "go").touch()
        nb.wait_finished(4)
        before = labels_printed(nb, 3)
        assert before["reviewed"] == 3 and before["right"] == 2 and len(before["rows"]) == 3
        assert list(before["corrected"].values()) == [2]

        restart_kernel(nb)
        nb.run(0)  # the cell that builds the manager, in a new kernel: it reads the state file
        nb.wait_finished(0)
        expect(nb.cell(0).locator(".jp-InputPrompt").first).to_contain_text("[1]")  # a new kernel counts from 1
        after = labels_printed(nb, 3)
        assert {**after, "requests": 0} == {**before, "requests": 0} and after["requests"] == 0  # nothing sent
        nb.run_to_end(2)  # the review opened again: the same sample, its labels there
        review = nb.output(2).locator(".batchnb-review")
        counter, where = review.locator(".bnr-counter"), review.locator(".bnr-where")
        expect(counter).to_have_text("3 of 4 reviewed", timeout=HANG)
        expect(where).to_have_text("item 4 of 4")  # it opens at the first item not reviewed
        review.get_by_role("button", name="Prev").click()
        review.get_by_role("button", name="Prev").click()
        expect(where).to_have_text("item 2 of 4")
        expect(field("stars").locator(".bnr-verdict")).to_have_text("wrong, right value: 2")
        nb.shoot(shots / "review-after-restart.png", 2)
        nb.assert_no_page_errors()
    finally:
        nb.close()
    publish(shots, "review.png")

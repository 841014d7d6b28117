import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell
def _(mo):
    mo.md("""
    # Reviews in marimo: the live panel, columns out, and re-runs that pay only for what changed

    The reviews extraction of `reviews_dataframe.ipynb`, as a marimo notebook: a DataFrame of reviews in, one
    Claude request per row at batch prices, the answers back as columns of the same frame. `manager.start()`
    shows batchnb's live panel (bars, cost gauge, failed items, buttons) and the run goes on in the background.

    Without `ANTHROPIC_API_KEY` this runs on batchnb's emulator, for free; with a key it runs for real (about 350
    short requests to `claude-haiku-4-5`, a few cents). Open it with `marimo edit notebooks/reviews_marimo.py`
    (`pip install "batchnb[marimo]"`).
    """)
    return


@app.cell
def _():
    import os
    from batchnb.sim import Simulator

    if os.environ.get("ANTHROPIC_API_KEY"):
        client, sim = None, None  # the real Message Batches API
    else:
        sim = Simulator(latency=float(os.environ.get("BATCHNB_DEMO_LATENCY", "2"))).start()  # a local emulator
        client = sim.client()

    def batches_created() -> str:
        return f"batches created so far: {sim.counters.creates}" if sim else ""

    return batches_created, client


@app.cell
def _(mo):
    mo.md("""
    ## 300 reviews, indexed by their own ids
    """)
    return


@app.cell
def _():
    import random
    import pandas as pd

    def order_code(i: int) -> str:
        # an order reference in letters ("ab"), so that the only number in a prompt is the stars
        code = ""
        while True:
            i, digit = divmod(i, 26)
            code = "abcdefghijklmnopqrstuvwxyz"[digit] + code
            if not i:
                return code

    def make_reviews(n: int, start: int = 0, seed: int = 1) -> pd.DataFrame:
        rng = random.Random(seed)
        good = ["works perfectly", "great value", "sturdy and pretty", "arrived early, love it"]
        bad = ["broke after a week", "poor quality", "smells of plastic", "arrived damaged"]
        rows = []
        for i in range(start, start + n):
            stars = rng.randint(1, 5)
            words = rng.choice(good if stars >= 4 else bad if stars <= 2 else good + bad)
            rows.append({"product": rng.choice(["lamp", "desk", "chair", "kettle"]), "stars": stars,
                         "review": f"{words}, order {order_code(i)}"})
        return pd.DataFrame(rows, index=pd.Index([f"R{i:04d}" for i in range(start, start + n)], name="review_id"))

    reviews = make_reviews(300)
    reviews.head()
    return make_reviews, pd, reviews


@app.cell
def _(client, mo):
    from typing import Literal
    import pydantic
    import batchnb  # registers df.batchnb

    class Review(pydantic.BaseModel):
        sentiment: Literal["positive", "negative", "mixed"]
        stars: int = pydantic.Field(ge=1, le=5, description="the stars the reviewer gave")

    # the state beside the notebook, wherever marimo was started from
    options = dict(response_model=Review, model="claude-haiku-4-5", max_tokens=200, items_per_job=100,
                   max_cost=1.00, state_path=str(mo.notebook_dir() / "reviews_marimo.state.json"), client=client,
                   poll_interval=0.2)
    PROMPT = "Classify this {product} review: {review} ({stars} stars)"
    return PROMPT, options


@app.cell
def _(mo):
    mo.md("""
    ## The run, with its live panel

    `start()` returns at once: the panel below follows the run, and its buttons act whenever the kernel is free
    (**Cancel** stops the batches in flight, **Retry failed** sends the failed items again).
    """)
    return


@app.cell
def _(PROMPT, options, reviews):
    manager = reviews.batchnb.manager(PROMPT, **options)
    manager.start()  # the live panel shows here; the run goes on in the background
    return (manager,)


@app.cell
def _(mo):
    mo.md("""
    ## Columns out: the same frame, with the answers joined back

    The next cell waits for the run (`wait()`), then joins the answers to the reviews. While a cell runs, marimo
    takes the panel's clicks after it (the clicked button says "queued"); to act at once, interrupt the cell
    (the run goes on) and click.
    """)
    return


@app.cell
def _(batches_created, manager):
    results = manager.wait()
    print(batches_created())
    out = manager.to_pandas(join=True, with_meta=True)
    out.head()
    return (results,)


@app.cell
def _(mo):
    mo.md("""
    ## 50 new rows arrive: only they are sent

    Same `state_path`: `estimate()` says what will be reused and what will be sent, before anything is spent;
    `run(print_progress=True)` blocks, with its own live panel.
    """)
    return


@app.cell
def _(PROMPT, batches_created, make_reviews, options, pd, results, reviews):
    more = pd.concat([reviews, make_reviews(50, start=300, seed=2)])
    print(f"{len(results)} reviews answered so far")
    manager_more = more.batchnb.manager(PROMPT, **options)
    print(manager_more.estimate())
    more_results = manager_more.run(print_progress=True)  # an assignment: the cell's output stays the panel
    print(batches_created())
    return (manager_more,)


@app.cell
def _(manager_more):
    joined = manager_more.to_pandas(join=True, with_meta=True)
    print(f"{len(joined)} rows, {joined['sentiment'].notna().sum()} classified, ${manager_more.stats.cost:.4f} in all")
    joined.groupby("product")["sentiment"].value_counts().unstack(fill_value=0)
    return


if __name__ == "__main__":
    app.run()

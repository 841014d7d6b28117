"""batchnb: large Claude jobs on the Message Batches API, from a notebook, at batch prices.

Public names only; modules starting with ``_`` are private. The map, by floor (a module imports only
from its floor or lower; ``docs/architecture.md`` says more, ``tests/test_architecture.py`` keeps it)::

    0  errors        the one exception hierarchy        limits   the provider's published limits
       _files        atomic writes                      contract/  what the API accepts in a request
    1  _inputs       inputs checked into Items          _media   documents/images inside messages
       _usage        token usage of one response
       _pricing      the dated price table              _item_result  one result line -> ItemResult
       _requests     request bodies and custom_ids      _events  the engine's events: the one contract
       _progress     progress model, from events alone  _console  console view (tqdm / plain lines)
       _readings     Progress values, money, durations  _request_check  requests vs the contract
    2  _provider     every SDK call, SDK errors mapped  frames/  results as a DataFrame, CSV, Parquet
       _panel        the notebook panel, a view of _progress: one anywidget (_panel_widget, panel.js,
                     panel.css); _panel_html its HTML; _kernel_clicks serves its clicks on a subshell
    3  _batch_job    batch() and BatchJob: one provider batch
    4  manager/      BatchManager (_front) and its engine: _scheduler, _driver, _reconcile, _resume,
                     _sessions, _state, _snapshot, _recorder, _store, _plan, _budget, _estimate,
                     _result_files, _context, _lifecycle, _run, _options; _source (the inputs' labels),
                     _frames_view (to_pandas / failed / exports), _accessor (df.batchnb)
    5  __main__      the command line: batchnb (cli/: run, estimate, status, cancel, retry, export), demo, sim
       sim/          the emulator; imports nothing from the rest of batchnb but contract/
"""

from typing import Any

from . import errors, sim
from ._batch_job import BatchJob, batch
from .errors import BatchnbError, BudgetError, InputError, JobTimeoutError, ProviderError, StateError
from .inputs._requests import PreparedRequest, RequestOptions
from .limits import ProviderLimits
from .manager import BatchManager, Deadline, Estimate, PromptCache
from .manager.engine._comparison import ModelComparison, PairAgreement
from .manager.engine._pilot import PilotReport
from .manager.front._accessor import register_when_pandas_is_imported
from .manager.plan._deadline import DeadlineTime
from .results._accuracy import Accuracy, FieldAccuracy
from .results._interval import Share
from .results._item_result import ItemError, ItemResult
from .results._usage import Usage
from .views._progress import ProgressModel
from .views._readings import FailedRow, Progress
from .views._review import Review

__all__ = [
    "batch",
    "BatchJob",
    "BatchManager",
    "Deadline",
    "PromptCache",
    "ProviderLimits",
    "Estimate",
    "PilotReport",
    "ModelComparison",
    "PairAgreement",
    "Share",
    "Accuracy",
    "FieldAccuracy",
    "Review",
    "Progress",
    "FailedRow",
    "ProgressModel",
    "RequestOptions",
    "PreparedRequest",
    "DeadlineTime",
    "ItemResult",
    "ItemError",
    "Usage",
    "read_csv",
    "read_parquet",
    "errors",
    "sim",
    "BatchnbError",
    "InputError",
    "BudgetError",
    "StateError",
    "ProviderError",
    "JobTimeoutError",
]
__version__ = "0.1.0"

# df.batchnb: registered now if pandas is imported, else when it is (batchnb never imports pandas itself)
register_when_pandas_is_imported()


def __getattr__(name: str) -> Any:
    """``read_csv`` / ``read_parquet`` import pandas on first use, not with ``batchnb`` (see ``batchnb.frames``)."""
    if name in ("read_csv", "read_parquet"):
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

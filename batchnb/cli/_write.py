"""The output file of ``run --out`` and ``export``: one row per input row, in input order, the input's
columns first, then the answer's (one per ``--schema`` field, ``text`` without one), then every bookkeeping
column (``status``, ``error``, ``cost``, ...). The format follows the suffix: Parquet and CSV are the
manager's own exports (``to_parquet`` / ``to_csv`` with ``join=True``, docs/dataframes.md), JSONL one JSON
object a line (nested values as JSON, a missing one ``null``). Every file is replaced atomically: a kill
while writing leaves the previous one whole; it gets the permissions the umask gives (the state's files stay
private), and it is never one of the state's own files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .._files import write_atomic
from ..errors import InputError
from ..manager import BatchManager
from ._read import table_format
from ._spec import RunSpec, state_folder


def check_out(path: Path) -> None:
    """Refuse an output path before anything is sent: its format must be known and its folder exist."""
    if table_format(path, "OUT") == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise InputError(f"OUT {str(path)!r}: Parquet needs pyarrow: pip install 'batchnb[parquet]'.")
    if not path.parent.is_dir():
        raise InputError(f"OUT {str(path)!r}: its folder {str(path.parent)!r} does not exist; create it first.")
    if path.is_dir():
        raise InputError(f"OUT {str(path)!r} is a folder; give a file name such as results.parquet.")


def check_not_state(path: Path, spec: RunSpec) -> None:
    """Refuse an output path that is the input, the state file or a file in the state's folder: the results
    written over the results log would lose every answer paid for (``.S.d/results.jsonl`` is a ``.jsonl``)."""
    target, folder = path.resolve(), state_folder(Path(spec.state)).resolve()
    if target in (Path(spec.input).resolve(), Path(spec.state).resolve()) or folder in target.parents:
        raise InputError(
            f"OUT {str(path)!r} is the input or the state file (or in the state's folder {str(folder)!r}); give "
            "the results a file of their own."
        )


def write_out(manager: BatchManager, path: Path) -> int:
    """Write the results to ``path``; how many rows."""
    kind = table_format(path, "OUT")
    if kind == "parquet":
        manager.to_parquet(path, join=True)
    elif kind == "csv":
        manager.to_csv(path, join=True)
    else:
        from ..frames import BOOKKEEPING

        frame = manager.to_pandas(join=True, with_meta=BOOKKEEPING)
        text = frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
        write_atomic(path, text.encode("utf-8"), private=False)
    return len(manager.results())

"""What ``batchnb run`` reads before anything is sent: the input table (CSV, Parquet or JSONL, by suffix), the
prompt template (``--prompt`` or ``--prompt-file``) and the response model (``--schema module:Model`` or
``path/to/file.py:Model``). Every problem is an ``InputError`` (exit code 2), as the library's are.

CSV cells are read as the text they are (``dtype=str``): a prompt gets ``00123`` as written, not ``123``,
and an empty cell is missing (the template then refuses it, naming the rows). JSONL and Parquet carry their
own types and keep them.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: The suffixes the command reads and writes, and the format each means.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def table_format(path: Path, what: str) -> str:
    """The format ``path``'s suffix names, or an ``InputError`` listing the ones there are."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(FORMATS)
        raise InputError(f"{what} {str(path)!r}: cannot tell its format from its suffix; use one of {known}.")
    return found


#: The name of the row numbers a CSV or JSONL input is given (the index, the first column of a CSV output).
ROW = "row"


def read_table(path: Path) -> pd.DataFrame:
    """The input file as a DataFrame, one request per row (its index: the row number from 0, named ``row``
    unless the input has a column of that name)."""
    import pandas as pd

    kind = table_format(path, "INPUT")
    if not path.is_file():
        raise InputError(f"INPUT {str(path)!r} does not exist (or is not a file).")
    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype=str)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        else:
            frame = pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(
            f"INPUT {str(path)!r}: Parquet needs pyarrow: pip install 'batchnb[parquet]' ({exc})."
        ) from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise InputError(f"INPUT {str(path)!r} cannot be read as {kind}: {' '.join(str(exc).split())}") from None
    if not isinstance(frame, pd.DataFrame) or not len(frame.index):
        raise InputError(f"INPUT {str(path)!r} has no rows: there is nothing to do.")
    if kind == "csv":
        _refuse_repeated_names(path)
    if isinstance(frame.index, pd.RangeIndex) or kind != "parquet":
        frame = frame.reset_index(drop=True)  # rows are named by their number, from 0
        if ROW not in frame.columns:  # the output's first column then reads "row", not a blank header
            frame.index.name = ROW
    return frame


def _refuse_repeated_names(path: Path) -> None:
    """Two columns of one name: pandas renames the second ``name.1``, so a template's ``{name}`` reads the first
    and the output's columns are not the input's. Refused, naming them (a CSV read well has a header line)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, ValueError, csv.Error):  # read by pandas already: a header csv cannot read is pandas' word
        return
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in seen and name.strip():  # empty names (trailing commas) are pandas' "Unnamed: n", told apart
            raise InputError(
                f"INPUT {str(path)!r} has two columns named {name!r} (columns {seen[name]} and {number}); a "
                "template could not tell them apart. Rename one."
            )
        seen[name] = number


def read_prompt(template: str | None, prompt_file: Path | None) -> str:
    """The template: ``--prompt`` as given, or ``--prompt-file``'s text (one of them, exactly)."""
    if (template is None) == (prompt_file is None):
        raise InputError("give the prompt once: --prompt 'Classify: {review}' or --prompt-file prompt.txt.")
    if template is not None:
        if not template.strip():
            raise InputError("--prompt is empty; name the columns in braces: --prompt 'Classify: {review}'.")
        return template
    assert prompt_file is not None
    try:
        text = prompt_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--prompt-file {str(prompt_file)!r} cannot be read: {exc}.") from None
    if not text.strip():
        raise InputError(f"--prompt-file {str(prompt_file)!r} is empty.")
    return text


def import_schema(spec: str, cwd: Path) -> type[pydantic.BaseModel]:
    """The Pydantic model ``spec`` names: ``module:Model`` (imported with ``cwd`` first on the path, as
    ``python -m`` would) or ``path/to/file.py:Model`` (relative to ``cwd``)."""
    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name.isidentifier():
        raise InputError(f"--schema {spec!r}: expected module:Model or path/to/file.py:Model.")
    try:
        if source.endswith(".py"):
            module = _module_from_file(cwd / source, spec)
        else:
            sys.path.insert(0, str(cwd))
            try:
                module = importlib.import_module(source)
            finally:
                sys.path.remove(str(cwd))
    except InputError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module: whatever it raised on import, sys.exit() too
        what = f"it called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        raise InputError(f"--schema {spec!r}: importing {source} failed: {what}") from None
    model = getattr(module, name, None)
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        got = "nothing" if model is None else type(model).__name__
        raise InputError(f"--schema {spec!r}: {name} in {source} must be a pydantic.BaseModel subclass, got {got}.")
    return model


def _module_from_file(path: Path, spec: str) -> object:
    if not path.is_file():
        raise InputError(f"--schema {spec!r}: {str(path)!r} does not exist.")
    name = f"batchnb_schema_{path.stem}"
    loader = importlib.util.spec_from_file_location(name, path)
    if loader is None or loader.loader is None:
        raise InputError(f"--schema {spec!r}: {str(path)!r} cannot be imported as a Python file.")
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module  # pydantic resolves the model's annotations through its module
    loader.loader.exec_module(module)
    return module

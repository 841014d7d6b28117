"""DataFrames in and out: requests from a frame's rows, results as a frame (joined back), CSV / Parquet.

Importing this package imports pandas; ``import batchnb`` does not, and ``to_pandas()`` imports this
package on first use. The rules of ``results_frame(results, response_model, flatten=False)``:

- **Rows**: one per result, in the order given (``BatchManager.results()``: one per input, in input
  order). The index is the original index: the user's own labels when the inputs carried them (a
  Series, or a frame given to ``from_frame``: its index as it is, name and dtype included), else the
  position in the list, named ``index``.
- **Value columns** first. With a ``response_model``: one per field (computed fields too), in the
  model's order, named by the field name (not its alias), holding ``model_dump(mode="json")`` data: a
  sub-model is a dict, a list of sub-models a list of dicts, a date an ISO string. Without one: a
  ``text`` column. A row that did not succeed has missing values there.
- **flatten=True**: a nested object becomes dotted columns (``address.city``), recursively; lists,
  free-form dicts and unions of models stay single ``object`` columns.
- **Dtypes** come from the model's JSON schema, never from the data, so they do not depend on which rows
  failed: integer -> ``Int64``, number -> ``float64``, boolean -> ``boolean``, string (dates, enums,
  literals too) -> ``string``, anything else -> ``object``. A value that does not fit (results made with
  another model) makes its column ``object`` rather than being coerced. Details in ``_columns``.
- **Bookkeeping columns** next, always, in this order: ``status``, ``error`` (the reason),
  ``error_message``, ``cost`` (USD, ``NaN`` when unknown), ``input_tokens``, ``output_tokens``, ``job``
  (``<NA>`` from ``batch()``), ``batch_id``, ``custom_id``, ``citations`` (``{field path: [citation,
  ...]}``, ``{}`` when none). Meanings and dtypes in ``_builder``.
- **Name clash**: a bookkeeping column (or the index) whose name a model field uses gets a ``_`` prefix
  (a ``status`` field -> the bookkeeping column is ``_status``); ``bookkeeping_columns(model)`` gives
  the names in use.
- **In and joined back**: ``frame_inputs`` turns a frame's rows into requests (rules in ``_rows``);
  ``joined_frame`` adds the output columns to the user's frame (``to_pandas(join=True)``, rules in ``_join``).
- **Files**: ``write_parquet`` / ``read_parquet`` give back an equal frame (index, dtypes, values).
  ``write_csv`` writes one plain CSV (nested values and citations as JSON text) that pandas and
  spreadsheets read; ``read_csv`` reads it back with the dtypes of these rules for the columns it knows
  by name, but a CSV cannot keep every dtype, nor tell an empty string from a missing one. Details in
  ``_formats``.
"""

from ._builder import results_frame, rows_frame, value_data
from ._columns import BOOKKEEPING, bookkeeping_columns
from ._formats import read_csv, read_parquet, write_csv, write_parquet
from ._join import joined_frame
from ._rows import check_labels, describe_label, frame_inputs

__all__ = [
    "BOOKKEEPING",
    "bookkeeping_columns",
    "check_labels",
    "describe_label",
    "frame_inputs",
    "joined_frame",
    "read_csv",
    "read_parquet",
    "results_frame",
    "rows_frame",
    "value_data",
    "write_csv",
    "write_parquet",
]

"""``df.batchnb``: the pandas accessor, registered on ``import batchnb`` without importing pandas.

``df.batchnb.extract(prompt=..., response_model=..., model=..., **options)`` runs (showing the panel in a
notebook) and returns ``df`` with the output columns added, as ``to_pandas(join=True)``;
``df.batchnb.manager(...)`` is ``BatchManager.from_frame(df, ...)``, not started, for ``estimate()``,
``start()``, ``retry_failed()``.

``import batchnb`` must not import pandas (it costs a second and most runs never ask for a frame), yet the
accessor should exist whenever a DataFrame does. So: when pandas is already imported (the usual order in a
notebook) it is registered at once; otherwise a one-shot finder on ``sys.meta_path`` wraps pandas' own
loader the moment pandas is imported, registers the accessor right after pandas has run, gives pandas its
loader back and steps out of ``sys.meta_path``. It finds nothing itself, so every other import is untouched.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable, Hashable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ...errors import Interrupted
from ._front import BatchManager

if TYPE_CHECKING:
    import pandas as pd

ACCESSOR = "batchnb"


class BatchnbAccessor:
    """``df.batchnb``: requests from the rows of ``df``, results joined back to it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def manager(
        self,
        prompt: str | Callable[[pd.Series], Any] | None = None,
        *,
        files: Hashable | None = None,
        **options: Any,
    ) -> BatchManager:
        """``BatchManager.from_frame(df, prompt, files=..., **options)``: built and checked, not started."""
        return BatchManager.from_frame(self._frame, prompt, files=files, **options)

    def extract(
        self,
        prompt: str | Callable[[pd.Series], Any] | None = None,
        *,
        files: Hashable | None = None,
        flatten: bool = False,
        with_meta: bool | Sequence[str] = False,
        suffix: str = "_out",
        show: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """Run one request per row and return ``df`` with the output columns added (one per model field;
        ``with_meta=True`` adds ``status``, ``error``, ``cost``; a name ``df`` has gets ``suffix``).

        Blocks like ``run()`` (``show``: the panel in a notebook, progress bars in a terminal); with
        ``state_path=`` a re-run of the cell resumes and pays nothing twice. Failed rows have empty output
        columns: ``with_meta=True`` says why, ``df.batchnb.manager(...).retry_failed()`` resubmits them.
        """
        manager = self.manager(prompt, files=files, **options)
        kept = options.get("state_path") is not None
        manager._ctx.resume_hint = (  # an extract() user holds no manager: the cell is how to go on
            "Re-run the cell to go on: with the same state_path, only what is not finished is sent."
            if kept
            else "Re-running the cell starts over and pays again (no state_path): pass state_path= to keep "
            "what is paid across re-runs."
        )
        try:
            manager.run(print_progress=show)
        except Interrupted as exc:
            raise Interrupted(f"df.batchnb.extract() {exc.message.removeprefix('run() ')}") from None
        return manager.to_pandas(flatten=flatten, join=True, with_meta=with_meta, suffix=suffix)


def register_accessor() -> None:
    """Register ``df.batchnb`` with pandas (imports pandas; a second call does nothing)."""
    import pandas as pd

    if getattr(pd.DataFrame, ACCESSOR, None) is not BatchnbAccessor:
        pd.api.extensions.register_dataframe_accessor(ACCESSOR)(BatchnbAccessor)


def register_when_pandas_is_imported() -> None:
    """Register the accessor now if pandas is imported, else as soon as it is (see the module docstring)."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and hasattr(pandas, "DataFrame"):
        register_accessor()
    elif not any(isinstance(finder, _PandasHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PandasHook())


class _PandasHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asked for ``pandas``, it lets the other finders find it and wraps the loader."""

    def __init__(self) -> None:
        self._searching = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas" or getattr(self._searching, "on", False):
            return None
        self._searching.on = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # nothing to wrap: the import goes on as if this finder were not there
        spec.loader = _RegisteringLoader(spec.loader, self)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    """pandas' loader, then the accessor's registration; pandas keeps its own loader as ``__loader__``."""

    def __init__(self, loader: importlib.abc.Loader, hook: _PandasHook) -> None:
        self._loader, self._hook = loader, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        if self._hook in sys.meta_path:
            sys.meta_path.remove(self._hook)
        try:
            register_accessor()
        except Exception as exc:  # pandas itself imported fine: never fail its import for our accessor
            warnings.warn(f"batchnb could not register df.batchnb: {exc!r}", RuntimeWarning, stacklevel=2)

    def __getattr__(self, name: str) -> Any:  # anything else a tool asks of the loader (is_package, ...)
        return getattr(self._loader, name)

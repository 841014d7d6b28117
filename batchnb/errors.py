"""The one exception hierarchy of batchnb.

Every error batchnb raises on purpose is a ``BatchnbError``; catch that to catch them all::

    BatchnbError
    ├── InputError         bad inputs or options, raised before anything is sent or spent
    ├── BudgetError        a cost limit that cannot be enforced or would be exceeded
    ├── StateError         a state file that is locked, corrupted or belongs to other inputs
    ├── ProviderError      the provider (or emulator) refused or failed a batch-level call
    │   ├── CreateRefused      a create the provider certainly did not perform (now, or for good)
    │   └── CreateUncertain    a create that may have made a batch: reconciled, never simply repeated
    └── JobTimeoutError    ``BatchJob.wait(timeout=...)`` ran out of time (the batch goes on)

    Interrupted (a ``KeyboardInterrupt``)  Ctrl-C in ``run()`` or ``wait()``; says what became of the run

Messages say what is wrong *and* what to do about it. Item-level failures (an errored request, an
expired one, output that does not validate) are never exceptions: they are ``ItemResult``s with
``status == "failed"``, so that one bad item never fails the others.
"""

from __future__ import annotations

import os
import traceback

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class BatchnbError(Exception):
    """Base class of every error batchnb raises on purpose."""


class _ShortInNotebooks:
    """For errors about the user's own inputs or files (``InputError``, ``BudgetError``, ``StateError``): in
    IPython the message and the user's line that raised it, instead of a traceback through batchnb's
    internals (the message says what to do; the frames inside batchnb would only bury it)."""

    def _render_traceback_(self) -> list[str]:
        assert isinstance(self, BaseException)
        frames = []  # the user's frames, up to the call into batchnb (what it called from there is ours)
        for frame in traceback.extract_tb(self.__traceback__):
            if frame.filename.startswith(_PACKAGE):
                break
            frames.append(frame)
        where = [f"  at line {frames[-1].lineno}: {frames[-1].line}"] if frames and frames[-1].line else []
        return [f"{type(self).__name__}: {self}", *where]


class InputError(_ShortInNotebooks, BatchnbError, ValueError):
    """An input or option is unusable; raised before any request is sent, so nothing is spent.

    ``item`` is the index of the offending input when one is to blame.
    """

    def __init__(self, message: str, *, item: int | None = None) -> None:
        super().__init__(message if item is None else f"input {item}: {message}")
        self.item = item


class BudgetError(_ShortInNotebooks, BatchnbError):
    """A budget cannot be enforced (no price for the model) or would be exceeded."""


class StateError(_ShortInNotebooks, BatchnbError):
    """A state file cannot be used as it is; the file is always left untouched."""


class ProviderError(BatchnbError):
    """A batch-level call to the provider failed after the SDK's own retries.

    The original SDK exception is chained as ``__cause__``.
    """


class CreateRefused(ProviderError):
    """The provider certainly made no batch. ``retry_after``: seconds until it may be asked again, or
    ``None`` when the refusal is final (400, 401, 403, 413, ...). ``rate_limited``: a 429 (the queue of
    unprocessed requests is full, or the rate limit reached): waiting it out always works in the end; its
    ``retry_after`` is ``None`` when the provider said no wait that could be read (the caller picks one)."""

    def __init__(self, message: str, *, retry_after: float | None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class CreateUncertain(ProviderError):
    """A create may or may not have made a batch (a lost answer, a 5xx, a gateway timeout)."""


class CallRefused(ProviderError):
    """A realtime call (``POST /v1/messages``) certainly cost nothing: the provider answered it with an error.
    ``retry_after``: seconds until it may be asked again, or ``None`` when the refusal is final (400, ...);
    ``error_type``: the API's (``invalid_request_error``, ...)."""

    def __init__(self, message: str, *, retry_after: float | None, error_type: str = "api_error") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.error_type = error_type


class CallUncertain(ProviderError):
    """A realtime call got no answer (a lost connection, a timeout, a 5xx): it may have been answered and billed."""


class JobTimeoutError(BatchnbError, TimeoutError):
    """``wait(timeout=...)`` elapsed before the batch ended. The batch is still running."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (a kernel interrupt) in ``run()`` or ``wait()``. A ``KeyboardInterrupt``, so that it stops a
    "Run all" like any interrupt, but it reads as one line that says what became of the run (canceled, or
    still going in the background) instead of a traceback through the engine's threads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of the traceback
        return [f"KeyboardInterrupt: {self.message}"]

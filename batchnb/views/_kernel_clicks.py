"""Clicks served while the kernel's main thread is busy: the panel's buttons answer within a second during
``run()``, ``wait()`` or any cell of the user's that blocks.

An IPython kernel handles a widget's click on its main thread, after the running cell. ipykernel 7 has
*subshells*: threads with their own message loop, and it routes each comm's messages to the subshell its
``_reply_subshell_for`` names. We start one subshell per kernel and route the panel widget's comm to it,
so its click handlers run on that thread, at once. Why not ``jupyter-ui-poll``: it drives ``Kernel.
do_one_iteration()``, which ipykernel 7.4 no longer has (its poll silently does nothing), and it can only
help while *our* code blocks, not during the user's own ``time.sleep``.

This leans on ipykernel internals (``shell_channel_thread.manager._create_subshell``); anything unexpected
turns it off and the clicks fall back to the kernel's queue: a clicked button shows "queued" until the
kernel takes the click (the panel acknowledges its number), after the running cell.
"""

from __future__ import annotations

import threading
from typing import Any

_subshell: str | None = None
_tried = False
_lock = threading.Lock()


def serve_clicks_off_main_thread(widgets: list[Any]) -> bool:
    """Route the comms of ``widgets`` to this kernel's click subshell; ``False`` where that cannot be done."""
    subshell = _click_subshell()
    if subshell is None:
        return False
    for widget in widgets:
        comm = getattr(widget, "comm", None)
        if comm is None or not hasattr(comm, "_reply_subshell_for"):
            return False
        comm._reply_subshell_for = lambda data, default, _id=subshell: _id
    return True


def _click_subshell() -> str | None:
    global _subshell, _tried
    with _lock:
        if not _tried:
            _tried = True
            try:
                _subshell = _create_subshell()
            except Exception:  # an ipykernel we do not know: clicks wait for the kernel, and say so
                _subshell = None
        return _subshell


def _create_subshell() -> str | None:
    from IPython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    channel = kernel.shell_channel_thread
    manager, loop = channel.manager, channel.io_loop
    made: dict[str, str] = {}
    ready = threading.Event()

    def create() -> None:  # subshells are made on the shell channel thread only
        try:
            made["id"] = manager._create_subshell()
        finally:
            ready.set()

    loop.add_callback(create)
    if not ready.wait(5.0):
        return None
    return made.get("id")

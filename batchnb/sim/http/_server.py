"""The socket side: a threaded HTTP/1.1 server (keep-alive) that feeds requests to the ``App``.

It can also withhold an answer and cut the connection, which is how dropped connections and lost
responses reach the client as ``APIConnectionError``.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._app import App, Response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "batchnb-emulator"
    sys_version = ""
    server: EmulatorServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the emulator runs inside tests and notebooks."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header on the emulator's (possibly skewed) clock."""
        return super().date_time_string(self.server.clock() if timestamp is None else timestamp)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.app.handle(self.command, self.path, headers, body)
        if response.drop:
            self._drop()
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.line_delay <= 0:
            self.wfile.write(response.body)
            return
        for line in response.body.splitlines(keepends=True):
            self.wfile.write(line)
            self.wfile.flush()
            time.sleep(response.line_delay)

    def _drop(self) -> None:
        """Close without a single byte of response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without this Nagle + delayed ACK add ~40 ms per call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)


class EmulatorServer(ThreadingHTTPServer):
    """Serves an ``App``; ``close_all`` cuts keep-alive connections so a stopped emulator really stops."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, *, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.clock = clock
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_all(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        """Client hang-ups are normal (fault injection, a test killing its client): no traceback for those.

        Anything else, such as an ``on_request`` hook that raised, is printed as usual.
        """
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

"""``Simulator``: the public face of the emulator (start, stop, base URL, SDK client, counters)."""

from __future__ import annotations

import functools
import os
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from ._config import Faults, RequestEvent, SimCounters, SimLimits
from .answers._differences import check_differences
from .answers._responder import default_responder
from .http._app import App
from .http._server import EmulatorServer
from .store._clock import EmulatedClock
from .store._quota import Quotas
from .store._store import BatchStore

if TYPE_CHECKING:
    import anthropic


class Simulator:
    """A local Message Batches API on a real port, served from a background thread.

    >>> with Simulator(latency=0.2) as sim:          # doctest: +SKIP
    ...     client = sim.client(max_retries=0)
    ...     batch = client.messages.batches.create(requests=[...])
    """

    def __init__(
        self,
        *,
        latency: float = 1.0,
        responder: Callable[[dict[str, Any]], str | list[dict[str, Any]]] | None = None,
        faults: Faults | None = None,
        limits: SimLimits | None = None,
        store_path: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Collection[str] | None = None,
        extra_models: Collection[str] = (),
        clock_skew: float = 0.0,
        on_request: Callable[[RequestEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        time_scale: float = 1.0,
        queue_cap: int | None = 100_000,
        rpm: int | None = None,
        lenient: bool = False,
        model_differences: Mapping[str, float] | float | bool | None = True,
    ) -> None:
        """``clock_skew``: seconds the provider's clock is ahead of ours (negative: behind); every timestamp
        and ``Date`` header follows it. ``on_request``: see the ``on_request`` property. ``lenient``: check
        each request only for what the emulator checked before it shared ``batchnb.contract`` with the
        client (unknown keys and per-model limits pass), to rehearse requests the real API would refuse.

        Time and limits (reference §2), see ``_clock`` and ``_quota``: ``clock`` returns epoch seconds (a test
        passes one it can move forward); ``time_scale`` makes emulated time run that many times faster (3600:
        a second is an hour). ``latency``, every timestamp, the 24 h expiry and the 29-day archival are
        emulated time; a ``retry-after`` is in the client's seconds. ``queue_cap``: requests allowed in the
        processing queue at once (tier 1: 100,000); ``rpm``: calls per minute to the batch endpoints (tier 1:
        50), off by default here because tests and rehearsals poll every few milliseconds (the command line
        turns it on). Both answer 429 ``rate_limit_error`` with ``retry-after``; None turns one off.

        ``model_differences``: models answer a seeded share of a structured answer's fields differently from
        the request's reference answer (to rehearse a comparison of models or a hand review). On by default
        (``True``: the rates of ``MODEL_DIFFERENCES``, opus 1.5%, sonnet 3%, haiku 6%, others 4%), so models
        do not agree on everything as no real ones do; ``False`` (or ``None``) turns it off: every model gives
        the reference answer, as the emulator did before; a mapping of model ids or family words to rates
        over them; one rate for every model. Which fields is drawn from ``faults.seed``; ``field_differs``
        says it. A ``responder`` of your own says what every model answers.
        """
        self.faults = faults or Faults()
        check_differences(model_differences)
        seed = self.faults.seed if self.faults.seed is not None else secrets.randbits(62)
        self.limits = limits or SimLimits()
        self.host, self.port = host, port
        self._clock = EmulatedClock(clock, time_scale=time_scale, skew=clock_skew)
        self.quotas = Quotas(queue_cap=queue_cap, rpm=rpm)
        """The queue cap and RPM limit, read live (``sim.quotas.queue_cap = None`` lifts the cap)."""
        self._store = BatchStore(
            latency=latency,
            responder=responder or functools.partial(default_responder, seed=seed, differences=model_differences),
            faults=self.faults,
            limits=self.limits,
            extra_models=extra_models,
            store_path=store_path,
            clock=self._clock,
            quotas=self.quotas,
            lenient=lenient,
        )
        self._app = App(
            self._store, limits=self.limits, api_keys=api_keys, base_url=lambda: self.base_url, on_request=on_request
        )
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server (the real port when started with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("Simulator is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET/AF_INET6 address; typeshed also allows bytes (other families)
        return f"http://{host}:{port}"

    def start(self) -> Simulator:
        if self._server is None:
            self._server = EmulatorServer((self.host, self.port), self._app, clock=self._clock.shown)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"batchnb-sim-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections (stored batches stay on disk when ``store_path`` is set)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` pointed at this emulator with strict response validation."""
        import anthropic

        options: dict[str, Any] = {"base_url": self.base_url, "api_key": "sim-key", "_strict_response_validation": True}
        options.update(kwargs)
        return anthropic.Anthropic(**options)

    @property
    def counters(self) -> SimCounters:
        """What the emulator has seen and billed so far (ended batches are billed before the snapshot)."""
        return self._store.counters()

    def billed_by_custom_id(self) -> dict[str, float]:
        """USD billed per custom_id over every ended batch (a custom_id submitted twice sums both; 0.0 for
        items not billed): the oracle for "nothing paid for twice". Kept out of ``counters`` to keep it cheap.
        """
        return self._store.billed_by_custom_id()

    def reset_counters(self) -> None:
        """Start ``counters``, ``billed_by_custom_id`` and ``RequestEvent`` numbers from zero again."""
        self._store.reset_counters()

    @property
    def on_request(self) -> Callable[[RequestEvent], None] | None:
        """Called in the server's thread with a ``RequestEvent`` twice per routed call: ``"received"``, then
        ``"applied"`` (even when the call ends in an error or a hang-up).

        It may block, say while a test kills its client at an exact point; the emulator copes with the client
        being gone. If it raises, the connection is cut unanswered and the traceback printed.
        """
        return self._app.on_request

    @on_request.setter
    def on_request(self, hook: Callable[[RequestEvent], None] | None) -> None:
        self._app.on_request = hook

    def now(self) -> float:
        """The emulator's current (emulated) time as it shows it, in epoch seconds."""
        return self._clock.shown()

    def step_clock(self, seconds: float) -> None:
        """Step the provider's clock ``seconds`` (negative: back), as a ``clock_step`` fault does (see
        ``FaultRule``): forward, time passes at once (30 days archive every batch); back, only the times
        shown from now on go back."""
        self._clock.step(seconds)

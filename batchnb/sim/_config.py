"""Knobs and readings of the emulator: fault injection, limits, the counters snapshot, request events.

These are plain values so tests can build them inline and compare them; the server only reads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Endpoint names used by ``Faults`` rates and ``SimCounters.requests_by_endpoint``.
ENDPOINTS: tuple[str, ...] = (
    "create",
    "retrieve",
    "list",
    "cancel",
    "delete",
    "results",
    "count_tokens",
    "message",  # POST /v1/messages: a realtime call
)

#: ``FaultRule`` actions and the endpoints each one makes sense on.
FAULT_ACTIONS: dict[str, tuple[str, ...]] = {
    "error": ENDPOINTS,
    "lose_response": ENDPOINTS,
    "late_create": ("create",),
    "neighbour": ("create",),
    "empty_body": ("results",),
    "short_body": ("results",),
    "clock_step": ENDPOINTS,
    "pretty_body": ENDPOINTS,  # every endpoint answers JSON (results: JSONL)
    "rewrite": ENDPOINTS,  # a gateway's own answer after the call was handled (``gateway``)
    "answer": ENDPOINTS,  # a gateway's own answer instead of handling the call (``gateway``)
}


@dataclass
class FaultRule:
    """One scripted fault: the provider misbehaving on chosen calls, exactly reproducible (no randomness).

    The rules for one endpoint form a script read in order: the first rule that has not used up its
    ``skip + times`` calls takes the call, lets it through untouched while its ``skip`` lasts, then acts on
    the next ``times`` calls. Actions:

    - ``error``: answer ``status`` with an API error body; nothing happens.
    - ``lose_response``: do the call (say, create the batch), then hang up without an answer.
    - ``late_create`` (create): answer ``status`` without creating the batch; it appears ``delay`` seconds
      later, created then, like a gateway timeout whose request still went through. Pass ``status=504``
      for that gateway timeout (the default 503 works too). It is kept in memory until it appears.
    - ``neighbour`` (create): answer normally, and another client on the same API key creates a batch
      with the same params ``delay`` seconds after ours (0: right after, so it lists as newer). Its
      custom_ids are ``neighbour-{k}-{i}``: k numbers the neighbour batches from 1, i is the request's index.
    - ``empty_body`` / ``short_body`` (results): a 200 with no lines / the first half of the lines (an
      error answer, such as results asked for too early, is left alone).
    - ``clock_step`` (any endpoint): the provider's clock jumps ``step`` seconds (negative: back) when the
      call is received, before it is handled; the call is then answered normally. Forward, time passes at
      once: ``step=30 * 86400`` archives every batch (their results answer 404), 24 h expires what is in
      progress. Back, the times the provider shows from then on go back (new batches' ``created_at``, the
      ``Date`` header) while its batches keep processing and keep their own times: a batch made after a
      step back of an hour is listed above older batches (the list is in creation order) with a
      ``created_at`` an hour before theirs. ``Simulator.step_clock`` does the same from a test.
    - ``pretty_body`` (any endpoint): the answer is sent as a gateway in front of the API might re-format
      it, its meaning unchanged: a JSON body pretty-printed (indented, newlines inside, a trailing
      newline); a results (JSONL) body with spaces and tabs inside each line, ``\\r\\n`` line ends and a
      blank line between records (each record still on its own line). An error answer is JSON: pretty too.
    """

    endpoint: str
    action: str
    times: int = 1
    """Calls acted on (after ``skip``); a large number means "always"."""
    skip: int = 0
    """Calls let through untouched first."""
    status: int = 503
    """HTTP status of ``error`` and ``late_create``."""
    delay: float = 0.0
    """Seconds until the batch of ``late_create`` / ``neighbour`` appears."""
    step: float = 0.0
    """Seconds the provider's clock jumps on a ``clock_step`` (negative: back)."""
    gateway: Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]] | None = None
    """``rewrite`` / ``answer``: ``(status, headers, body) -> (status, headers, body)`` sent instead (any
    bytes, any headers). ``rewrite`` handles the call first and passes its answer; ``answer`` does not
    handle it and passes ``(0, {}, b"")``."""

    def __post_init__(self) -> None:
        """Refuse a rule that could never act, so a typo fails at once rather than staging nothing."""
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {self.endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
        if self.action not in FAULT_ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; expected one of {', '.join(FAULT_ACTIONS)}")
        if self.endpoint not in FAULT_ACTIONS[self.action]:
            raise ValueError(
                f"action {self.action!r} applies to {' or '.join(FAULT_ACTIONS[self.action])}, not {self.endpoint!r}"
            )
        if self.times < 0 or self.skip < 0 or not self.delay >= 0:  # "not >=" also refuses a NaN delay
            raise ValueError("times, skip and delay must be 0 or more")
        if not math.isfinite(self.step):
            raise ValueError(f"step must be a finite number of seconds, not {self.step}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {self.status}")


@dataclass
class Faults:
    """What goes wrong, and how often. All defaults mean "nothing goes wrong".

    Rates are probabilities per HTTP call; a dict gives one rate per endpoint name (see ``ENDPOINTS``),
    missing names meaning 0. Every draw comes from one ``random.Random(seed)`` so a run is reproducible;
    item outcomes (``errored_rate``, ``expired_rate``) come from a hash of the seed and the custom_id.
    """

    http_error_rate: float | dict[str, float] = 0.0
    """Answer with one of ``http_error_statuses`` instead of handling the call (no side effect)."""
    http_error_statuses: tuple[int, ...] = (429, 500, 529)
    retry_after: float = 0.0
    """Seconds sent in the ``retry-after`` header of injected 429s."""
    drop_rate: float | dict[str, float] = 0.0
    """Close the connection without a response, before the call has any effect."""
    lost_response_rate: float | dict[str, float] = 0.0
    """Apply the call (e.g. create the batch), then close the connection without a response."""
    errored_rate: float = 0.0
    """Fraction of items that end ``errored`` with ``api_error`` or ``overloaded_error`` (not billed). Each
    item is decided by a hash of ``(seed, custom_id)``: the same seed and custom_id fail the same way in any
    batch, at any position, after any restart, while a retry (a new custom_id) draws afresh."""
    expired_rate: float = 0.0
    """Fraction of items that end ``expired`` (not billed); decided like ``errored_rate``."""
    answer_quirks: float = 0.0
    """Fraction of answers to JSON-in-instructions prompts (a JSON schema in the system prompt; never
    ``output_config.format`` structured output, which the API guarantees) that come like real ones sometimes
    do: fenced in ```json, wrapped in prose, stopped at ``max_tokens`` mid-JSON (``stop_reason``
    ``max_tokens``) or refused (``stop_reason`` ``refusal``); see ``batchnb.sim.answers._answers``. Decided like
    ``errored_rate``, by a hash of ``(seed, custom_id)``, independently of it; read when a batch's results
    are built."""
    slow_rate: float = 0.0
    """Fraction of batches that take ``latency * slow_factor`` to end."""
    slow_factor: float = 10.0
    delay: float | dict[str, float] = 0.0
    """Seconds a call takes on the server after it has been applied (a slow create, a slow poll): a client
    killed meanwhile leaves work done that it never heard of."""
    results_line_delay: float = 0.0
    """Seconds between the lines of a results download, so a client can be stopped mid-stream."""
    item_outcome: Callable[[str, dict[str, Any]], str | None] | None = None
    """Called with ``(custom_id, params)`` at create time. Return None (normal), ``"errored:<type>"``,
    ``"expired"`` or ``"hold"`` (never finishes on its own: the batch stays in progress until canceled)."""
    seed: int | None = 0
    """Seed of every random choice above (None: a different one each run)."""
    rules: list[FaultRule] = field(default_factory=list)
    """Scripted faults (see ``FaultRule``), checked before the random ones above, which only touch calls
    no rule acts on. Rules may be appended while the emulator runs."""

    def __post_init__(self) -> None:
        """Refuse item rates that are not fractions, so a typo fails at once rather than mid-rehearsal."""
        for name in ("errored_rate", "expired_rate", "answer_quirks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a fraction from 0 to 1, got {value!r}")
        if self.errored_rate + self.expired_rate > 1:
            raise ValueError(
                f"errored_rate + expired_rate must be at most 1, got {self.errored_rate} + {self.expired_rate}"
            )

    def rate(self, kind: str, endpoint: str) -> float:
        """The probability of fault ``kind`` (an attribute name) on ``endpoint``."""
        value: float | Mapping[str, float] = getattr(self, kind)
        if isinstance(value, Mapping):
            return float(value.get(endpoint, 0.0))
        return float(value)


@dataclass
class SimLimits:
    """Size limits of the real API (reference §2); tests shrink them to hit them cheaply."""

    max_requests: int = 100_000
    max_batch_bytes: int = 256 * 2**20
    """Raw body bytes of a create call; above it the call gets 413 ``request_too_large``."""
    max_request_bytes: int = 32 * 2**20
    """One request's ``params`` serialized; above it the item ends ``errored``."""
    cancel_latency: float = 0.05
    """Seconds a canceled batch stays ``canceling`` before it ends."""


@dataclass(frozen=True)
class SimCounters:
    """A snapshot of what the emulator saw and billed: the oracle for "nothing submitted twice"."""

    creates: int = 0
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    submissions: dict[str, int] = field(default_factory=dict)
    duplicate_submissions: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    billed_input_tokens: int = 0
    billed_output_tokens: int = 0
    billed_cache_write_tokens: int = 0
    billed_cache_read_tokens: int = 0
    billed_usd: float = 0.0
    items_by_result: dict[str, int] = field(default_factory=dict)
    cancels: dict[str, int] = field(default_factory=dict)
    """Batch id -> cancel calls that reached the handler for it (past auth and injected faults)."""
    rate_limited: int = 0
    """429s the emulator's own limits answered (queue cap and RPM; injected faults are not counted)."""
    queue_full: int = 0
    """Those of ``rate_limited`` that refused a create because the processing queue was full."""
    max_queued: int = 0
    """The most requests ever unprocessed at once, counted when each create was admitted."""
    realtime_calls: int = 0
    """Realtime calls (``POST /v1/messages``) answered and billed; a lost answer counts too."""
    realtime_usd: float = 0.0
    """What those calls were billed (standard prices, twice the batch ones); included in ``billed_usd``."""
    duplicate_realtime_calls: int = 0
    """Realtime calls answered for a request (its params, byte for byte) already answered: the oracle for
    "nothing called twice" (the API has no custom_id there)."""


@dataclass(frozen=True)
class RequestEvent:
    """What ``Simulator(on_request=...)`` hears about each routed call: a place to pause, or to kill a client.

    ``count`` is the call's 1-based number among calls to ``endpoint`` and ``total`` among all calls, both
    as counted by ``SimCounters.requests_by_endpoint`` (so ``reset_counters`` restarts them). ``phase`` is
    ``"received"`` (counted, nothing done yet) or ``"applied"`` (done, answer not yet written).
    """

    endpoint: str
    count: int
    total: int
    phase: str

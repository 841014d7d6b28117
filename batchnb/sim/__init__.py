"""A local emulator of the Anthropic Message Batches API, served over real HTTP.

Users rehearse a run offline and for free; tests drive the unmodified ``anthropic`` SDK against it.
It is a stand-in for a server someone else wrote, so it imports nothing from the rest of ``batchnb`` but
the request contract (``batchnb.contract``), which it shares with the client on purpose.

Module map (one job each): ``_simulator`` (public handle), ``_server`` (sockets), ``_app`` (routing,
faults, auth, endpoints), ``_staged`` (scripted faults), ``_store`` (state, counters), ``_batch`` (one
batch and its clock), ``_results`` (results file, item failures), ``_validate`` (what the API rejects),
``_responder`` / ``_schema_values`` / ``_cited_json`` (what the model says), ``_differences`` /
``_field_differs`` (how models differ: a seeded share of fields each, and the oracle of it), ``_answers``
(thinking blocks, answer quirks), ``_text_cues`` / ``_vocabulary`` (structured values read from the request's
text), ``_tokens`` (usage), ``_prompt_cache`` (cache_control prefixes, the organisation's cache), ``_catalog``
(models, prices), ``_persist`` (disk), ``_clock`` (emulated time: scale, skew, an injectable clock),
``_quota`` (the queue cap and the requests-per-minute limit).
"""

from ._config import FaultRule, Faults, RequestEvent, SimCounters, SimLimits
from ._simulator import Simulator
from .answers._differences import MODEL_DIFFERENCES
from .answers._field_differs import field_differs
from .answers._responder import default_responder

__all__ = [
    "Simulator",
    "Faults",
    "FaultRule",
    "RequestEvent",
    "SimLimits",
    "SimCounters",
    "default_responder",
    "field_differs",
    "MODEL_DIFFERENCES",
]

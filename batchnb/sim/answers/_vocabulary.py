"""The words the emulator reads structured answers by (``_text_cues``): sentiment, negation, yes/no,
field names that ask for an excerpt, a name or a word, labels that name a polarity, words that hint at a label.

Small English lists, kept apart from the rules that use them so either can grow without crowding the other.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP = _words(
    "the a an and or but if then than that this these those there here of to in on at by for with from as is "
    "are was were be been being it its it's i me my we our you your he she they them their his her him what "
    "which who whom when where why how all any both each few more most other some such no nor not only own "
    "same so too very can will just don't should now also about after again against before below between "
    "during into out over under up down off once would could has have had having do does did doing am one "
    "two three get got really still even much many well us let please i'm i've i'd i'll nothing something "
    "anything everything"
)
INSTRUCTIONS = _words(
    "classify summarize summarise extract rate read return give tell describe list identify determine answer "
    "translate write analyze analyse find explain categorize categorise label score review evaluate assess "
    "decide choose pick output respond reply provide check"
)
POSITIVE = _words(
    "love loved loves lovely great excellent fantastic amazing good happy perfect wonderful best awesome "
    "recommend recommended pleased satisfied superb nice enjoy enjoyed liked helpful easy fast quick friendly "
    "beautiful brilliant glad impressed reliable outstanding delighted thanks"
)
NEGATIVE = _words(
    "bad terrible awful worst broken broke hate hated poor disappointed disappointing disappointment failed "
    "fails failure useless horrible slow crash crashes crashed buggy problem problems issue issues defective "
    "angry waste annoying difficult late wrong missing damaged scratches rude unhappy frustrating frustrated "
    "refund complaint leak leaks leaking burning burnt smells smelly flimsy cheap junk"
)
#: words of a lukewarm text: with no polar word, a sentiment label that names neither side is chosen
NEUTRAL = _words("okay ok fine average decent mediocre meh so-so acceptable alright adequate ordinary")
NEGATIONS = _words("not no never nothing hardly isn't wasn't aren't don't doesn't didn't won't can't cannot")
YES = _words("yes yeah yep true correct definitely certainly confirmed agree")
NO = _words("no nope not never false incorrect none without")
#: enum labels that name a polarity: 1 positive, -1 negative, 0 neither
LABEL_POLARITY = {
    **dict.fromkeys(("positive", "pos", "good", "happy", "favorable", "favourable", "satisfied", "praise"), 1),
    **dict.fromkeys(("recommend", "recommended", "approve", "approved", "like", "liked", "worth"), 1),
    **dict.fromkeys(("negative", "neg", "bad", "unhappy", "unfavorable", "dissatisfied", "complaint"), -1),
    **dict.fromkeys(("neutral", "mixed", "none", "ambivalent", "passive", "indifferent"), 0),
}
URGENT = ("urgent", "asap", "immediately", "critical", "emergency", "outage", "down", "blocking", "blocked")
#: words that hint at an enum label without naming it ("crashes" -> bug)
RELATED: dict[str, tuple[str, ...]] = {
    "bug": ("crash", "crashes", "crashed", "error", "errors", "broken", "fails", "failed", "freezes", "exception"),
    "billing": ("charge", "charged", "charges", "invoice", "refund", "payment", "bill", "billed", "subscription"),
    "shipping": ("shipped", "shipment", "delivery", "delivered", "arrived", "package", "parcel", "tracking"),
    "account": ("login", "password", "username", "locked", "sign"),
    "high": URGENT,
    "urgent": URGENT,
    "critical": URGENT,
    "low": ("minor", "whenever", "eventually", "cosmetic"),
    "food": ("lunch", "dinner", "breakfast", "restaurant", "meal", "coffee", "cafe", "catering", "groceries"),
    "travel": ("flight", "hotel", "taxi", "train", "airline", "airport", "trip", "mileage", "fare"),
    "office": ("paper", "printer", "stationery", "desk", "toner", "supplies", "chair", "pens"),
}
RELATED["delivery"] = RELATED["shipping"]
EXCERPT = _words(
    "summary description text excerpt gist abstract content body quote snippet sentence reason reasoning "
    "explanation rationale comment note answer justification evidence detail overview synopsis tldr review "
    "feedback statement point finding highlight fact claim message question"
)
TITLE = _words("title headline heading caption subject")
NAME = _words(
    "name vendor company customer author person city country brand product merchant organization "
    "organisation location place seller buyer supplier store sender recipient manufacturer employer client"
)
MOOD = _words("sentiment polarity tone mood emotion attitude")
WORDLIKE = _words("keyword tag topic label category word theme term entity genre")
BOOL_PREFIXES = _words("is has have was were would should can could does did contains mentions needs requires")
RATINGS = _words("star rating rate score grade")
MONEY = _words("price amount total cost fee subtotal tax balance paid spend spent value")
#: other words that name a number in the text ("rated 4" for a ``rating``)
ALIASES: dict[str, tuple[str, ...]] = {
    "star": ("rating", "rated", "rate", "score"),
    "rating": ("star", "rated", "rate", "score"),
    "score": ("rating", "rated", "point", "star"),
    "quantity": ("item", "unit", "pc", "piece", "qty", "x"),
    "count": ("item", "time"),
    "age": ("year", "old"),
    "percent": ("%", "percentage"),
}

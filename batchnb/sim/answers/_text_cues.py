"""Reading a request's text, so that structured answers belong to their input: the emulator's stand-in for
understanding.

``value_for_schema`` asks a ``TextCues`` for each leaf before it falls back to a seeded draw: a string
named like a summary gets an excerpt, a name a proper noun, a tag a salient word; an enum the label the
words point to (sentiment from positive and negative words, a category named or hinted at in the text);
a number one that appears in the text, next to the field's name when it can ("4 stars" gives
``stars=4``); a boolean the field's name or yes/no cues. Plain word rules, no model: the same text always
gives the same answer. One ``TextCues`` serves one answer: numbers, sentences and words it has handed out
are not handed out again, so three tags are three words and two number fields two numbers.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from ._vocabulary import (
    ALIASES,
    BOOL_PREFIXES,
    EXCERPT,
    INSTRUCTIONS,
    LABEL_POLARITY,
    MONEY,
    MOOD,
    NAME,
    NEGATIONS,
    NEGATIVE,
    NEUTRAL,
    NO,
    POSITIVE,
    RATINGS,
    RELATED,
    STOP,
    TITLE,
    WORDLIKE,
    YES,
)

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']*")
# a number not glued to a word, a decimal point, a slash or a hyphen (so "4/5" and "1-5" give 4 and 1)
_NUMBER_RE = re.compile(r"(?<![\w./-])([#$€£]|-)?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w]|\.\d)")
_SENTENCE_RE = re.compile(r"(?:[^.!?\n]|[.!?](?=[^\s.!?]))+[.!?]*")  # "example.org" and "3.5" go on
_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_PROPER_RE = re.compile(r"\b[A-Z][a-zA-Z&'-]+(?:\s+[A-Z][a-zA-Z&'-]+){0,2}")
_CLAUSE_END = re.compile(r"[.!?;,]")
_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL_RE = re.compile(r"https?://[^\s\"'<>]+[^\s\"'<>.,;:!?)]")


def _stem(word: str) -> str:
    """Plural to singular, roughly: enough to match ``stars`` with ``star`` and ``categories`` with ``category``."""
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def name_parts(hint: str) -> list[str]:
    """The words of a field name (``invoice_date``, ``isPositive``), stemmed and lower-cased."""
    return [_stem(p) for p in re.findall(r"[a-z]+|[A-Z][a-z]*", hint)]


def subject_of(user_text: str) -> str:
    """The part of a user message a structured answer is about: its paragraphs without instructions.

    ``"Classify this review.\\n\\nIt broke."`` is about ``"It broke."``; ``"Rate this: great stuff"`` about
    ``"great stuff"``. Without anything left, the whole text.
    """
    paragraphs = [p.strip() for p in _PARAGRAPH_RE.split(user_text) if p.strip()]
    if len(paragraphs) > 1:
        kept = [p for p in paragraphs if not _is_instruction(p)]
        return kept[-1] if kept else max(paragraphs, key=len)
    text = paragraphs[0] if paragraphs else ""
    head, colon, rest = text.partition(":")
    if colon and rest.strip() and _starts_with_instruction(head):
        return rest.strip()
    return text


def _starts_with_instruction(text: str) -> bool:
    first = _WORD_RE.search(text)
    return first is not None and first.group(0).lower() in INSTRUCTIONS


def _is_instruction(paragraph: str) -> bool:
    return paragraph.endswith((":", "?")) or _starts_with_instruction(paragraph)


class TextCues:
    """Values for the leaves of one structured answer, read from ``text`` (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self._lower = self.text.lower()
        matches = list(_WORD_RE.finditer(self.text))
        self._words = [m.group(0).lower().strip("'") for m in matches]
        self._word_starts = [m.start() for m in matches]
        self._word_ends = [m.end() for m in matches]
        self._stems = [_stem(w) for w in self._words]
        self._numbers: list[tuple[float, str, int, int]] = [
            (
                (-1 if m.group(1) == "-" else 1) * float(m.group(2).replace(",", "")),
                m.group(1) or "",
                m.start(),
                m.end(),
            )
            for m in _NUMBER_RE.finditer(self.text)
        ]
        self._numbers = [n for n in self._numbers if math.isfinite(n[0]) and abs(n[0]) < 1e15]  # no "9" * 400
        self._number_at = [bisect_left(self._word_starts, n[2]) for n in self._numbers]  # the word after each
        self._used_numbers: set[int] = set()
        self._sentences: list[str] = [s.strip() for s in _SENTENCE_RE.findall(self.text) if len(s.strip()) > 1]
        self._next_sentence = 0
        counts: dict[str, int] = {}
        for word in self._words:
            if len(word) >= 3 and word not in STOP and word not in INSTRUCTIONS:
                counts[word] = counts.get(word, 0) + 1
        first = {w: i for i, w in reversed(list(enumerate(self._words)))}
        self._salient = sorted(counts, key=lambda w: (-counts[w], first[w]))
        self._next_word = 0
        self._counted_polarity: tuple[int, int] | None = None

    def __bool__(self) -> bool:
        return bool(self._words or self._numbers)

    # -- strings ------------------------------------------------------------------------------------
    def string(self, hint: str, *, in_list: bool = False) -> str | None:
        """Text for a free-text string field named ``hint`` (None: nothing fitting, draw a placeholder)."""
        parts = set(name_parts(hint))
        if parts & MOOD:
            sign = self._polarity_sign()
            return "neutral" if sign is None else {1: "positive", -1: "negative", 0: "mixed"}[sign]
        if parts & EXCERPT:
            return self._sentence(words=0)
        if in_list:
            return self._salient_word()
        if parts & TITLE:
            return self._sentence(words=8)
        if parts & NAME:
            return self._proper_noun()
        return self._salient_word() if parts & WORDLIKE else None

    def formatted(self, fmt: str) -> str | None:
        """A ``date``, ``email`` or ``uri`` that appears in the text."""
        if fmt == "date":
            for match in _DATE_RE.finditer(self.text):
                try:
                    return _dt.date.fromisoformat(match.group(0)).isoformat()
                except ValueError:
                    continue
        pattern = {"email": _EMAIL_RE, "uri": _URL_RE, "url": _URL_RE}.get(fmt)
        found = pattern.search(self.text) if pattern is not None else None
        return found.group(0) if found else None

    def _sentence(self, words: int) -> str | None:
        """The next sentence (round and round), cut to ``words`` words (0: about 100 characters)."""
        if not self._sentences:
            return None
        sentence = self._sentences[self._next_sentence % len(self._sentences)]
        self._next_sentence += 1
        if words:
            return " ".join(sentence.rstrip(".!?").split()[:words])
        if len(sentence) <= 100:
            return sentence
        return sentence[:100].rsplit(" ", 1)[0] + "..."

    def _salient_word(self) -> str | None:
        """The next of the text's most frequent words (stopwords and instruction verbs left out)."""
        if self._next_word >= len(self._salient):
            return None
        self._next_word += 1
        return self._salient[self._next_word - 1]

    def _proper_noun(self) -> str | None:
        """Capitalized words, one to three, that do not merely start a sentence ("Acme Corp", "Lisbon")."""
        for match in _PROPER_RE.finditer(self.text):
            before = self.text[max(0, match.start() - 2) : match.start()].rstrip()  # whitespace is collapsed
            words = match.group(0).split()
            while words and words[0].lower() in STOP:
                words.pop(0)
            starts_sentence = not before or before.endswith((".", "!", "?", ":", '"'))
            stripped = len(words) < len(match.group(0).split())  # "The Acme": Acme is not a sentence's start
            if not words or len(words) == 1 and starts_sentence and not stripped:
                continue
            return " ".join(words)
        return None

    # -- enums and booleans -------------------------------------------------------------------------
    def _negated(self, index: int) -> bool:
        """Whether one of the three words before word ``index``, in the same clause, negates it."""
        start = self._word_starts[index]
        return any(
            self._words[j] in NEGATIONS and not _CLAUSE_END.search(self.text, self._word_starts[j], start)
            for j in range(max(0, index - 3), index)
        )

    def _polarity(self) -> tuple[int, int]:
        """(positive, negative) words; "not good" counts as negative, "not bad" as neither."""
        if self._counted_polarity is None:
            pos = neg = 0
            for i, word in enumerate(self._words):
                sign = 1 if word in POSITIVE else -1 if word in NEGATIVE else 0
                if sign and self._negated(i):
                    sign = -1 if sign > 0 else 0
                pos, neg = pos + (sign > 0), neg + (sign < 0)
            self._counted_polarity = pos, neg
        return self._counted_polarity

    def _polarity_sign(self) -> int | None:
        """1 positive, -1 negative, 0 mixed (both, equally), None without any cue."""
        pos, neg = self._polarity()
        if not (pos or neg):
            return None
        return (pos > neg) - (neg > pos)

    def enum_index(self, options: list[Any], hint: str) -> int | None:
        """Which of an enum's ``options`` the text points to (None: no cue, draw one)."""
        if options and all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options):
            value = self._take_number(hint, lambda v: v in options)
            return options.index(value) if value is not None else None
        labels = [str(o).lower().replace("_", " ").replace("-", " ") if isinstance(o, str) else "" for o in options]
        if labels and set(labels) <= {"yes", "no", "true", "false", "y", "n", "unknown", "unsure", "maybe"}:
            decided = self.boolean(hint)
            wanted = ("yes", "true", "y") if decided else ("no", "false", "n")
            found = [i for i, label in enumerate(labels) if label in wanted]
            return found[0] if decided is not None and found else None
        polar = {i: LABEL_POLARITY[label] for i, label in enumerate(labels) if label in LABEL_POLARITY}
        if polar:
            pos, neg = self._polarity()
            if not (pos or neg) and any(word in NEUTRAL for word in self._words):  # "okay, nothing special"
                lukewarm = [i for i, s in polar.items() if s == 0]
                if lukewarm:
                    return lukewarm[0]
            if pos or neg:
                sign = (pos > neg) - (neg > pos)
                ranked = sorted(
                    (i for i, s in polar.items() if s == sign),
                    key=lambda i: (labels[i] not in (("mixed", "ambivalent") if pos and neg else ("neutral",)), i),
                )
                if ranked:
                    return ranked[0]
        mentions = [
            (m.start(), i)
            for i, label in enumerate(labels)
            if len(label) >= 3 and (m := re.search(rf"\b{re.escape(label)}(?:s|es)?\b", self._lower))
        ]
        if mentions:
            return min(mentions)[1]
        stems = set(self._stems) | set(self._words)
        scores = [sum(w in stems for w in self._related(label)) for label in labels]
        best = max(scores, default=0)
        return scores.index(best) if best else None

    @staticmethod
    def _related(label: str) -> set[str]:
        related: set[str] = set()
        for part in label.split():
            related.update(RELATED.get(part, ()))
        return related

    def boolean(self, hint: str) -> bool | None:
        """True/False from the field's name in the text ("urgent", "not paid"), else yes/no cues."""
        parts = [p for p in name_parts(hint) if p not in BOOL_PREFIXES]
        polar = [LABEL_POLARITY[p] for p in parts if LABEL_POLARITY.get(p)]
        if polar and (sign := self._polarity_sign()):
            return sign == polar[0]
        for part in (p for p in parts if len(p) >= 3 and p not in STOP):
            for i, (word, stem) in enumerate(zip(self._words, self._stems, strict=True)):
                if stem == part or word == part:
                    return not self._negated(i)
                if word in (f"un{part}", f"non{part}", f"no{part}"):
                    return False
        yes = sum(w in YES for w in self._words)
        no = sum(w in NO for w in self._words)
        return None if yes == no else yes > no

    # -- numbers ------------------------------------------------------------------------------------
    def number(self, hint: str, schema: dict[str, Any], integer: bool) -> int | float | None:
        """A number of the text valid for ``schema``'s bounds (integral for an integer), None if none is."""

        def fits(value: float) -> bool:
            if integer and value != int(value):
                return False
            if "minimum" in schema and value < schema["minimum"]:
                return False
            if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
                return False
            if "maximum" in schema and value > schema["maximum"]:
                return False
            return not ("exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"])

        value = self._take_number(hint, fits)
        if value is None:
            value = self._rating(hint, schema, integer)
            if value is None or not fits(value):
                return None
        return int(value) if integer else value

    def _rating(self, hint: str, schema: dict[str, Any], integer: bool) -> float | None:
        """For a rating (``stars``, ``score``...) without a number in the text: the top when the words are
        positive, the bottom when negative, the middle when mixed or lukewarm. Without bounds, on 1 to 5."""
        lo, hi = schema.get("minimum", 1), schema.get("maximum", 5 if "minimum" not in schema else None)
        sign = self._polarity_sign()
        if sign is None and any(word in NEUTRAL for word in self._words):
            sign = 0
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo <= hi):
            return None
        if sign is None or not set(name_parts(hint)) & RATINGS:
            return None
        low, high = (math.ceil(lo), math.floor(hi)) if integer else (float(lo), float(hi))
        middle = (low + high) // 2 if integer else (low + high) / 2
        return float({1: high, -1: low}.get(sign, middle))

    def _take_number(self, hint: str, fits: Callable[[float], bool]) -> float | None:
        """The first unused number that ``fits``, preferring one the field's name (or an alias) stands next to:
        "4 stars", "rated 4", "4 out of 5 stars", "$12.50" for a price, "15%" for a percentage."""
        keys = set(name_parts(hint))
        for part in list(keys):
            keys.update(ALIASES.get(part, ()))
        money = bool(keys & MONEY)
        free: list[int] = []  # usable numbers, in text order
        named: set[int] = set()
        for k, (value, prefix, start, end) in enumerate(self._numbers):
            if (
                k in self._used_numbers
                or not fits(value)
                or self.text[max(0, start - 9) : start].lower().rstrip().endswith("out of")
            ):
                continue  # "out of 5" is a scale, not a value
            free.append(k)
            if (money and prefix in ("$", "€", "£")) or ("%" in keys and self.text[end : end + 1] == "%"):
                named.add(k)
        usable = set(free)
        for w, (word, stem) in enumerate(zip(self._words, self._stems, strict=True)):
            if word in keys or stem in keys:  # the nearest usable number within a few words of the name
                window = range(bisect_left(self._number_at, w - 3), bisect_left(self._number_at, w + 6))
                near = [(d, k) for k in window if k in usable and (d := self._distance(w, k)) is not None]
                if near:
                    named.add(min(near)[1])
        order = [k for k in free if k in named] or [k for k in free if self._numbers[k][1] != "#"]
        if not order:
            return None
        self._used_numbers.add(order[0])
        return self._numbers[order[0]][0]

    def _distance(self, word: int, number: int) -> int | None:
        """Words between word ``word`` and number ``number`` when they are in the same clause and at most three
        words apart (a number before its word wins a tie: "4 stars"), else None."""
        _, _, start, end = self._numbers[number]
        at = self._number_at[number]  # the number stands just before word ``at``
        if word >= at:
            gap, between = 2 * (word - at) + 1, self.text[end : self._word_starts[word]]
        else:
            gap, between = 2 * (at - 1 - word) + 2, self.text[self._word_ends[word] : start]
        return gap if gap <= 8 and not _CLAUSE_END.search(between) else None

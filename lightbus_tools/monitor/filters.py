"""The filter language of the monitor's ``/`` prompt (pure Python).

A filter is a list of space-separated terms, all of which must hold::

    status:error api:sales             failures of the sales API
    -status:ok name:order_*            everything not ok, for names starting order_
    listener:reserve_parts,audit       either listener
    "order 42" kettle                  free text: both words in the payload or the error

``key:value`` terms test one field of a record; a comma gives alternatives, ``*`` is a
wildcard (in ``api``, ``name``, ``service``, ``listener`` and ``step``), a leading ``-``
negates the term. ``trace:`` and ``id:`` match any part of the id, so the short forms
the screens show work. Anything else is free text, matched case-insensitively against
the payload and the error; quote it to search for a phrase or for text with a colon.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from lightbus_tools.monitor.source import KINDS, STATUSES, TraceRecord

# key -> what it tests, for the help screen and the error message
TERMS: dict[str, str] = {
    "api": "the API, e.g. api:sales or api:company.*",
    "name": "the event or RPC name",
    "kind": f"the kind of message: {', '.join(KINDS)}",
    "status": f"the status: {', '.join(STATUSES)}",
    "service": "the service that sent the message",
    "listener": "the listener that handled the event",
    "trace": "any part of the trace id",
    "id": "any part of the message id",
    "step": "the step, e.g. step:event.failed or step:rpc.*",
}
_CHOICES = {"kind": KINDS, "status": STATUSES}
_GLOBS = ("api", "name", "service", "listener", "step")

Test = Callable[[TraceRecord], bool]


class FilterError(ValueError):
    """The filter text does not parse; the message says what to write instead."""


@dataclass(frozen=True)
class Term:
    key: str
    values: tuple[str, ...]
    negated: bool = False

    def matches_value(self, value: str) -> bool:
        if self.key in ("trace", "id"):
            found = any(v in value for v in self.values)
        elif self.key in _GLOBS:
            found = any(fnmatch.fnmatchcase(value, v) for v in self.values)
        else:
            found = value in self.values
        return found != self.negated


@dataclass(frozen=True)
class Filter:
    """A parsed filter. The empty filter (``Filter()``) lets everything through."""

    text: str = ""
    terms: tuple[Term, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms and not self.words

    def matches(self, record: TraceRecord) -> bool:
        """Whether ``record`` passes every term and contains every word."""
        for term in self.terms:
            if not term.matches_value(_field(record, term.key)):
                return False
        if self.words:
            haystack = f"{record.payload}\n{record.error_type}: {record.error}".lower()
            return all(word in haystack for word in self.words)
        return True

    def allows(self, *, api: str, name: str, listener: str = "", service: str = "") -> bool:
        """Whether a place on the bus passes the terms that name places.

        Only ``api:``, ``name:``, ``listener:`` and ``service:`` terms apply, and only for
        the values given (a row with no listener is not judged by ``listener:``).
        """
        # Terms naming a place on the bus; the others (status, text...) describe records.
        values = {"api": api, "name": name, "listener": listener, "service": service}
        for term in self.terms:
            value = values.get(term.key)
            if value and not term.matches_value(value):
                return False
        return True


def parse_filter(text: str) -> Filter:
    """Parse the text typed at the ``/`` prompt.

    Raises:
        FilterError: an unknown ``key:``, a term without a value, an unknown kind or
            status, or an unclosed quote.
    """
    terms: list[Term] = []
    words: list[str] = []
    for token, quoted in _tokens(text):
        if quoted or ":" not in token:
            words.append(token.lower())
            continue
        negated = token.startswith("-")
        key, _, value = token.removeprefix("-").partition(":")
        key = key.lower()
        if key not in TERMS:
            known = ", ".join(f"{k}:" for k in TERMS)
            raise FilterError(
                f"unknown filter term {key + ':'!r}; the terms are {known}. To search the "
                f'payload for text with a colon, put it in quotes: "{token}"'
            )
        values = tuple(v.strip() for v in value.split(",") if v.strip())
        if not values:
            raise FilterError(f"{key}: needs a value, e.g. {_example(key)}")
        if key in _CHOICES:
            values = tuple(v.lower() for v in values)
            wrong = [v for v in values if v not in _CHOICES[key]]
            if wrong:
                raise FilterError(
                    f"{key}:{wrong[0]} is not a {key}; use one of {', '.join(_CHOICES[key])}"
                )
        if key in ("trace", "id"):
            values = tuple(v.lower().replace("-", "") for v in values)
        terms.append(Term(key, values, negated))
    return Filter(text=" ".join(text.split()), terms=tuple(terms), words=tuple(words))


def _field(record: TraceRecord, key: str) -> str:
    if key == "kind":
        return record.message_kind
    if key == "trace":
        return record.trace_id
    if key == "step":
        return record.record
    value: str = getattr(record, key)
    return value


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Words of ``text``; a double-quoted stretch is one word (flagged as quoted)."""
    tokens: list[tuple[str, bool]] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise FilterError(f'a quote is not closed: {rest}; add the closing "')
            if rest[1:end].strip():
                tokens.append((rest[1:end], True))
            rest = rest[end + 1 :].lstrip()
            continue
        word, _, rest = rest.partition(" ")
        if '"' in word:
            raise FilterError(f'a quote must start a word: {word}; write "{word.strip(chr(34))}"')
        tokens.append((word, False))
        rest = rest.lstrip()
    return tokens


def _example(key: str) -> str:
    examples = {
        "api": "api:sales",
        "name": "name:order_placed",
        "kind": "kind:event",
        "status": "status:error",
        "service": "service:warranty",
        "listener": "listener:reserve_parts",
        "trace": "trace:4bf92f35",
        "id": "id:0192f3c4",
        "step": "step:event.failed",
    }
    return examples[key]

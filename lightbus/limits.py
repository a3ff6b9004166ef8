"""The limits every message is held to, on the way out and on the way in.

- **Size**: the encoded message may be at most ``max_payload_bytes`` long.
- **Depth**: its payload (the arguments, or an RPC's result) may nest lists and objects
  at most ``max_payload_depth`` levels deep; ``{"order": {"lines": [...]}}`` is 3.
  Python's JSON decoders recurse once per level and fail near 1,000 levels with a
  ``RecursionError``, which is not a ``ValueError``: a limit well below that keeps every
  reader able to decode what it accepts, and refuses the rest with a clear reason.
- **Version**: a reader refuses an envelope of a newer protocol version ``v`` than it
  understands, rather than guess at its meaning.

:func:`encode` applies the first two to what this process sends (``fire``,
``fire_many``, ``call``, an RPC result), raising
:class:`~lightbus.errors.PayloadTooLarge` or :class:`~lightbus.errors.PayloadTooDeep`
before anything is sent. :func:`decode` applies all three to what arrives from another
producer, before decoding; the listener dead-letters what it refuses, the RPC server
answers with the error. The depth is measured on the JSON text without decoding it,
and costs two ``bytes.count`` calls for a message with fewer brackets than the limit.
"""

from __future__ import annotations

import re
from typing import cast

import msgspec

from lightbus.errors import PayloadTooDeep, PayloadTooLarge
from lightbus.message import FIELD, PROTOCOL_VERSION, Kind, Message
from lightbus.settings import Settings

MESSAGE_FIELD = FIELD.encode()

# A JSON string (brackets inside it are text), or one bracket.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_QUOTED = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_AS_PARENS = bytes.maketrans(b"[]{}", b"()()")
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')


class UnsupportedVersion(ValueError):
    """An envelope of a newer protocol version than this process understands."""


def nests_deeper(data: bytes, levels: int) -> bool:
    """True when the JSON text ``data`` nests lists and objects more than ``levels`` deep."""
    if data.count(b"[") + data.count(b"{") <= levels:
        return False  # not even that many brackets
    brackets = _structure(data).translate(_AS_PARENS)
    # Each pass removes the innermost pairs, so one level: after `levels` passes only
    # what nests deeper is left.
    for _ in range(levels):
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            # Unbalanced: not JSON. Refused as too deep if a decoder would recurse far.
            return len(brackets) > levels
        brackets = shorter
    return bool(brackets)


def beyond_recursion(api: str, name: str, settings: Settings) -> PayloadTooDeep:
    """The error for a payload that made an encoder or a validator raise RecursionError."""
    return PayloadTooDeep(
        api=api, name=name, limit=settings.max_payload_depth, detail="or holds itself"
    )


def _structure(data: bytes) -> bytes:
    """The brackets of the JSON text ``data`` that are not inside strings, in order."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)  # no escaped quote can end a string early now
    marks = data.translate(None, _NOT_STRUCTURE)  # quotes and brackets only
    # A string without brackets is now an empty pair of quotes. Removing adjacent pairs
    # keeps the parity of the quotes before each bracket: if none is left, no bracket
    # was inside a string (the usual case, at C speed).
    brackets = marks.replace(b'""', b"")
    if b'"' in brackets:
        brackets = _QUOTED.sub(b"", marks)
    return brackets


def encode(message: Message, settings: Settings) -> bytes:
    """The message's JSON; raises ``PayloadTooLarge``/``PayloadTooDeep`` over the limits."""
    try:
        data = message.to_json()
    except RecursionError:
        raise beyond_recursion(message.api, message.name, settings) from None
    if len(data) > settings.max_payload_bytes:
        raise PayloadTooLarge(
            api=message.api, name=message.name, size=len(data), limit=settings.max_payload_bytes
        )
    # The envelope is one level around the payload.
    if nests_deeper(data, settings.max_payload_depth + 1):
        raise PayloadTooDeep(api=message.api, name=message.name, limit=settings.max_payload_depth)
    return data


def decode(raw: bytes, settings: Settings, *, api: str = "", name: str = "") -> Message:
    """Read a message that arrived, within the limits.

    Raises:
        PayloadTooLarge, PayloadTooDeep: over ``max_payload_bytes`` or ``max_payload_depth``
            (``api``/``name`` name the event or RPC when the caller knows them).
        UnsupportedVersion: an envelope of a newer protocol version.
        ValueError: anything else that is not a message (msgspec's decode errors).
    """
    too_large = len(raw) > settings.max_payload_bytes
    if too_large or nests_deeper(raw, settings.max_payload_depth + 1):
        head = header(raw)
        api = api or (head.api if head else "") or "?"
        name = name or (head.name if head else "") or "?"
        if too_large:
            raise PayloadTooLarge(
                api=api, name=name, size=len(raw), limit=settings.max_payload_bytes
            )
        raise PayloadTooDeep(api=api, name=name, limit=settings.max_payload_depth)
    try:
        message = Message.from_json(raw)
    except ValueError:
        head = header(raw)
        if head is not None and head.v > PROTOCOL_VERSION:
            raise _newer(head.v) from None  # the likely reason it does not decode
        raise
    if message.v > PROTOCOL_VERSION:
        raise _newer(message.v)
    return message


def decode_fields(fields: dict[bytes, bytes], settings: Settings, api: str, name: str) -> Message:
    """:func:`decode` for a stream entry (see :meth:`Message.from_fields`)."""
    raw = fields.get(MESSAGE_FIELD)
    if raw is None:
        return Message.from_fields(fields)  # raises, saying which fields it has
    return decode(raw, settings, api=api, name=name)


def _newer(version: int) -> UnsupportedVersion:
    return UnsupportedVersion(
        f"the message is of protocol version {version}, newer than this process "
        f"understands (up to {PROTOCOL_VERSION}): upgrade lightbus here to read it"
    )


class _Head(msgspec.Struct):
    """What it takes to answer or name a message, without its payload."""

    v: int = PROTOCOL_VERSION
    id: str = ""
    kind: str = ""
    api: str = ""
    name: str = ""
    trace_id: str = ""
    span_id: str = ""
    causation_id: str = ""
    deadline: int = 0
    reply_to: str = ""


_decode_head = msgspec.json.Decoder(_Head).decode


def header(raw: bytes) -> Message | None:
    """The envelope of a message that does not decode, without its payload, if it has one.

    Lists and objects below the top level are replaced by ``null`` first, so a payload
    nested too deeply for any decoder still yields its envelope (who to answer, which
    call, which trace).
    """
    try:
        head = _decode_head(_shallow(raw))
    except Exception:
        return None
    kind = cast("Kind", head.kind if head.kind in ("event", "rpc", "result") else "rpc")
    return Message(
        v=head.v,
        id=head.id,
        kind=kind,
        api=head.api,
        name=head.name,
        trace_id=head.trace_id,
        span_id=head.span_id,
        causation_id=head.causation_id,
        deadline=head.deadline,
        reply_to=head.reply_to,
    )


def _shallow(data: bytes) -> bytes:
    """``data`` with every list or object below the top level replaced by ``null``."""
    kept: list[bytes] = []
    depth = 0
    start: int | None = 0  # where the text kept next begins; None while skipping
    for token in _TOKEN.finditer(data):
        char = data[token.start()]
        if char == _QUOTE:
            continue
        if char in _OPEN:
            depth += 1
            if depth == 2 and start is not None:
                kept.append(data[start : token.start()])
                start = None
        elif char in _CLOSE:
            if depth == 2:
                kept.append(b"null")
                start = token.end()
            depth -= 1
    if start is not None:
        kept.append(data[start:])
    return b"".join(kept)

"""Dead letters: events a listener gave up on, kept with the reason.

An entry of ``<prefix>:dead:<api>.<name>`` holds the original message as it arrived
(field ``m``, byte for byte) and a :class:`DeadLetter` describing why (field ``d``).
This module is the only code that knows those fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from lightbus.message import FIELD as MESSAGE_FIELD
from lightbus.message import Message

FIELD = "d"


class DeadLetter(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Why an event was dead-lettered, and where it came from."""

    api: str
    name: str
    listener: str
    group: str
    stream: str
    entry_id: str
    message_id: str = ""
    attempts: int = 0
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    ts: int = 0
    raw: bytes = b""
    stream_id: str = ""

    def to_fields(self) -> dict[str, bytes]:
        meta = msgspec.structs.replace(self, raw=b"", stream_id="")
        return {MESSAGE_FIELD: self.raw, FIELD: _encode(meta)}

    @classmethod
    def from_fields(cls, stream_id: str, fields: Mapping[bytes, bytes]) -> DeadLetter:
        raw_meta = fields.get(FIELD.encode())
        if raw_meta is None:
            raise ValueError(f"dead-letter entry {stream_id} has no {FIELD!r} field")
        letter = _decode(raw_meta)
        letter.raw = fields.get(MESSAGE_FIELD.encode(), b"")
        letter.stream_id = stream_id
        return letter

    def message(self) -> Message:
        """The original message. Raises ``ValueError`` when it never decoded."""
        try:
            return Message.from_json(self.raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            # RecursionError: nested too deeply to decode (dead-lettered for that reason).
            raise ValueError(
                f"dead letter {self.stream_id} holds no valid message: {exc}"
            ) from None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(DeadLetter).decode


async def read_dead_letters(
    redis: Any, keys: Any, api: str | None = None, name: str | None = None, count: int = 1000
) -> list[DeadLetter]:
    """Dead letters, oldest first, for one event or for every event."""
    if api and name:
        streams = [keys.dead_letters(api, name)]
    else:
        streams = sorted(
            [k async for k in redis.scan_iter(match=keys.dead_letter_pattern(), count=500)]
        )
    letters: list[DeadLetter] = []
    for stream in streams:
        for entry_id, fields in await redis.xrange(stream, count=count):
            sid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            try:
                letters.append(DeadLetter.from_fields(sid, fields))
            except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
                continue
    letters.sort(key=lambda letter: letter.ts)
    return letters

"""The original message of an event, by its id: the public module replay reads.

The trace stream keeps a capped, possibly redacted copy of each payload. The original,
whole and unredacted, is kept by Redis in two places: the event's stream (until the stream
is trimmed to ``event_stream_maxlen``) and, for an event a listener gave up on, its dead letters.
:func:`original` looks in both, in that order, and says plainly when the message is gone.

RPC calls are not kept once a worker takes them: for those only the trace stream's
record remains, and :func:`original` says so.

Example::

    from lightbus import messages

    found = await messages.original(bus, "0193...")
    print(found.where, found.message.kwargs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lightbus.busaccess import BusAccess, BusOrClient, access, entry_ms, text
from lightbus.deadletters import DeadLetter, _find
from lightbus.errors import LightbusError
from lightbus.ids import timestamp_ms
from lightbus.message import FIELD, Message

__all__ = ["SKEW_MS", "MessageNotFound", "Original", "original"]

SKEW_MS = 60_000
"""How far the sender's clock (in the message id) and Redis's clock (in the stream entry
id) may disagree: the stream is searched this far either side of the id's time."""

_PAGE = 500


@dataclass(frozen=True)
class Original:
    """An event message as it was fired.

    ``raw`` is the entry's bytes exactly as they were written; ``message`` decodes them.
    ``where`` is ``"stream"`` (the event's stream, ``entry_id`` its entry) or
    ``"dead_letters"`` (``dead_letter`` is the letter it was found in).
    """

    message: Message
    raw: bytes
    where: Literal["stream", "dead_letters"]
    entry_id: str = ""
    dead_letter: DeadLetter | None = None


class MessageNotFound(LightbusError, LookupError):
    """The original of a message is not kept (any more).

    Attributes:
        message_id: the id asked for.
        trimmed: ``True`` when the event's stream was trimmed past the message's time (it
            was there once; only the trace stream's record of it is left).
    """

    def __init__(self, message_id: str, text: str, trimmed: bool = False) -> None:
        super().__init__(text)
        self.message_id = message_id
        self.trimmed = trimmed

    def __reduce__(self) -> Any:
        return (type(self), (self.message_id, str(self), self.trimmed))


async def original(
    bus: BusOrClient, message_id: str, api: str | None = None, name: str | None = None
) -> Original:
    """The original of the event message ``message_id``: from the event's stream while
    the stream keeps it, else from the dead letters.

    Args:
        bus: a :class:`~lightbus.Bus` or its client.
        message_id: the message's full id (``Message.id``, 32 hex digits).
        api, name: the event, when known; otherwise the trace stream is asked which event
            it is, and failing that every event stream is searched near the id's time.

    Raises:
        ValueError: ``message_id`` is not a Lightbus message id, or only one of ``api``
            and ``name`` is given.
        MessageNotFound: no stream nor dead letter holds it (``trimmed`` tells whether
            the stream was trimmed past it), or it is an RPC call.
        BusConnectionError: Redis cannot be reached.
    """
    message_id = message_id.replace("-", "").lower()
    sent_ms = timestamp_ms(message_id)
    if (api is None) != (name is None):
        raise ValueError("give both api and name (one event), or neither")
    conn = access(bus)
    return await conn.guard(_original(bus, conn, message_id, sent_ms, api, name))


async def _original(
    bus: Any, conn: BusAccess, message_id: str, sent_ms: int, api: str | None, name: str | None
) -> Original:
    if api is None or name is None:
        api, name = await _event_of(bus, message_id)
    if api is not None and name is not None:
        events = [(api, name)]
    else:
        from lightbus.groups import _event_streams

        events = await _event_streams(conn, None, None)
    for event in events:
        found = await _in_stream(conn, conn.keys.event_stream(*event), message_id, sent_ms)
        if found is not None:
            return found
    for letter in await _find(conn, message_id, api, name):
        try:
            message = letter.message()
        except ValueError:
            continue  # dead-lettered because it did not decode: nothing to give back
        return Original(message=message, raw=letter.raw, where="dead_letters", dead_letter=letter)
    trimmed = [e for e in events if await _starts_after(conn, e, sent_ms)]
    if trimmed:
        where = ", ".join(f"{a}.{n}" for a, n in trimmed)
        raise MessageNotFound(
            message_id,
            f"Message {message_id} was trimmed away: the stream of {where} now starts after "
            f"it was sent (event_stream_maxlen), and no dead letter holds it. Only its trace "
            f"record is left (`lightbus inspect --message {message_id}`).",
            trimmed=True,
        )
    what = f"the stream of {api}.{name}" if api and name else "any event stream"
    raise MessageNotFound(
        message_id,
        f"No event message {message_id} in {what} or in the dead letters. Check the id "
        f"(`lightbus inspect --message`), and the api and name if given.",
    )


async def _event_of(bus: Any, message_id: str) -> tuple[str | None, str | None]:
    """The event a message belongs to, from the trace stream (``None``: not recorded)."""
    from lightbus.tracereader import find

    record = await find(bus, message_id)
    if record is None:
        return None, None
    if record.kind == "rpc":
        raise MessageNotFound(
            message_id,
            f"Message {message_id} is an RPC call ({record.api}.{record.name}): calls are not "
            f"kept once a worker takes them; only the trace record of it is left.",
        )
    return record.api, record.name


async def _in_stream(
    conn: BusAccess, stream: str, message_id: str, sent_ms: int
) -> Original | None:
    needle = f'"id":"{message_id}"'.encode()
    key = FIELD.encode()
    low, high = str(max(0, sent_ms - SKEW_MS)), str(sent_ms + SKEW_MS)
    while True:
        entries = await conn.redis.xrange(stream, low, high, count=_PAGE)
        for entry_id, fields in entries:
            raw = fields.get(key, b"")
            if needle not in raw:
                continue
            try:
                message = Message.from_json(raw)
            except ValueError:
                continue
            if message.id == message_id:
                return Original(message=message, raw=raw, where="stream", entry_id=text(entry_id))
        if len(entries) < _PAGE:
            return None
        low = "(" + text(entries[-1][0])


async def _starts_after(conn: BusAccess, event: tuple[str, str], sent_ms: int) -> bool:
    """Whether the event's stream was trimmed past ``sent_ms``: its first entry is newer,
    or (all of it trimmed) it was last written after then."""
    from redis.exceptions import ResponseError

    try:
        info = await conn.redis.xinfo_stream(conn.keys.event_stream(*event))
    except ResponseError:  # no stream: never fired nor listened to
        return False
    first = info.get("first-entry")
    if first:
        return entry_ms(first[0]) > sent_ms
    return entry_ms(info.get("last-generated-id") or "0-0") > sent_ms

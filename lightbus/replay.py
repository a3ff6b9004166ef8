"""Replay: send a recorded message again, with a new id, linked to the one it replays.

The public module behind ``lightbus replay``, ``lightbus deadletters replay`` and the
monitor's replay action. Three steps, each usable alone:

- :func:`original`: the recorded message behind any id form the tools print (whole id,
  unique prefix or suffix). An event's payload is read whole and unredacted from its
  stream while the stream keeps it, else from the dead letters
  (:func:`lightbus.messages.original`); an RPC call is not kept once taken, so its
  payload is the trace's record of it (possibly truncated or redacted).
- :func:`plan`: what will be sent and to whom, checked against the current schema.
  Every refusal is a :class:`ReplayRefused` raised here, before anything is sent.
- :func:`send`: sends it. The replay is a new message in the original's trace, a child
  of the original (``parent_span_id``, ``causation_id``), with ``replay_of`` set to the
  original's id and, for one listener, ``to`` set to that listener's consumer group
  (the other groups acknowledge it without running their handler). A
  ``replay.performed`` trace record says who replayed what, when, to which listener and
  why.

Ranges and dead-letter redrive (:mod:`lightbus.redrive`) go through the same steps.

Example::

    from lightbus import replay

    found = await replay.original(bus, "0193ab")
    chosen = await replay.plan(bus, found, listener="billing.charge", reason="bug 12 fixed")
    sent = await replay.send(bus, chosen)
    print(sent.message_id)
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from typing import Any

from lightbus import ids
from lightbus.busaccess import BusOrClient
from lightbus.deadletter import DeadLetter
from lightbus.errors import LightbusError
from lightbus.message import HOST, Message, now_ms
from lightbus.trace import REPLAY_PERFORMED, RPC_CALLED, RPC_RETURNED, TraceRecord

__all__ = ["Plan", "Recorded", "ReplayRefused", "Sent", "original", "plan", "send"]


class ReplayRefused(LightbusError):
    """A replay that cannot be sent as asked; nothing was sent. The message says why and
    what to do (``--edit`` to supply a payload, ``--listener`` to pick a listener...).

    Attributes:
        message_id: the original's id (empty when the id itself was not found).
        reason: a short word for the refusal: ``unknown``, ``incomplete``, ``invalid``,
            ``listener``, ``not_served``.
    """

    def __init__(self, text: str, *, message_id: str = "", reason: str = "") -> None:
        super().__init__(text)
        self.message_id = message_id
        self.reason = reason


@dataclass(frozen=True)
class Recorded:
    """A recorded message as replay finds it.

    ``where`` is ``stream`` or ``dead_letters`` (an event's whole payload) or ``trace``
    (an RPC call's record). ``incomplete`` is ``""``, ``"truncated"`` or ``"redacted"``:
    the payload is not the whole original and cannot be replayed as it is. ``result`` is
    an RPC's recorded result (``result_recorded`` says whether there is one).
    """

    message: Message
    where: str
    incomplete: str = ""
    dead_letter: DeadLetter | None = None
    result: Any = None
    result_recorded: bool = False
    error: str = ""

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def kind(self) -> str:
        return self.message.kind


@dataclass(frozen=True)
class Plan:
    """What :func:`send` will send: ``kwargs`` to ``targets`` (consumer groups of an
    event, or the RPC queue of a call); ``to`` is the one group (empty: every listener)."""

    original: Recorded
    kwargs: dict[str, Any]
    targets: tuple[str, ...]
    to: str = ""
    edited: bool = False
    reason: str = ""

    @property
    def kind(self) -> str:
        return self.original.kind

    @property
    def full_name(self) -> str:
        return self.original.message.full_name

    def envelope(self) -> dict[str, Any]:
        """The envelope fields the replay will carry (its new id is made when sent)."""
        sent = self.original.message
        fields = {
            "kind": sent.kind,
            "api": sent.api,
            "name": sent.name,
            "trace_id": sent.trace_id,
            "parent_span_id": sent.span_id,
            "causation_id": sent.id,
            "replay_of": sent.id,
        }
        if self.to:
            fields["to"] = self.to
        return fields

    def to_dict(self) -> dict[str, Any]:
        return {
            "envelope": self.envelope(),
            "kwargs": self.kwargs,
            "targets": list(self.targets),
            "edited": self.edited,
            "reason": self.reason,
            "source": self.original.where,
        }


@dataclass
class Sent:
    """A replay that was sent: its new ``message`` (``message_id``) and, for an RPC, the
    ``result`` or the ``error`` it returned."""

    plan: Plan
    message: Message
    result: Any = None
    error: Exception | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        return self.message.id


async def original(bus: BusOrClient, message_id: str) -> Recorded:
    """The recorded message ``message_id`` names (whole id, or a unique prefix or suffix).

    Raises:
        ReplayRefused: no such message (``reason="unknown"``), or an event whose original
            is no longer kept (trimmed from its stream, not in the dead letters).
        AmbiguousId: a shortened id several messages match.
    """
    from lightbus.errors import UnknownId
    from lightbus.messages import MessageNotFound
    from lightbus.messages import original as event_original
    from lightbus.tracereader import TraceReader

    reader = TraceReader(_any(bus))
    try:
        found = await reader.resolve(message_id, kinds=("message",))
    except (UnknownId, ValueError) as exc:
        raise ReplayRefused(
            f"Nothing to replay: {exc}", message_id=message_id, reason="unknown"
        ) from None
    first = found.record
    if first is not None and first.kind == "rpc":
        return await _rpc_original(reader, found.id)
    api, name = (first.api, first.name) if first is not None else (None, None)
    try:
        kept = await event_original(bus, found.id, api, name)
    except MessageNotFound as exc:
        raise ReplayRefused(str(exc), message_id=found.id, reason="unknown") from None
    return Recorded(message=kept.message, where=kept.where, dead_letter=kept.dead_letter)


async def _rpc_original(reader: Any, message_id: str) -> Recorded:
    records: list[TraceRecord] = await reader.records_of(message_id)
    called = next((r for r in records if r.record == RPC_CALLED), None)
    if called is None:
        raise ReplayRefused(
            f"No rpc.called record of {message_id} in the trace stream: nothing to replay.",
            message_id=message_id,
            reason="unknown",
        )
    incomplete = "truncated" if called.truncated else "redacted" if called.redacted else ""
    try:
        kwargs = json.loads(called.payload) if called.payload else {}
    except ValueError:
        kwargs, incomplete = {}, incomplete or "truncated"
    message = Message(
        id=called.id,
        kind="rpc",
        api=called.api,
        name=called.name,
        trace_id=called.trace_id,
        span_id=called.span_id,
        sent_at=called.sent_at,
        kwargs=kwargs if isinstance(kwargs, dict) else {},
    )
    returned = next((r for r in records if r.record == RPC_RETURNED), None)
    result: Any = None
    if returned is not None and returned.payload and not returned.truncated:
        try:
            result = json.loads(returned.payload)
        except ValueError:
            returned = None
    return Recorded(
        message=message,
        where="trace",
        incomplete=incomplete,
        result=result,
        result_recorded=returned is not None and returned.status == "ok",
        error=returned.error if returned is not None else "",
    )


async def plan(
    bus: BusOrClient,
    recorded: Recorded,
    *,
    listener: str | None = None,
    kwargs: dict[str, Any] | None = None,
    reason: str = "",
) -> Plan:
    """What replaying ``recorded`` will send, and to whom, checked before anything is sent.

    Args:
        listener: for an event, one listener: its consumer group (``service.listener``)
            or its listener name when one group has it. ``None``: every listener.
        kwargs: an edited payload to send instead of the recorded one (marked edited).
        reason: why, for the ``replay.performed`` record.

    Raises:
        ReplayRefused: the payload is truncated or redacted and no ``kwargs`` supply it;
            the payload does not validate against the current schema; the listener does
            not exist; no live worker serves the RPC.
    """
    from lightbus import groups, workers

    client: Any = getattr(bus, "client", bus)
    message = recorded.message
    if kwargs is None and recorded.incomplete:
        raise ReplayRefused(
            f"The recorded payload of {message.full_name} {message.id} is "
            f"{recorded.incomplete} in the trace stream, so it cannot be replayed as it is. "
            f"Supply the whole payload with --edit (replay.plan(kwargs=...)).",
            message_id=message.id,
            reason="incomplete",
        )
    payload = dict(message.kwargs if kwargs is None else kwargs)
    await _validate(client, message, payload)
    if message.kind == "rpc":
        if listener:
            raise ReplayRefused(
                f"{message.full_name} is an RPC: it is served by one worker, not listeners. "
                f"Replay it without --listener.",
                message_id=message.id,
                reason="listener",
            )
        serving = [w for w in await workers.list_workers(bus) if message.api in w.apis]
        if not serving:
            raise ReplayRefused(
                f"No live worker serves {message.api}, so the replay of {message.full_name} "
                f"would wait for nothing. Start one (`lightbus run`) and replay again.",
                message_id=message.id,
                reason="not_served",
            )
        targets: tuple[str, ...] = (client.keys.rpc_queue(message.api),)
        to = ""
    else:
        known = await groups.group_names(bus, message.api, message.name)
        to = _listener_group(message, listener, known) if listener else ""
        targets = (to,) if to else tuple(known)
    return Plan(recorded, payload, targets, to, edited=kwargs is not None, reason=reason)


def _listener_group(message: Message, listener: str, known: list[str]) -> str:
    if listener in known:
        return listener
    by_name = [g for g in known if g.rpartition(".")[2] == listener]
    if len(by_name) == 1:
        return by_name[0]
    listed = ", ".join(known) or "none"
    why = "several groups have it" if by_name else "no such listener"
    raise ReplayRefused(
        f"Listener {listener!r} of {message.full_name}: {why}. Its listeners (consumer "
        f"groups): {listed}. Name one of them with --listener.",
        message_id=message.id,
        reason="listener",
    )


async def _validate(client: Any, message: Message, payload: dict[str, Any]) -> None:
    from lightbus.errors import InvalidArguments, UnknownApi, UnknownName

    kind = "rpc" if message.kind == "rpc" else "event"
    try:
        rule = await client.validator.rule(message.api, message.name, kind)
        rule.send(payload, side="firer" if kind == "event" else "caller")
    except (InvalidArguments, UnknownApi, UnknownName) as exc:
        raise ReplayRefused(
            f"The payload of {message.full_name} {message.id} does not validate against the "
            f"current schema: {exc}. Fix it with --edit (replay.plan(kwargs=...)).",
            message_id=message.id,
            reason="invalid",
        ) from None


async def send(
    bus: BusOrClient, chosen: Plan, *, timeout: float | None = None, message_id: str = ""
) -> Sent:
    """Send the replay ``chosen`` describes and write its ``replay.performed`` record.

    For an RPC, waits for the result (``timeout``: the call's); its error is kept in
    :attr:`Sent.error`, not raised. ``message_id``: the new id, when the caller made it
    (:func:`lightbus.ids.message_id`), e.g. to record it before sending.
    """
    client: Any = getattr(bus, "client", bus)
    recorded = chosen.original
    new_id = message_id or ids.message_id()
    options = {"parent": recorded.message, "replay_of": recorded.id, "message_id": new_id}
    api, name = recorded.message.api, recorded.message.name
    await client.write_records([_performed(client, chosen, new_id)])
    if recorded.kind == "rpc":
        stub = Message(id=new_id, kind="rpc", api=api, name=name, trace_id="", span_id="")
        sent = Sent(chosen, stub)
        try:
            sent.result = await client.call(api, name, chosen.kwargs, timeout=timeout, **options)
        except LightbusError as exc:
            sent.error = exc
        return sent
    message = await client.fire(api, name, chosen.kwargs, to=chosen.to, **options)
    return Sent(chosen, message)


def _performed(client: Any, chosen: Plan, new_id: str) -> TraceRecord:
    sent = chosen.original.message
    record = TraceRecord(record=REPLAY_PERFORMED, ts=now_ms())
    record.id = new_id
    record.kind = sent.kind
    record.status = "ok"
    record.api, record.name = sent.api, sent.name
    record.trace_id = sent.trace_id
    record.parent_span_id = sent.span_id
    record.causation_id = sent.id
    record.replay_of = sent.id
    record.to = chosen.to
    record.listener = chosen.to
    record.service = client.settings.service_name
    record.process = client.settings.process_name
    record.host = HOST
    record.pid = os.getpid()
    record.detail = {
        "by": f"{_user()}@{HOST}",
        "reason": chosen.reason,
        "edited": chosen.edited,
        "source": chosen.original.where,
        "targets": list(chosen.targets),
    }
    return record


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return str(os.getuid())


def _any(bus: BusOrClient) -> Any:
    """``bus`` for the reader, which names the concrete classes (this module cannot)."""
    return bus

"""The message envelope: the one place that knows the wire format of a message.

Every event, RPC call and RPC result is a :class:`Message`: a flat JSON object (see
``docs/reference/wire-protocol.md``). On a Redis stream or list it is stored as one
field, ``m``, holding that JSON; :meth:`Message.to_fields` and :meth:`Message.from_fields`
are the only code that knows this.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Literal

import msgspec

from lightbus.errors import NotSerializable

PROTOCOL_VERSION = 1
FIELD = "m"
HOST = socket.gethostname().split(".")[0]

Kind = Literal["event", "rpc", "result"]


class ErrorInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """An exception raised by a remote handler, as carried by a result message."""

    type: str
    message: str = ""
    traceback: str = ""
    detail: dict[str, str] | None = None  # structured context, e.g. a validation error's field


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One event, RPC call or RPC result, with its trace metadata.

    Handlers receive the event message as their first argument; ``fire`` returns it.
    ``attempt`` is not on the wire: the consumer sets it from the delivery count.
    """

    v: int = PROTOCOL_VERSION
    id: str
    kind: Kind
    api: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str = ""
    causation_id: str = ""
    service: str = ""
    process: str = ""
    host: str = ""  # the sender's; a default of this machine's name would be omitted on
    # the wire and read back as the *receiver's* name
    pid: int = 0
    sent_at: int = 0
    deadline: int = 0
    reply_to: str = ""
    replay_of: str = ""
    to: str = ""  # a replay for one listener: only this consumer group runs it
    schema: str = ""
    kwargs: dict[str, Any] = {}
    result: Any = None
    error: ErrorInfo | None = None
    attempt: int = 1

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` header for this message's span."""
        return f"00-{self.trace_id}-{self.span_id}-01"

    @property
    def full_name(self) -> str:
        return f"{self.api}.{self.name}"

    def to_json(self) -> bytes:
        try:
            return _encoder.encode(self)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _not_serializable(self, exc) from None

    def to_fields(self) -> dict[str, bytes]:
        """The fields of the Redis stream entry that carries this message."""
        return {FIELD: self.to_json()}

    @classmethod
    def from_json(cls, data: bytes | str) -> Message:
        """Decode a message. Raises :class:`msgspec.DecodeError` or ``ValidationError``."""
        return _decoder.decode(data)

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Message:
        """Decode a Redis stream entry; raises ``ValueError`` if it is not a message."""
        raw = fields.get(FIELD.encode())
        if raw is None:
            names = sorted(k.decode(errors="replace") for k in fields)
            raise ValueError(f"stream entry has no {FIELD!r} field (fields: {names})")
        return cls.from_json(raw)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Message)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _not_serializable(message: Message, exc: Exception) -> NotSerializable:
    values = message.kwargs if message.kind != "result" else {"<result>": message.result}
    for field, value in values.items():
        try:
            _encoder.encode(value)
        except (TypeError, ValueError, OverflowError):
            return NotSerializable(
                f"{message.api}.{message.name}: argument {field!r} of type "
                f"{type(value).__name__} cannot be sent as JSON ({exc}). Pass a str, number, "
                f"bool, None, list or dict, or a type with a JSON form (datetime, UUID, "
                f"Decimal, dataclass).",
                api=message.api,
                name=message.name,
                field=field,
            )
    return NotSerializable(
        f"{message.api}.{message.name} cannot be sent as JSON: {exc}",
        api=message.api,
        name=message.name,
    )


# The envelope without its payload, as documented for other programs (AsyncAPI).
_PAYLOAD_FIELDS = frozenset({"kwargs", "result", "error", "attempt"})
REPLY_FIELD = "reply_to"


def envelope_schema() -> dict[str, Any]:
    """JSON Schema of the envelope fields every message carries beside its payload."""
    return _struct_schema(Message, skip=_PAYLOAD_FIELDS)


def error_schema() -> dict[str, Any]:
    """JSON Schema of a result's ``error``: what the remote handler raised."""
    return _struct_schema(ErrorInfo, skip=frozenset())


def _struct_schema(struct: type[msgspec.Struct], skip: frozenset[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in msgspec.structs.fields(struct):
        if field.encode_name in skip:
            continue
        properties[field.encode_name] = msgspec.json.schema(field.type)
        if field.required:
            required.append(field.encode_name)
    return {"type": "object", "properties": properties, "required": required}


def body_schema(
    kind: Kind,
    api: str,
    name: str,
    *,
    envelope: dict[str, Any],
    kwargs: dict[str, Any] | None = None,
    kwargs_required: bool = False,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """JSON Schema of one whole message of ``kind`` for ``api.name``, as it is on the wire.

    Args:
        envelope: the schema of the envelope fields (or a reference to it).
        kwargs: of an event or a call, the schema of its arguments; ``kwargs_required``
            when some argument is required (an empty ``kwargs`` is left out).
        result, error: of a result, the schemas of the return value (left out when it is
            null) and of the error (:func:`error_schema` if not given). A result holds
            one or the other.
    """
    own: dict[str, Any] = {"kind": {"const": kind}, "api": {"const": api}, "name": {"const": name}}
    payload: dict[str, Any] = {"type": "object", "properties": own}
    if kind == "result":
        payload["required"] = ["causation_id"]  # the call's id
        payload["oneOf"] = [
            {"properties": {"result": result or {}}, "not": {"required": ["error"]}},
            {
                "properties": {"error": error or error_schema()},
                "required": ["error"],
                "not": {"required": ["result"]},
            },
        ]
    else:
        own["kwargs"] = kwargs or {"type": "object"}
        required = ["kwargs"] if kwargs_required else []
        if kind == "rpc":
            required += ["deadline", REPLY_FIELD]
        if required:
            payload["required"] = required
    return {"allOf": [envelope, payload]}

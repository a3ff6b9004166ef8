"""Rendering API schemas as an AsyncAPI 3.0 document (``lightbus dumpschema --format asyncapi``).

The document describes the wire as it is (docs/reference/wire-protocol.md): every
message is one JSON object, the envelope (ids, trace, sender, deadline...) with the
payload nested inside it. There are no headers.

- Each event is a channel whose address is its Redis stream, with one message and two
  operations: ``<api>.<event>.fire`` (send) and ``<api>.<event>.listen`` (receive). A
  stream entry holds the message's JSON in its field ``m``; the payload schema is that
  JSON: the envelope with the event's arguments in ``kwargs``.
- Each API's RPC queue is a channel (its Redis list) holding one call message per RPC:
  a list item is the call's JSON, the envelope with the arguments in ``kwargs``. Each
  RPC is a send operation whose ``reply`` goes to the shared ``lightbus.reply`` channel
  (address null: each caller has its own reply list, named by the call's ``reply_to``).
  The reply is a ``result`` message holding ``result`` (the return value) or ``error``
  (what the handler raised); its ``causation_id`` is the call's id.
- Channels carry ``x-lightbus-redis``: the Redis type of the key and, for a stream, the
  entry field that holds the message.

Named types (``$defs`` of each schema) move to ``components.schemas`` as ``<api>.<Name>``,
with their references rewritten.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from lightbus.schema import (
    ENTRY_FIELD,
    channel_address,
    envelope,
    error_info,
    message_body,
    schema_hash,
)

ENVELOPE = "lightbus.envelope"
ERROR = "lightbus.error"
REPLY_CHANNEL = "lightbus.reply"
ENVELOPE_NOTE = (
    "The fields every Lightbus message carries beside its payload. Fields at their default "
    "(empty string, 0, null) are left out of the JSON; `v` is left out when it is 1."
)


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {
            ENVELOPE: {**envelope()[0], "description": ENVELOPE_NOTE},
            ERROR: {**error_info(), "description": "What the remote handler raised."},
        }
        self.messages: dict[str, Any] = {}

    def schema(self, api: str, key: str, schema: dict[str, Any]) -> dict[str, str]:
        """Store ``schema`` (with its $defs moved out) under ``key``; return a reference."""
        schema = copy.deepcopy(schema)
        defs = schema.pop("$defs", {})
        renames = {name: self._def_key(api, name, value) for name, value in defs.items()}
        for name, value in defs.items():
            self.schemas[renames[name]] = _rewrite(value, renames)
        self.schemas[key] = _rewrite(schema, renames)
        return {"$ref": f"#/components/schemas/{key}"}

    def _def_key(self, api: str, name: str, value: Any) -> str:
        key = f"{api}.{name}"
        existing = self.schemas.get(key)
        if existing is not None and existing != _rewrite(value, {}):
            # Two different types share a name within one API: keep both.
            key = f"{key}.{schema_hash({'v': value})}"
        return key

    def message(self, key: str, body: dict[str, Any]) -> dict[str, str]:
        self.messages[key] = body
        return {"$ref": f"#/components/messages/{key}"}


def _rewrite(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewrite(v, renames) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            out["$ref"] = f"#/components/schemas/{renames.get(name, name)}"
        return out
    if isinstance(value, list):
        return [_rewrite(v, renames) for v in value]
    return value


def _ref(where: str, key: str) -> dict[str, str]:
    return {"$ref": f"#/components/{where}/{key}"}


def render(
    schemas: dict[str, dict[str, Any]], *, prefix: str = "lightbus", title: str = "Lightbus APIs"
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for ``schemas`` (``{api: api_schema}``)."""
    reply_field = envelope()[1]
    parts = _Components()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    reply_messages: dict[str, Any] = {}
    for api, schema in sorted(schemas.items()):
        for event, entry in sorted(schema.get("events", {}).items()):
            full = f"{api}.{event}"
            address = channel_address(prefix, api, event)
            ref = parts.message(
                full,
                {
                    "name": full,
                    "title": f"Event {full}",
                    "contentType": "application/json",
                    "description": (
                        f"An entry of the stream `{address}`: its field `{ENTRY_FIELD}` holds "
                        f"this JSON object, the envelope with the event's arguments in `kwargs`."
                    ),
                    "payload": _body(parts, "event", api, event, entry),
                },
            )
            channels[full] = {
                "address": address,
                "title": f"{full} (Redis stream)",
                "messages": {full: ref},
                "x-lightbus-redis": {"type": "stream", "entry_field": ENTRY_FIELD},
            }
            message = {"$ref": f"#/channels/{full}/messages/{full}"}
            channel = {"$ref": f"#/channels/{full}"}
            operations[f"{full}.fire"] = {
                "action": "send",
                "channel": channel,
                "messages": [message],
                "summary": f"Fire {full}",
            }
            operations[f"{full}.listen"] = {
                "action": "receive",
                "channel": channel,
                "messages": [message],
                "summary": f"Listen to {full} (one consumer group per listener)",
            }
        rpcs = sorted(schema.get("rpcs", {}).items())
        if not rpcs:
            continue
        queue = f"{api}.rpc"
        address = channel_address(prefix, api)
        calls: dict[str, Any] = {}
        for rpc, entry in rpcs:
            full = f"{api}.{rpc}"
            calls[f"{full}.call"] = parts.message(
                f"{full}.call",
                {
                    "name": f"{full}.call",
                    "title": f"Call {full}",
                    "contentType": "application/json",
                    "description": (
                        f"An item of the list `{address}` (the caller pushes it, a worker "
                        f"pops it): this JSON object, the envelope with the call's arguments "
                        f"in `kwargs`. The result goes to the list named by `{reply_field}`."
                    ),
                    "correlationId": {"location": "$message.payload#/id"},
                    "payload": _body(parts, "rpc", api, rpc, entry),
                },
            )
            response = parts.schema(api, f"{full}.response", entry.get("response", {}))
            reply_messages[f"{full}.result"] = parts.message(
                f"{full}.result",
                {
                    "name": f"{full}.result",
                    "title": f"Result of {full}",
                    "contentType": "application/json",
                    "description": (
                        "An item of the caller's reply list: this JSON object, the envelope "
                        "with `result` (the return value; left out when null) or `error` "
                        "(what the handler raised). `causation_id` is the call's id."
                    ),
                    "correlationId": {"location": "$message.payload#/causation_id"},
                    "payload": message_body(
                        "result",
                        api,
                        rpc,
                        envelope=_ref("schemas", ENVELOPE),
                        result=response,
                        error=_ref("schemas", ERROR),
                    ),
                },
            )
            operations[full] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{queue}"},
                "messages": [{"$ref": f"#/channels/{queue}/messages/{full}.call"}],
                "summary": f"Call {full}",
                "reply": {
                    "address": {"location": f"$message.payload#/{reply_field}"},
                    "channel": {"$ref": f"#/channels/{REPLY_CHANNEL}"},
                    "messages": [{"$ref": f"#/channels/{REPLY_CHANNEL}/messages/{full}.result"}],
                },
            }
        channels[queue] = {
            "address": address,
            "title": f"RPC calls to {api} (Redis list)",
            "messages": calls,
            "x-lightbus-redis": {"type": "list"},
        }
    if reply_messages:
        channels[REPLY_CHANNEL] = {
            "address": None,
            "title": "RPC results (each caller's own Redis list, named by reply_to)",
            "messages": reply_messages,
            "x-lightbus-redis": {"type": "list"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": schema_hash(schemas),
            "description": (
                "Generated by `lightbus dumpschema --format asyncapi`. Every message is one "
                "JSON object: the envelope, with the payload inside it (`kwargs` for events "
                "and calls, `result` or `error` for results). An event stream entry holds it "
                f"in its field `{ENTRY_FIELD}`; an RPC list item is the JSON itself."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": parts.schemas, "messages": parts.messages},
    }


def _body(
    parts: _Components, kind: Literal["event", "rpc"], api: str, name: str, entry: dict[str, Any]
) -> dict[str, Any]:
    """The payload schema of an event or a call: the envelope with ``kwargs``."""
    parameters = entry["parameters"]
    return message_body(
        kind,
        api,
        name,
        envelope=_ref("schemas", ENVELOPE),
        kwargs=parts.schema(api, f"{api}.{name}.parameters", parameters),
        kwargs_required=bool(parameters.get("required")),
    )

"""Rendering API schemas as an AsyncAPI 3.0 document (``lightbus dumpschema --format asyncapi``).

The mapping:

- each event is a channel whose address is its Redis stream, with one message (the
  event) and two operations: ``<api>.<event>.fire`` (send) and ``<api>.<event>.listen``
  (receive);
- each API's RPC queue is a channel (its Redis list) holding one call message per RPC;
  each RPC is a send operation on it whose ``reply`` goes to the shared ``lightbus.reply``
  channel (address null: each caller has its own reply list, named by the call's
  ``reply_to`` header);
- message payloads are the parameter and response schemas; the envelope (trace ids,
  sender, deadline...) is the messages' headers. On the wire, envelope and payload are
  one JSON object (see docs/reference/wire-protocol.md).

Named types (``$defs`` of each schema) move to ``components.schemas`` as ``<api>.<Name>``,
with their references rewritten.
"""

from __future__ import annotations

import copy
from typing import Any

from lightbus.schema import channel_address, envelope, schema_hash

ENVELOPE = "lightbus.envelope"
REPLY_CHANNEL = "lightbus.reply"


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {ENVELOPE: envelope()[0]}
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


def render(
    schemas: dict[str, dict[str, Any]], *, prefix: str = "lightbus", title: str = "Lightbus APIs"
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for ``schemas`` (``{api: api_schema}``)."""
    reply_field = envelope()[1]
    parts = _Components()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    reply_messages: dict[str, Any] = {}
    headers = {"$ref": f"#/components/schemas/{ENVELOPE}"}
    for api, schema in sorted(schemas.items()):
        for event, entry in sorted(schema.get("events", {}).items()):
            full = f"{api}.{event}"
            payload = parts.schema(api, f"{full}.parameters", entry["parameters"])
            ref = parts.message(
                full,
                {
                    "name": full,
                    "title": f"Event {full}",
                    "contentType": "application/json",
                    "headers": headers,
                    "payload": payload,
                },
            )
            channels[full] = {
                "address": channel_address(prefix, api, event),
                "title": f"{full} (Redis stream)",
                "messages": {full: ref},
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
        calls: dict[str, Any] = {}
        for rpc, entry in rpcs:
            full = f"{api}.{rpc}"
            calls[f"{full}.call"] = parts.message(
                f"{full}.call",
                {
                    "name": f"{full}.call",
                    "title": f"Call {full}",
                    "contentType": "application/json",
                    "headers": headers,
                    "payload": parts.schema(api, f"{full}.parameters", entry["parameters"]),
                },
            )
            reply_messages[f"{full}.result"] = parts.message(
                f"{full}.result",
                {
                    "name": f"{full}.result",
                    "title": f"Result of {full}",
                    "contentType": "application/json",
                    "headers": headers,
                    "payload": parts.schema(api, f"{full}.response", entry.get("response", {})),
                },
            )
            operations[full] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{queue}"},
                "messages": [{"$ref": f"#/channels/{queue}/messages/{full}.call"}],
                "summary": f"Call {full}",
                "reply": {
                    "address": {"location": f"$message.header#/{reply_field}"},
                    "channel": {"$ref": f"#/channels/{REPLY_CHANNEL}"},
                    "messages": [{"$ref": f"#/channels/{REPLY_CHANNEL}/messages/{full}.result"}],
                },
            }
        channels[queue] = {
            "address": channel_address(prefix, api),
            "title": f"RPC calls to {api} (Redis list)",
            "messages": calls,
        }
    if reply_messages:
        channels[REPLY_CHANNEL] = {
            "address": None,
            "title": "RPC results (each caller's own Redis list, named by reply_to)",
            "messages": reply_messages,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": schema_hash(schemas),
            "description": "Generated by `lightbus dumpschema --format asyncapi`.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": parts.schemas, "messages": parts.messages},
    }

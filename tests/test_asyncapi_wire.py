"""The AsyncAPI document describes the wire: real messages taken from Redis validate.

The typed company bus (tests/data/typed_company: one module with typed APIs) sends real events
and calls; a real `lightbus run` worker answers the calls. The stream entries' field `m`,
the call list items and the reply list items are then validated against the payload
schemas of the document that `lightbus dumpschema --format asyncapi` wrote.
"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import sys
import uuid
from decimal import Decimal

import jsonschema
import pytest
from test_dumpschema import ASYNCAPI_SCHEMA, COMPANY, dumpschema

import lightbus
from lightbus.message import now_ms

CALLS = [
    # (message key in the document, api, rpc, arguments as the app passes them)
    ("warranty.check_serial", "warranty", "check_serial", {"purchased": datetime.date(2025, 3, 1)}),
    # 2024-02-29 plus two years does not exist: the handler raises, the reply holds `error`.
    (
        "warranty.check_serial",
        "warranty",
        "check_serial",
        {"purchased": datetime.date(2024, 2, 29)},
    ),
    ("sales.get_order", "sales", "get_order", {"order_id": uuid.uuid4()}),  # returns None
    ("company.parts.reserve", "company.parts", "reserve", {"sku": "P-1", "quantity": 2}),
]


def payload_validator(document: dict, message: str) -> jsonschema.Draft7Validator:
    """A validator for the payload of ``#/components/messages/<message>``, resolving the
    document's own references (AsyncAPI schemas are a JSON Schema draft-07 superset)."""
    root = {**document, "$ref": f"#/components/messages/{message}/payload"}
    return jsonschema.Draft7Validator(root, format_checker=jsonschema.FormatChecker())


def errors(document: dict, message: str, value: dict) -> list[str]:
    found = payload_validator(document, message).iter_errors(value)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def load_company_module(monkeypatch):
    """The typed company bus module, imported as an app imports its own."""
    spec = importlib.util.spec_from_file_location("company_bus_wire", COMPANY / "bus.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_real_messages_validate_against_the_asyncapi_document(
    monkeypatch, redis_url, raw_redis, start_worker, worker_env
):
    dumped = dumpschema(COMPANY, worker_env(), "--local", "--format", "asyncapi")
    assert dumped.returncode == 0, dumped.stderr
    document = json.loads(dumped.stdout)
    official = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    assert list(official.iter_errors(document)) == []

    # The app sends, with no worker running yet: the calls wait in their lists.
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)
    monkeypatch.setenv("LIGHTBUS_RPC_TIMEOUT", "0.3")
    company = load_company_module(monkeypatch)
    bus = company.bus
    try:
        for _, api, rpc, kwargs in CALLS:
            target = bus
            for part in [*api.split("."), rpc]:
                target = getattr(target, part)
            with pytest.raises(lightbus.RpcTimeout):
                target(**({"serial": "SN-1"} if api == "warranty" else {}), **kwargs)
        bus.sales.order_placed.fire(
            order_id=uuid.uuid4(),
            customer="ACME",
            lines=[company.OrderLine(sku="P-1", quantity=2, unit_price=Decimal("9.50"))],
            placed_at=datetime.datetime.now(datetime.UTC),
        )
        bus.warranty.registered.fire(serial="SN-1", plan=company.Plan.EXTENDED)
    finally:
        bus.close()

    events = {}
    for key in ("sales.order_placed", "warranty.registered"):
        [(_, fields)] = raw_redis.xrange(f"lightbus:event:{key}")
        events[key] = json.loads(fields[b"m"])
    queued = []
    for api in ("warranty", "sales", "company.parts"):
        queued += [json.loads(item) for item in raw_redis.lrange(f"lightbus:rpc:{api}", 0, -1)]
        raw_redis.delete(f"lightbus:rpc:{api}")  # expired by now: not for the worker
    assert [(c["api"], c["name"]) for c in queued] == [(api, rpc) for _, api, rpc, _ in CALLS]

    # A real worker answers the same calls (a fresh deadline, or it must refuse them).
    start_worker(COMPANY)
    for call in queued:
        raw_redis.rpush(
            f"lightbus:rpc:{call['api']}", json.dumps({**call, "deadline": now_ms() + 10_000})
        )
    replies = {}
    for _ in queued:
        popped = raw_redis.blpop([queued[0]["reply_to"]], timeout=10)
        assert popped is not None, "no reply from the worker"
        reply = json.loads(popped[1])
        replies[reply["causation_id"]] = reply

    for key, message in events.items():
        assert errors(document, key, message) == [], message
    for (key, *_), call in zip(CALLS, queued, strict=True):
        assert errors(document, f"{key}.call", call) == [], call
        assert errors(document, f"{key}.result", replies[call["id"]]) == [], replies[call["id"]]

    # What the replies hold: a result, an error, a null result left out.
    ok, failed, none, reserved = (replies[call["id"]] for call in queued)
    assert ok["result"]["serial"] == "SN-1" and "error" not in ok
    assert failed["error"]["type"] == "ValueError" and "result" not in failed
    assert "result" not in none and "error" not in none
    assert reserved["result"]["quantity"] == 2

    # The schemas can fail: the wire's shape is what is checked, not only its presence.
    placed = events["sales.order_placed"]
    flattened = {k: v for k, v in placed.items() if k != "kwargs"} | placed["kwargs"]
    assert errors(document, "sales.order_placed", flattened)  # arguments beside the envelope
    wrong_type = copy.deepcopy(placed)
    wrong_type["kwargs"]["lines"][0]["quantity"] = "two"
    assert errors(document, "sales.order_placed", wrong_type)
    assert errors(document, "warranty.registered", placed)  # another event's message
    call = queued[0]
    assert errors(document, "warranty.check_serial.call", {**call, "kwargs": {"serial": 1}})
    assert errors(
        document, "warranty.check_serial.call", {k: v for k, v in call.items() if k != "reply_to"}
    )
    assert errors(document, "warranty.check_serial.result", {**ok, "error": failed["error"]})
    assert errors(document, "warranty.check_serial.result", {**ok, "result": {"serial": "SN-1"}})

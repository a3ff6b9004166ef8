"""The error classes: they pickle whole, and only a caller's own arguments are a TypeError."""

from __future__ import annotations

import pickle

import pytest

import lightbus
from lightbus.errors import (
    AmbiguousId,
    BusClosedError,
    BusConnectionError,
    ConfigError,
    InvalidArguments,
    InvalidArgumentValue,
    NotSerializable,
    PayloadTooDeep,
    PayloadTooLarge,
    RemoteError,
    RpcTimeout,
    UnknownApi,
    UnknownId,
    UnknownName,
    ValidationError,
)

EVERY_ERROR = [
    ConfigError("bad key", key="redis_url"),
    BusConnectionError("down", url="redis://***@h"),
    BusClosedError("bus.shop.buy() was waiting on the bus's event loop, which stopped"),
    UnknownApi("shop", ["auth", "sales"]),
    UnknownName("shop", "buy", kind="rpc", known=["sell"], actual="event"),
    InvalidArguments("shop.buy got x", api="shop", name="buy", field="x"),
    NotSerializable("shop.buy: a set", api="shop", name="buy", field="items"),
    ValidationError(api="shop", name="buy", field="n", problem="Expected `int`", part="result"),
    InvalidArgumentValue(api="shop", name="buy", field="n", problem="Expected `int`", side="firer"),
    PayloadTooLarge(api="shop", name="buy", size=10, limit=5),
    PayloadTooDeep(api="shop", name="buy", limit=3, detail="or holds itself"),
    RpcTimeout(api="shop", name="buy", timeout=1.5, served=False),
    RemoteError(api="shop", name="buy", remote_type="KeyError", remote_message="x"),
    UnknownId("0190", kinds=["message"], shortened=True),
    AmbiguousId("01", [("message", "0190aa", "shop.buy")], more=True),
]


@pytest.mark.parametrize("error", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_message_and_attributes(error):
    error.item = 3  # set by fire_many on the error of one item
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)


def test_a_changed_message_survives_pickling():
    error = ValidationError(api="a", name="f", field="x", problem="Expected `int`")
    error.args = (f"fire_many item 2: {error.args[0]}",)  # what fire_many does
    assert str(pickle.loads(pickle.dumps(error))).startswith("fire_many item 2: ")


def test_a_bad_result_or_incoming_value_is_not_a_type_error():
    result = ValidationError(api="a", name="f", field="", problem="Expected `int`", part="result")
    incoming = ValidationError(api="a", name="f", field="n", problem="x", side="listener")
    for error in (result, incoming):
        assert isinstance(error, ValueError | lightbus.LightbusError)
        assert not isinstance(error, TypeError | InvalidArguments)


def test_a_callers_bad_argument_value_is_both_kinds():
    error = InvalidArgumentValue(api="a", name="f", field="n", problem="Expected `int`")
    assert isinstance(error, lightbus.ValidationError)
    assert isinstance(error, lightbus.InvalidArguments) and isinstance(error, TypeError)
    assert (error.api, error.name, error.field, error.side) == ("a", "f", "n", "caller")


def test_a_workers_refusal_comes_back_as_the_kind_the_caller_raises():
    arguments = ValidationError.from_detail("a", "f", {"field": "n", "problem": "p"})
    result = ValidationError.from_detail("a", "f", {"field": "", "problem": "p", "part": "result"})
    assert type(arguments) is InvalidArgumentValue and arguments.side == "worker"
    assert type(result) is ValidationError and not isinstance(result, TypeError)

"""Fuzzing the decoders and the argument checks: no crash, only clear errors.

Whatever arrives from the wire or a config goes through one of these; each must either
succeed or raise the one documented error type with a message, never anything else.
"""

from __future__ import annotations

import math
import string

import msgspec
import pytest
from faults import JobsApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import wait_until

import lightbus
from lightbus import Parameter
from lightbus.arguments import ArgSpec
from lightbus.deadletter import DeadLetter
from lightbus.limits import nests_deeper
from lightbus.message import Message
from lightbus.settings import Settings
from lightbus.trace import TraceRecord
from lightbus.validation import SchemaRule, TypedRule

pytestmark = pytest.mark.reliability

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = list(Message.__struct_fields__)
# Objects shaped like messages: the right keys (some missing) with values of any type.
message_like = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), json_values)


def _decodes_or_value_error(decode, data) -> None:
    try:
        decode(data)
    except ValueError as exc:  # msgspec.DecodeError and ValidationError are ValueErrors
        assert str(exc)


@FUZZ
@given(st.binary(max_size=200) | json_values.map(msgspec.json.encode))
def test_message_decoding_raises_only_value_errors(data):
    _decodes_or_value_error(Message.from_json, data)
    _decodes_or_value_error(Message.from_fields, {b"m": data})


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


# Strings full of what could fool a count of brackets on the text: brackets, quotes and
# backslashes, escaped by the encoder.
tricky_text = st.text(alphabet='[]{}"\\\n a', max_size=6)
tricky_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=20,
)


@FUZZ
@given(tricky_values)
def test_the_depth_measured_on_the_text_is_the_depth_of_the_value(value):
    data = msgspec.json.encode(value)
    depth = _depth(value)
    for levels in range(6):
        assert nests_deeper(data, levels) == (depth > levels), (levels, data)


@FUZZ
@given(message_like)
def test_message_shaped_objects_decode_or_are_refused_clearly(obj):
    try:
        message = Message.from_json(msgspec.json.encode(obj))
    except msgspec.ValidationError as exc:
        assert "$" in str(exc) or "missing required field" in str(exc)  # names the field
        return
    assert message.to_json()  # what decodes re-encodes


@FUZZ
@given(st.dictionaries(st.binary(max_size=5), st.binary(max_size=50), max_size=4))
def test_stream_entries_of_any_shape_are_refused_clearly(fields):
    _decodes_or_value_error(Message.from_fields, fields)
    _decodes_or_value_error(lambda f: DeadLetter.from_fields("1-0", f), fields)
    _decodes_or_value_error(lambda f: TraceRecord.from_fields("1-0", f), fields)


names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=6)


@FUZZ
@given(
    required=st.frozensets(names, max_size=4),
    optional=st.frozensets(names, max_size=4),
    accepts_any=st.booleans(),
    args=st.lists(json_values, max_size=2),
    kwargs=st.dictionaries(names | st.text(max_size=6), json_values, max_size=6),
)
def test_argument_checks_pass_exactly_the_fitting_calls(
    required, optional, accepts_any, args, kwargs
):
    allowed = required | optional
    spec = ArgSpec("api", "name", "rpc", frozenset(required), frozenset(allowed), accepts_any)
    fits = not args and required <= set(kwargs) and (accepts_any or set(kwargs) <= allowed)
    try:
        spec.check(tuple(args), kwargs)
    except lightbus.InvalidArguments as exc:
        assert not fits
        assert (exc.api, exc.name) == ("api", "name") and "api.name" in str(exc)
        assert exc.field == "" or exc.field in str(exc)
    else:
        assert fits


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from([f"LIGHTBUS_{f.upper()}" for f in Settings.__dataclass_fields__]),
        st.text(max_size=12),
        max_size=4,
    )
)
def test_settings_from_any_environment_give_settings_or_a_config_error(environ):
    try:
        made = Settings(**Settings.from_env(environ))
    except lightbus.ConfigError as exc:
        assert exc.key and (exc.key in str(exc) or exc.key.upper() in str(exc))
        return
    for name in Settings.__dataclass_fields__:
        value = getattr(made, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert math.isfinite(value) and value >= 0, (name, value)


def test_a_listener_fed_random_entries_dead_letters_them_and_carries_on(bus_factory, raw_redis):
    bus = bus_factory(retry_backoff=0.01)
    bus.client.register_api(JobsApi())
    handled: list[int] = []
    bus.jobs.job.listen(lambda event, n: handled.append(n), listener_name="fuzzed")
    stream = "lightbus:event:jobs.job"
    sent = [0]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.dictionaries(st.binary(min_size=1, max_size=4), st.binary(max_size=40), min_size=1)
        | message_like.map(lambda obj: {b"m": msgspec.json.encode(obj)})
    )
    def feed(fields):
        raw_redis.xadd(stream, fields)
        sent[0] += 1

    feed()
    bus.jobs.job.fire(n=1)
    wait_until(lambda: handled == [1], timeout=15)
    group = raw_redis.xinfo_groups(stream)[0]
    wait_until(lambda: raw_redis.xinfo_groups(stream)[0]["pending"] == 0, timeout=15)
    assert group["lag"] == 0
    # Every random entry was dead-lettered (none decoded as a valid jobs.job event).
    assert raw_redis.xlen("lightbus:dead:jobs.job") == sent[0]


PARAMS = (
    Parameter("count", int),
    Parameter("label", str),
    Parameter("tags", list[str], default=()),
    Parameter("weights", dict[str, float], default=None),
    Parameter("maybe", int | None, default=None),
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from([p.name for p in PARAMS]) | st.text(max_size=5), json_values, max_size=6
    )
)
def test_typed_and_schema_validators_accept_or_name_the_bad_field(kwargs):
    """Random arguments against typed parameters, on the receiving side of both checkers:
    the one built from annotations (local API) and the one from the published schema."""
    typed = TypedRule("api", "name", PARAMS)
    entry = api_schema_entry()
    from_schema = SchemaRule("api", "name", entry, enforce=True)
    for checker in (typed, from_schema):
        try:
            checker.incoming(kwargs, "listener")
        except lightbus.ValidationError as exc:
            assert (exc.api, exc.name, exc.side) == ("api", "name", "listener")
            assert str(exc).startswith("api.name: ")
            # The bad field is named (an argument whose name is "" has no name to give).
            assert exc.field.split(".")[0].split("[")[0] in str(exc)


class _TypedApi(lightbus.Api):
    ev = lightbus.Event(parameters=PARAMS)

    class Meta:
        name = "typed"


def api_schema_entry():
    """The event's entry in its published schema, as a remote listener gets it."""
    from lightbus.api import define
    from lightbus.schema import api_schema

    return api_schema(define(_TypedApi()))["events"]["ev"]

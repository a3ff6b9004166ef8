"""Validation on both sides, against a real worker process and the live registry.

The worker serves typed APIs from a project folder; the test process is the caller and
knows the APIs only from the registry, unless a test registers them locally.
"""

from __future__ import annotations

import datetime
import subprocess
import sys

import msgspec
import pytest
from support import wait_until

from lightbus import Api, ValidationError, trace
from lightbus.traceentries import records_from_fields

SHOP = """
import dataclasses, datetime
import lightbus
from lightbus import Api, Event, Parameter


@dataclasses.dataclass
class Address:
    street: str
    number: int = 1


class ShopApi(Api):
    ordered = Event(parameters=(Parameter("when", datetime.datetime), Parameter("qty", int)))

    class Meta:
        name = "shop"

    def kinds(self, when: datetime.datetime, address: Address) -> list[str]:
        return [type(when).__name__, type(address).__name__, address.street]

    def bad_result(self) -> int:
        return "not an int"

    def next_day(self, when: datetime.datetime) -> datetime.datetime:
        return when + datetime.timedelta(days=1)


class LaxApi(Api):
    class Meta:
        name = "lax"
        validate = False

    def echo(self, n: int) -> int:
        return n


bus = lightbus.create()
bus.client.register_api(ShopApi())
bus.client.register_api(LaxApi())


@bus.client.on_start()
def start(**_):
    bus.shop.ordered.listen(record, listener_name="record")


def record(event, when, qty):
    with open("received.txt", "a") as f:
        f.write(f"{type(when).__name__} {type(qty).__name__} {when.isoformat()} {qty}\\n")
"""

WHEN = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


class _LooseShop(Api):
    class Meta:
        name = "shop"

    def kinds(self, when: datetime.datetime, address: dict, gift: bool = False) -> list: ...


@pytest.fixture
def shop(project, start_worker):
    folder = project(SHOP)
    start_worker(folder)
    return folder


def trace_steps(raw_redis, step):
    records = [
        record
        for entry_id, fields in raw_redis.xrange("lightbus:trace")
        for record in records_from_fields(entry_id.decode(), fields)
    ]
    return [r for r in records if r.record == step]


def test_worker_casts_arguments_to_the_annotated_types(shop, bus_factory):
    bus = bus_factory()  # knows "shop" only from the registry
    assert bus.shop.kinds(when=WHEN, address={"street": "High St"}) == [
        "datetime",
        "Address",
        "High St",
    ]
    assert bus.shop.kinds(when="2025-01-02T03:04:05Z", address={"street": "x"})[0] == "datetime"


def test_caller_refuses_a_bad_argument_before_sending(shop, bus_factory, raw_redis):
    bus = bus_factory()
    with pytest.raises(ValidationError) as info:
        bus.shop.kinds(when="next tuesday", address={"street": "x"})
    error = info.value
    assert (error.api, error.name, error.field, error.side) == ("shop", "kinds", "when", "caller")
    assert "shop.kinds: argument 'when' is invalid" in str(error)
    with pytest.raises(ValidationError) as info:
        bus.shop.kinds(when=WHEN, address={"street": 5})
    assert info.value.field == "address.street"
    assert info.value.problem == "Expected `str`, got `int`"
    assert trace_steps(raw_redis, trace.RPC_CALLED) == []  # nothing was sent


def test_worker_rejects_bad_arguments_and_the_caller_gets_a_validation_error(
    shop, bus_factory, raw_redis
):
    bus = bus_factory(validate=False)  # this caller does not check: the worker must
    with pytest.raises(ValidationError) as info:
        bus.shop.kinds(when="next tuesday", address={"street": "x"})
    error = info.value
    assert (error.api, error.name, error.field, error.side) == ("shop", "kinds", "when", "worker")
    assert "rejected by the worker" in str(error)
    assert len(trace_steps(raw_redis, trace.RPC_CALLED)) == 1
    unchecked = bus_factory(validate=False)
    unchecked.client.register_api(_LooseShop())  # this caller believes in an extra parameter
    with pytest.raises(ValidationError) as info:
        unchecked.shop.kinds(when=WHEN, address={"street": "x"}, gift=True)
    assert (info.value.field, info.value.side) == ("gift", "worker")


def test_worker_validates_its_result(shop, bus_factory):
    bus = bus_factory()
    with pytest.raises(ValidationError) as info:
        bus.shop.bad_result()
    assert (info.value.part, info.value.side) == ("result", "worker")
    assert info.value.problem == "Expected `int`, got `str`"


def test_caller_validates_and_casts_the_result_with_local_types(shop, bus_factory):
    class ShopApi(Api):  # the caller's own (stale) copy of the API
        class Meta:
            name = "shop"

        def next_day(self, when: datetime.datetime) -> datetime.datetime: ...

        def kinds(self, when: datetime.datetime, address: dict) -> int: ...

    bus = bus_factory()
    bus.client.register_api(ShopApi())
    assert bus.shop.next_day(when=WHEN) == WHEN + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as info:
        bus.shop.kinds(when=WHEN, address={"street": "x"})
    assert (info.value.part, info.value.side) == ("result", "caller")


def test_caller_validates_the_result_against_a_schema(shop, bus_factory):
    bus = bus_factory()
    schema = msgspec.json.decode(msgspec.json.encode(wait_until(lambda: _live(bus, "shop"))))
    schema["rpcs"]["next_day"]["response"] = {"type": "integer"}
    bus.client.schemas["shop"] = schema  # as `lightbus run --schema` would load it
    with pytest.raises(ValidationError) as info:
        bus.shop.next_day(when=WHEN)
    assert (info.value.part, info.value.side) == ("result", "caller")


def _live(bus, api):
    return bus.run(bus.client.live_schemas(), "live schemas").get(api)


def test_listener_receives_cast_values_and_firer_checks(shop, bus_factory):
    bus = bus_factory()
    wait_until(lambda: (shop / "received.txt").exists() or _groups_ready(bus), timeout=10)
    bus.shop.ordered.fire(when=WHEN, qty=2)
    line = wait_until(
        lambda: (shop / "received.txt").exists() and (shop / "received.txt").read_text()
    )
    assert line == f"datetime int {WHEN.isoformat()} 2\n"
    with pytest.raises(ValidationError) as info:
        bus.shop.ordered.fire(when=WHEN, qty="two")
    assert (info.value.field, info.value.side) == ("qty", "firer")


def _groups_ready(bus):
    import redis

    client = redis.Redis.from_url(bus.client.settings.redis_url)
    try:
        return client.exists("lightbus:event:shop.ordered") and client.xinfo_groups(
            "lightbus:event:shop.ordered"
        )
    finally:
        client.close()


def test_listener_dead_letters_an_invalid_event_without_running_the_handler(
    shop, bus_factory, raw_redis
):
    bus = bus_factory(validate=False)
    wait_until(lambda: _groups_ready(bus), timeout=10)
    bus.shop.ordered.fire(when=WHEN, qty="many")
    entries = wait_until(lambda: raw_redis.xrange("lightbus:dead:shop.ordered"))
    letter = msgspec.json.decode(entries[0][1][b"d"])
    assert letter["error_type"] == "lightbus.errors.ValidationError"
    assert "argument 'qty' is invalid" in letter["error"]
    assert letter["attempts"] == 1
    assert not (shop / "received.txt").exists()


def test_validation_off_per_api(shop, bus_factory):
    bus = bus_factory()
    assert bus.lax.echo(n="not a number") == "not a number"


def test_clashing_schemas_are_warned_by_the_worker_and_reported_live(
    shop, project, start_worker, worker_env, tmp_path
):
    other = tmp_path / "other"
    other.mkdir()
    (other / "bus.py").write_text(
        "import lightbus\n"
        "from lightbus import Api\n"
        "class ShopApi(Api):\n"
        "    class Meta:\n"
        "        name = 'shop'\n"
        "    def kinds(self, when: str) -> str:\n"
        "        return when\n"
        "bus = lightbus.create()\n"
        "bus.client.register_api(ShopApi())\n"
    )
    second = start_worker(other)
    second.wait_for("is also served by")
    assert "'shop'" in second.output
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "schema", "check", "live", "live", "--json"],
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    report = msgspec.json.decode(result.stdout)
    clash = [c for c in report["changes"] if c["change"] == "clash"]
    assert clash and clash[0]["api"] == "shop" and clash[0]["breaking"] is True


def test_a_problem_with_the_arguments_as_a_whole_reads_as_a_sentence():
    from lightbus.errors import ValidationError

    whole = ValidationError(api="a", name="f", field="", problem="Object has unknown field `y`")
    assert str(whole).startswith("a.f: its arguments are invalid: Object has unknown")
    one = ValidationError(api="a", name="f", field="x", problem="Expected `int`, got `str`")
    assert str(one).startswith("a.f: argument 'x' is invalid: Expected `int`")
    result = ValidationError(api="a", name="f", field="", problem="Expected `int`", part="result")
    assert str(result).startswith("a.f: its result is invalid: Expected `int`")

"""`lightbus call` and `lightbus fire` from a terminal, against a real worker process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid

import pytest

from lightbus.cli import main as cli

SHOP = """
    import asyncio
    import time
    import lightbus
    from lightbus import Api, Event, Parameter

    class ShopApi(Api):
        placed = Event(parameters=(Parameter("order", str), Parameter("qty", int)))
        ticked = Event()

        class Meta:
            name = "shop"

        def add(self, a: int, b: int = 0) -> int:
            return a + b

        def echo(self, **values):
            return values

        def refund(self, order: str) -> None:
            raise ValueError(f"order {order} was never paid")

        def slow(self) -> None:
            time.sleep(2)

    bus = lightbus.create()
    bus.client.register_api(ShopApi())

    @bus.client.on_start()
    def start(**_):
        bus.shop.placed.listen(audit, listener_name="audit", max_attempts=2)
        bus.shop.placed.listen(lambda event, order, qty: None, listener_name="mail")
        bus.shop.ticked.listen(slowpoke, listener_name="slowpoke")

    async def slowpoke(event):
        await asyncio.sleep(3)

    def audit(event, order, qty):
        if qty > 5:
            raise RuntimeError(f"{qty} is too many")
"""

ID = re.compile(r"message ([0-9a-f]{32})  trace ([0-9a-f]{32})")


@pytest.fixture
def shop(project, worker_env):
    """The folder of the shop's bus module, and a runner of `lightbus` commands in it."""
    folder = project(SHOP)

    def lightbus(*args: str, stdin: str | None = None, **env: str):
        return subprocess.run(
            [sys.executable, "-m", "lightbus", *args],
            cwd=folder,
            env=worker_env(**env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
        )

    lightbus.folder = folder
    return lightbus


@pytest.fixture
def shop_here(project, monkeypatch, redis_url):
    """The shop's bus module under a name of its own, for `lightbus` run in this process."""
    name = f"shop_{uuid.uuid4().hex[:12]}"
    folder = project(SHOP, f"{name}.py")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)
    monkeypatch.setenv("LIGHTBUS_MODULE", name)
    yield monkeypatch
    sys.modules.pop(name, None)


def trace_holds(raw_redis, message_id: str) -> bool:
    """Whether the trace stream has a record of this message."""
    return any(
        message_id.encode() in value
        for _, fields in raw_redis.xrange("lightbus:trace")
        for value in fields.values()
    )


def test_call_prints_the_result_and_the_message_id(shop, start_worker, raw_redis):
    start_worker(shop.folder, LIGHTBUS_RETRY_BACKOFF="0.05")
    result = shop("call", "shop.add", "a=2", "b=3")
    assert (result.returncode, result.stdout) == (0, "5\n"), result.stderr
    message_id, trace_id = ID.search(result.stderr).groups()
    assert trace_holds(raw_redis, message_id) and trace_holds(raw_redis, trace_id)
    # Values are JSON where they parse, strings otherwise; --json gives a whole payload,
    # key=value pairs go over it, and may follow options.
    result = shop(
        "call",
        "shop.echo",
        "--json",
        '{"n": 1, "name": "x", "nested": {"k": [1]}}',
        "n=5",
        "--output",
        "json",
        "flag=true",
        's="5"',
        "name=bob",
        "empty=",
        "nothing=null",
        "big=1e999",
    )
    answer = json.loads(result.stdout)
    assert answer["status"] == "ok" and re.fullmatch("[0-9a-f]{32}", answer["id"])
    assert answer["result"] == {
        "n": 5,
        "name": "bob",
        "nested": {"k": [1]},
        "flag": True,
        "s": "5",
        "empty": "",
        "nothing": None,
        "big": "1e999",
    }
    piped = shop("call", "shop.add", "--json", "-", "--output", "json", stdin='{"a": 40}\n')
    assert json.loads(piped.stdout)["result"] == 40
    # The id comes from the trace: with tracing off, the call still works, without it.
    result = shop("call", "shop.add", "a=1", LIGHTBUS_TRACE_ENABLED="false")
    assert result.returncode == 0 and result.stdout == "1\n"
    assert "message (unknown: tracing is off)" in result.stderr


def test_call_shows_the_remote_error_and_traceback(shop, start_worker):
    start_worker(shop.folder)
    result = shop("call", "shop.refund", "order=o-9")
    assert result.returncode == 1 and result.stdout == ""
    assert "shop.refund raised ValueError: order o-9 was never paid" in result.stderr
    assert "Remote traceback:" in result.stderr
    assert 'raise ValueError(f"order {order} was never paid")' in result.stderr
    assert ID.search(result.stderr)
    answer = json.loads(shop("call", "shop.refund", "order=o-9", "--output", "json").stdout)
    assert answer["status"] == "error" and answer["error"]["type"] == "ValueError"
    assert answer["error"]["message"] == "order o-9 was never paid"
    assert "Traceback (most recent call last)" in answer["error"]["traceback"]
    # Arguments the worker refuses: this caller's module is out of date (b was a str).
    older = SHOP.replace("b: int = 0", "b: str = ''")
    (shop.folder / "older.py").write_text(textwrap.dedent(older))
    result = shop("call", "shop.add", "a=1", "b=x", "--bus", "older")
    assert result.returncode == 2
    assert "argument 'b' is invalid: Expected `int`, got `str` (rejected by the worker)" in (
        result.stderr
    )
    assert ID.search(result.stderr)  # it was sent: its id
    result = shop("call", "shop.add", "a=1", "--bus", "nosuchmodule")
    assert result.returncode == 1 and "Cannot find the bus module 'nosuchmodule'" in result.stderr


def test_call_times_out_saying_whether_a_worker_serves_the_api(shop, start_worker):
    result = shop("call", "shop.add", "a=1", "--timeout", "0.3")
    assert result.returncode == 3
    assert "shop.add got no result within 0.3s" in result.stderr
    assert "No worker currently serves 'shop': start one with `lightbus run`" in result.stderr
    assert ID.search(result.stderr)  # the call went out: its id, for `lightbus trace`
    start_worker(shop.folder)
    answer = json.loads(shop("call", "shop.slow", "--timeout", "0.3", "--output", "json").stdout)
    assert answer["status"] == "timeout" and answer["served"] is True
    assert "A worker serving 'shop' is alive" in answer["error"]["message"]


def test_what_the_schema_refuses_is_bad_input(shop_here, capsys):
    for args, says in [
        (["call", "shop.nope"], "API 'shop' has no rpc named 'nope'. Its rpcs: add, echo, "),
        (["call", "nope.add"], "Unknown API 'nope'. Known APIs: shop."),
        (["call", "shop.placed", "order=o"], "shop.placed is an event, not an rpc"),
        (["fire", "shop.add"], "shop.add is an rpc, not an event"),
        (["call", "shop.add", "a=x"], "argument 'a' is invalid: Expected `int`, got `str`"),
        (["fire", "shop.placed", "order=o"], "missing"),
    ]:
        assert cli(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith(f"lightbus {args[0]}: error: ") and says in err, err
    assert cli(["call", "nope.add", "--output", "json"]) == 2
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "invalid" and answer["error"]["type"] == "UnknownApi"
    assert "Known APIs: shop." in answer["error"]["message"]


@pytest.mark.parametrize(
    "args,says",
    [
        (["call", "shop.add", "a"], "argument 'a' is not key=value: write name=value"),
        (["call", "shop.add", "a=1", "a=2"], "argument 'a' is given twice"),
        (["call", "shop.add", "x-y=1"], "'x-y' is not a parameter name"),
        (["call", "shopadd"], "'shopadd' is not api.name"),
        (["call", "shop.add", "--json", '{"a": 1'], "--json is not valid JSON (Expecting"),
        (["call", "shop.add", "--json", "[1]"], "--json must be a JSON object of arguments"),
        (["fire", "shop.placed", "--timeout", "2"], "--timeout bounds --wait"),
    ],
    ids=["not-a-pair", "twice", "bad-key", "no-dot", "bad-json", "json-list", "timeout-alone"],
)
def test_a_command_line_that_does_not_say_what_to_send_is_refused(args, says, capsys):
    assert cli(args) == 2
    assert says in capsys.readouterr().err


def test_a_timeout_must_be_a_positive_number(capsys):
    with pytest.raises(SystemExit) as exited:
        cli(["call", "shop.add", "--timeout", "0"])
    assert exited.value.code == 2
    assert "argument --timeout: '0': give a positive number of seconds" in capsys.readouterr().err


def test_fire_prints_the_message_id(shop_here, raw_redis, capsys):
    assert cli(["fire", "shop.placed", "order=o-1", "qty=1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fired shop.placed  message ")
    message_id, _ = ID.search(out).groups()
    [(_, fields)] = raw_redis.xrange("lightbus:event:shop.placed")
    assert json.loads(fields[b"m"])["id"] == message_id
    assert cli(["fire", "shop.placed", "order=o-2", "qty=1", "--output", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "sent" and answer["id"] != message_id


def test_fire_wait_prints_each_listeners_outcome(shop, start_worker):
    worker = start_worker(shop.folder, LIGHTBUS_RETRY_BACKOFF="0.05", LIGHTBUS_SHUTDOWN_GRACE="0.2")
    result = shop("fire", "shop.placed", "order=o-1", "qty=1", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"default\.audit  handled in [\d.]+ ms \(attempt 1, by ", result.stdout)
    assert "default.mail  handled" in result.stdout
    assert result.stdout.rstrip().endswith("2 listener(s): 2 handled")
    # A listener that fails: each attempt as it comes, then the dead letter.
    result = shop("fire", "shop.placed", "order=o-2", "qty=9", "--wait", "--output", "json")
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["status"] == "failed"
    outcomes = {o["group"]: o for o in answer["listeners"]}
    assert outcomes["default.mail"]["outcome"] == "handled"
    audit = outcomes["default.audit"]
    assert (audit["outcome"], audit["attempt"], audit["error_type"]) == (
        "dead_lettered",
        2,
        "RuntimeError",
    )
    assert [a["step"] for a in audit["attempts"]] == [
        "event.failed",
        "event.failed",
        "event.dead_lettered",
    ]
    assert "raise RuntimeError" in audit["traceback"]
    result = shop("fire", "shop.placed", "order=o-3", "qty=9", "--wait")
    lines = result.stdout.splitlines()
    assert any("default.audit  failed (attempt 1" in line for line in lines)
    assert any("default.audit  dead-lettered after 2 attempt(s)" in line for line in lines)
    # No outcome in time: the listener's worker is alive but slow, then gone.
    result = shop("fire", "shop.ticked", "--wait", "--timeout", "0.5")
    assert result.returncode == 3
    assert "default.slowpoke  no final outcome within 0.5s: a live worker runs this listener" in (
        result.stdout
    )
    worker.proc.terminate()
    assert worker.wait() == 0
    result = shop("fire", "shop.placed", "order=o-4", "qty=1", "--wait", "--timeout", "0.5")
    assert result.returncode == 3
    assert "no live worker runs this listener; start one with `lightbus run`" in result.stdout


def test_fire_wait_without_listeners_or_without_tracing(shop_here, capsys):
    assert cli(["fire", "shop.ticked", "--wait"]) == 0
    assert "no listener: nothing listens to shop.ticked" in capsys.readouterr().out
    shop_here.setenv("LIGHTBUS_TRACE_ENABLED", "false")
    assert cli(["fire", "shop.ticked", "--wait"]) == 2
    assert "--wait follows the trace stream, and tracing is off" in capsys.readouterr().err
    assert cli(["fire", "shop.ticked"]) == 0  # without --wait, tracing is not needed


def test_an_unreachable_redis_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGHTBUS_MODULE", "no_bus_module_here")
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("LIGHTBUS_CONNECT_TIMEOUT", "0.5")
    assert cli(["call", "shop.add", "a=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lightbus call: error: Cannot reach Redis at redis://127.0.0.1:1/0")
    assert cli(["fire", "shop.placed", "--wait", "--output", "json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "error" and answer["error"]["type"] == "BusConnectionError"

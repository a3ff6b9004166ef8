"""`lightbus run --log-format json`: one JSON object per log line, with the trace."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from support import wait_until

import lightbus
from lightbus.logs import JsonFormatter

WORKER = """
    import logging
    import lightbus
    from lightbus import Api, Event

    log = logging.getLogger("shopapp")

    class ShopApi(Api):
        placed = Event(parameters=("order",))

        class Meta:
            name = "shop"

        def refund(self, order: str) -> None:
            raise ValueError(f"order {order} was never paid")

    bus = lightbus.create()
    bus.client.register_api(ShopApi())

    @bus.client.on_start()
    def start(**_):
        log.info("shop worker ready")
        bus.shop.placed.listen(on_placed, listener_name="audit")

    def on_placed(event, order):
        log.info("auditing %s", order, extra={"order": order, "lines": {1, 2}})
"""


def json_lines(output: str) -> list[dict]:
    """The log lines of a worker's output (its start line is printed, not logged)."""
    lines = [line for line in output.splitlines() if not line.startswith("lightbus: ")]
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


def test_the_formatter_writes_one_line_with_the_trace_and_the_exception():
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "two\nlines %s", ("x",), None)
    try:
        raise KeyError("k")
    except KeyError:
        record.exc_info = sys.exc_info()
    with lightbus.start_trace() as trace:
        lightbus.TraceLogFilter().filter(record)
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "two\nlines x" and line["level"] == "ERROR"
    assert (line["logger"], line["trace_id"], line["message_id"]) == ("app", trace.trace_id, "")
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert line["exception"].startswith("Traceback") and "KeyError: 'k'" in line["exception"]
    assert "trace_tag" not in line


def test_worker_logs_json_with_trace_and_message_ids(project, start_worker, bus_factory):
    folder = project(WORKER)
    worker = start_worker(folder, "--log-format", "json")
    bus = bus_factory(rpc_timeout=5)
    sent = bus.shop.placed.fire(order="o-1")
    with lightbus.start_trace() as trace, pytest.raises(lightbus.RemoteError):
        bus.shop.refund(order="o-2")
    # The listener's line and the RPC's come from different tasks: wait for both.
    wait_until(lambda: "RPC shop.refund failed" in worker.output and "auditing" in worker.output)
    lines = json_lines(worker.output)
    audit = next(line for line in lines if line["message"].startswith("auditing"))
    assert audit["message"] == "auditing o-1" and audit["level"] == "INFO"
    assert (audit["trace_id"], audit["message_id"]) == (sent.trace_id, sent.id)
    assert audit["order"] == "o-1"  # given through extra=
    assert audit["lines"] in ("{1, 2}", [1, 2])  # a set is not JSON: as text or a list
    failed = next(line for line in lines if line["logger"] == "lightbus.rpc")
    assert failed["level"] == "ERROR" and failed["trace_id"] == trace.trace_id
    assert failed["message_id"] and failed["message_id"] in failed["message"]
    assert "ValueError: order o-2 was never paid" in failed["exception"]
    assert failed["exception"].startswith("Traceback (most recent call last)")
    ready = next(line for line in lines if line["message"] == "shop worker ready")
    assert ready["trace_id"] == "" and ready["message_id"] == ""  # outside any message


def test_a_bus_module_that_fails_to_import_is_one_json_line(project, worker_env):
    folder = project("import lightbus\nlimit = undefined_limit + 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run", "--log-format", "json"],
        cwd=folder,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    [line] = json_lines(result.stderr)
    assert line["level"] == "ERROR" and "failed to import" in line["message"]
    assert "bus.py" in line["exception"] and "NameError" in line["exception"]
    assert "importlib" not in line["exception"]  # the user's frames only


@pytest.mark.parametrize(
    "args,env,says",
    [
        (["--log-format", "xml"], {}, "argument --log-format: invalid choice: 'xml'"),
        ([], {"LIGHTBUS_LOG_FORMAT": "xml"}, "LIGHTBUS_LOG_FORMAT must be 'text' or 'json'"),
        (["--reload", "--log-format", "json"], {}, "--log-format json is for production"),
    ],
    ids=["option", "environment", "with-reload"],
)
def test_a_log_format_that_cannot_be_used_is_refused(project, worker_env, args, env, says):
    folder = project(WORKER)
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run", *args],
        cwd=folder,
        env=worker_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode in (1, 2), result.stderr
    assert says in result.stderr

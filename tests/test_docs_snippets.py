"""The snippet files that the how-to pages include (docs/snippets/) run and do what the
pages say. Snippets of the trace pages are run by tests/test_trace_docs.py, the quick
start's by tests/test_quickstart.py."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from support import wait_until

import lightbus

SNIPPETS = ROOT / "docs" / "snippets"


def run_in_snippets(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A script in docs/snippets (so it imports them as the pages' readers would)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=SNIPPETS, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_events_how_to_shop_fires_listens_and_schedules(start_worker, worker_env):
    """shop_events.py: the worker runs its listener and schedule; a script fires."""
    worker = start_worker(SNIPPETS, "--bus", "shop_events")
    serving = next(line for line in worker.lines if line.startswith("lightbus: serving"))
    assert "listeners: send_receipt; schedules: shop_events.tidy_up" in serving
    result = run_in_snippets(
        """
        import asyncio
        import shop_events

        async def main():
            one = await shop_events.fire_one_async()
            many = await shop_events.fire_batch_async()
            return [one.kwargs] + [m.kwargs for m in many]

        print(asyncio.run(main()))
        one = shop_events.fire_one()
        many = shop_events.fire_batch()
        print([one.kwargs] + [m.kwargs for m in many])
        print(len({m.id for m in many}), len({m.trace_id for m in many}))
        shop_events.bus.close()
        """,
        worker_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[{'order_id': 'A1', 'total': 0.0}, {'order_id': 'A3', 'total': 0.0}]",
        "[{'order_id': 'A1', 'total': 9.5}, {'order_id': 'A1', 'total': 9.5}, "
        "{'order_id': 'A2', 'total': 0.0}]",
        "2 2",  # two events of their own, each with its own trace
    ]

    def receipts() -> list[str]:
        # Searched in the whole output: two handler threads' prints may share a line
        # (print writes the text and its newline separately).
        return re.findall(r"receipt for \w+: \d+\.\d\d", worker.output)

    try:
        wait_until(lambda: len(receipts()) >= 5)
    except AssertionError:
        raise AssertionError(
            f"not every receipt arrived; the worker said: {worker.lines}"
        ) from None
    assert sorted(receipts()) == sorted(
        f"receipt for {order}"
        for order in ("A1: 0.00", "A3: 0.00", "A1: 9.50", "A1: 9.50", "A2: 0.00")
    )


def test_a_web_request_is_one_trace(start_worker, worker_env):
    """web_trace.py: the view's log line and the event it fires share the request's trace."""
    start_worker(SNIPPETS, "--bus", "shop_events")
    result = run_in_snippets(
        """
        import logging
        import trace_logging  # the how-to's logging set-up, trace tag included
        import web_trace

        class Request:
            headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

        message = web_trace.view(Request())
        print(message.trace_id, message.parent_span_id)
        web_trace.bus.close()
        """,
        worker_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"]
    assert result.stderr.splitlines()[-1].endswith(
        "INFO shopapp: placing order [trace=4bf92f3577b34da6a3ce929d0e0e4736]"
    )


def test_a_percent_encoded_password_is_accepted_and_a_raw_one_refused():
    url_for = runpy.run_path(str(SNIPPETS / "redis_password.py"))["url_for"]
    password = "s3cr/t+k3y?#"
    url = url_for(password)
    assert url == "redis://app:s3cr%2Ft%2Bk3y%3F%23@redis.internal:6379/0"
    lightbus.Settings(redis_url=url)
    with pytest.raises(lightbus.ConfigError):
        lightbus.Settings(redis_url=f"redis://app:{password}@redis.internal:6379/0")


def run_transcript(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A prompt session of docs/snippets, typed in the repository's root folder."""
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "transcript.py"), str(SNIPPETS / name)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_process_that_defines_the_api_gets_typed_values(start_worker, worker_env):
    """typed_calls.pycon (define-an-api how-to), against the company's sales worker."""
    start_worker(ROOT, "--bus", "examples.company.sales")
    result = run_transcript("typed_calls.pycon", worker_env())
    assert result.returncode == 0, result.stderr


def test_calling_an_rpc_results_and_errors(start_worker, worker_env):
    """call_an_rpc.pycon (call-an-rpc how-to), against warranty and parts."""
    start_worker(ROOT, "--bus", "examples.company.warranty")
    start_worker(ROOT, "--bus", "examples.company.parts")
    result = run_transcript("call_an_rpc.pycon", worker_env())
    assert result.returncode == 0, result.stderr


def test_async_calls_run_at_once_and_a_deadline_says_who_was_missing(start_worker, worker_env):
    """call_async.py: two calls under gather; a 0.5 s deadline on a stopped worker."""
    start_worker(ROOT, "--bus", "examples.company.warranty")
    parts = start_worker(ROOT, "--bus", "examples.company.parts")
    both = subprocess.run(
        [sys.executable, str(SNIPPETS / "call_async.py")],
        cwd=SNIPPETS, env=worker_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (both.returncode, both.stdout) == (0, "(False, True)\nTrue\n"), both.stderr
    parts.stop()  # its schema stays in the registry until it expires: the API is known
    missing = run_in_snippets(
        """
        import asyncio, logging, time
        import lightbus, call_async

        logging.basicConfig(format="%(levelname)s %(message)s")

        async def main():
            bus = lightbus.create()
            started = time.monotonic()
            answer = await call_async.in_stock_or_none(bus, "FILTER-S")
            print(answer, time.monotonic() - started < 3)
            await bus.client.close()

        asyncio.run(main())
        """,
        worker_env(),
    )
    assert missing.returncode == 0, missing.stderr
    assert missing.stdout == "None True\n"
    assert "WARNING parts did not answer within 0.5s (served: False)" in missing.stderr


def test_an_idempotent_listener_does_its_work_once_per_event(tmp_path, monkeypatch):
    """idempotent.py: a second delivery of the same event changes nothing; a failure rolls
    the note back with the effect, so the retry does the work."""
    import sqlite3
    from types import SimpleNamespace

    monkeypatch.setenv("PAYMENTS_DB", str(tmp_path / "payments.db"))
    namespace = runpy.run_path(str(SNIPPETS / "idempotent.py"))
    namespace["create_tables"]()
    handler = namespace["record_payment"]
    first = SimpleNamespace(id="01a2000000000000000000000000000a")
    handler(first, order_id="o-1", amount_cents=500)
    handler(first, order_id="o-1", amount_cents=500)  # redelivered
    handler(
        SimpleNamespace(id="01a2000000000000000000000000000b"), order_id="o-1", amount_cents=250
    )
    refund = SimpleNamespace(id="01a2000000000000000000000000000c")
    with pytest.raises(ValueError):
        handler(refund, order_id="o-1", amount_cents=-100)
    with sqlite3.connect(tmp_path / "payments.db") as db:
        assert db.execute("SELECT cents FROM paid WHERE order_id = 'o-1'").fetchall() == [(750,)]
        assert db.execute("SELECT count(*) FROM handled").fetchall() == [(2,)]  # not the refund
    namespace["bus"].close()


def test_the_idempotent_listener_runs_under_a_worker(start_worker, worker_env, tmp_path):
    database = tmp_path / "payments.db"
    start_worker(SNIPPETS, "--bus", "idempotent", PAYMENTS_DB=str(database))
    result = run_in_snippets(
        """
        import idempotent
        idempotent.bus.payments.received.fire(order_id="o-9", amount_cents=1200)
        idempotent.bus.close()
        """,
        worker_env(PAYMENTS_DB=str(database)),
    )
    assert result.returncode == 0, result.stderr

    def paid() -> list[tuple[str, int]]:
        import sqlite3

        with sqlite3.connect(database) as db:
            return db.execute("SELECT order_id, cents FROM paid").fetchall()

    assert wait_until(paid) == [("o-9", 1200)]


# ------------------------------------------------------------------ web frameworks

KETTLE = {"sku": "KETTLE-1", "quantity": 1, "unit_price": "39.90", "serial": "SN-77"}


@pytest.fixture
def shop(start_worker, worker_env, monkeypatch):
    """The company's sales and warranty workers, and this process's settings pointing at
    their Redis (the web modules make their bus at import, from the environment)."""
    start_worker(ROOT, "--bus", "examples.company.sales")
    start_worker(ROOT, "--bus", "examples.company.warranty")
    env = worker_env()
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", env["LIGHTBUS_REDIS_URL"])
    return env


def test_flask_views_call_the_bus_with_the_blocking_api(shop):
    """web_flask.py, under Flask's test client."""
    namespace = runpy.run_path(str(SNIPPETS / "web_flask.py"))
    client = namespace["app"].test_client()
    try:
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        placed = client.post(
            "/orders",
            json={"customer": "ann@example.com", "lines": [KETTLE]},
            headers={"traceparent": traceparent},
        )
        assert (placed.status_code, placed.get_json()) == (201, {"order_id": 40})
        covered = wait_until(lambda: client.get("/warranty/SN-77").get_json()["covered"])
        assert covered is True
        bad = client.post("/orders", json={"customer": "x", "lines": [{**KETTLE, "quantity": 0}]})
        assert bad.status_code == 400
        assert "lines[0].quantity" in bad.get_json()["error"]
    finally:
        namespace["bus"].close()


def test_django_views_sync_and_async_call_the_bus(shop):
    """web_django.py's views, routed by a minimal Django project in a fresh process."""
    result = run_in_snippets(
        """
        import django
        from django.conf import settings
        from django.urls import path

        settings.configure(
            ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"], SECRET_KEY="test",
            MIDDLEWARE=[], INSTALLED_APPS=[],
        )
        django.setup()
        import web_django

        urlpatterns = [
            path("orders", web_django.place_order),
            path("warranty/<str:serial>", web_django.is_covered),
        ]

        import json, time
        from django.test import Client

        client = Client()
        kettle = {"sku": "KETTLE-1", "quantity": 1, "unit_price": "39.90", "serial": "SN-78"}
        for body in ({"customer": "bob@example.com", "lines": [kettle]},
                     {"customer": "bob@example.com", "lines": [{**kettle, "quantity": 0}]}):
            response = client.post("/orders", json.dumps(body), content_type="application/json")
            print(response.status_code, sorted(json.loads(response.content)))
        deadline = time.monotonic() + 10
        while True:
            covered = json.loads(client.get("/warranty/SN-78").content)["covered"]
            if covered or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        print("covered", covered)
        print(client.get("/orders").status_code)  # GET is not allowed
        web_django.bus.close()
        """,
        shop,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "201 ['order_id']", "400 ['error']", "covered True", "405",
    ]  # fmt: skip


def test_a_fastapi_app_calls_the_bus_with_the_async_api(shop):
    """web_fastapi.py, under FastAPI's test client (its lifespan included)."""
    from fastapi.testclient import TestClient

    namespace = runpy.run_path(str(SNIPPETS / "web_fastapi.py"))
    with TestClient(namespace["app"]) as client:
        placed = client.post("/orders", json={"customer": "cho@example.com", "lines": [KETTLE]})
        assert (placed.status_code, placed.json()) == (201, {"order_id": 40})
        covered = wait_until(lambda: client.get("/warranty/SN-77").json()["covered"])
        assert covered is True
        bad = client.post("/orders", json={"customer": "x", "lines": [{**KETTLE, "quantity": 0}]})
        assert bad.status_code == 400
        assert "lines[0].quantity" in bad.json()["detail"]


# ------------------------------------------------------------------ production workers


def test_the_systemd_unit_runs_a_worker_that_stops_within_its_timeout(worker_env):
    """company-sales@.service: its ExecStart, with its environment, as systemd would run
    instance 1 (our Redis in place of the EnvironmentFile's), stops on its KillSignal with
    status 0 well within TimeoutStopSec."""
    import configparser
    import json
    import signal
    import socket
    import time

    from conftest import WorkerProcess

    unit = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    lines = (SNIPPETS / "company-sales@.service").read_text().splitlines()
    unit.read_string("\n".join(line for line in lines if not line.startswith("Environment=")))
    service = unit["Service"]
    specifiers = {"%i": "1", "%H": socket.gethostname()}
    env = worker_env()
    for line in lines:
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            for spec, real in specifiers.items():
                value = value.replace(spec, real)
            env[name] = value
    grace = float(env["LIGHTBUS_SHUTDOWN_GRACE"])
    timeout = float(service["TimeoutStopSec"])
    assert timeout > max(grace, 2) + 3  # the worker's own bound, with room to spare
    assert service["KillSignal"] == "SIGTERM"
    command = service["ExecStart"].split()
    assert command[0].endswith("/bin/lightbus")
    worker = WorkerProcess([sys.executable, "-m", "lightbus", *command[1:]], ROOT, env)
    try:
        worker.wait_for("lightbus: serving")
        assert f"process {socket.gethostname()}-sales-1," in worker.output
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait(timeout) == 0
        assert time.monotonic() - started < max(grace, 2) + 3
    finally:
        worker.stop()
    logged = [json.loads(line) for line in worker.lines if line.startswith("{")]
    assert any(record["message"] == "Stopping: SIGTERM" for record in logged), worker.output

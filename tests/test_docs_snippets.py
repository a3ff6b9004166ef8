"""The snippet files that the how-to pages include (docs/snippets/) run and do what the
pages say. Snippets of the trace pages are run by tests/test_trace_docs.py, the quick
start's by tests/test_quickstart.py."""

from __future__ import annotations

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
        return [line for line in worker.lines if line.startswith("receipt")]

    wait_until(lambda: len(receipts()) >= 5)
    assert sorted(receipts()) == sorted(
        f"receipt for {order}\n"
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
    namespace: dict[str, object] = {}
    exec((SNIPPETS / "redis_password.py").read_text(), namespace)
    url = str(namespace["redis_url"])
    assert url == "redis://app:s3cr%2Ft%2Bk3y%3F%23@redis.internal:6379/0"
    lightbus.Settings(redis_url=url)
    with pytest.raises(lightbus.ConfigError):
        lightbus.Settings(redis_url=f"redis://app:{namespace['password']}@redis.internal:6379/0")

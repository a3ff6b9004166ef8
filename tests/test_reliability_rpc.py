"""RPC under faults: a worker dying mid-call, expired calls, duplicates, unreadable calls."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from faults import BUS_SOURCE, nest, producer, raw_message, read_log, trace_records, worker_env
from support import wait_until

import lightbus
from lightbus import Api
from lightbus.message import Message, now_ms

pytestmark = pytest.mark.reliability

QUEUE = "lightbus:rpc:jobs"


def _calls(folder) -> list[int]:
    return [line.n for line in read_log(folder) if line.what == "call"]


def test_a_call_whose_worker_dies_mid_call_gets_rpc_timeout_at_its_deadline(
    project, start_worker, redis_url
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env())
    bus = producer(redis_url)
    outcome: list[BaseException] = []
    began = time.monotonic()

    def call() -> None:
        try:
            bus.jobs.slow(n=1, seconds=30, bus_options={"timeout": 2.0})
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(lambda: _calls(folder))
    worker.proc.kill()
    thread.join(10)
    took = time.monotonic() - began
    bus.close()
    assert len(outcome) == 1 and isinstance(outcome[0], lightbus.RpcTimeout)
    assert "jobs.slow got no result within 2s" in str(outcome[0])
    assert 1.9 < took < 4.0, took  # at its deadline: not a hang, not early


def test_a_call_whose_deadline_passed_before_a_worker_reached_it_is_skipped(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    bus = producer(redis_url)
    with pytest.raises(lightbus.RpcTimeout):
        bus.jobs.slow(n=5, bus_options={"timeout": 0.3})
    bus.close()
    (called,) = trace_records(raw_redis, "rpc.called")
    start_worker(folder, **worker_env())
    wait_until(lambda: trace_records(raw_redis, "rpc.expired"))
    (expired,) = trace_records(raw_redis, "rpc.expired")
    assert expired.id == called.id and expired.status == "expired"
    assert raw_redis.llen(QUEUE) == 0
    assert _calls(folder) == []  # never ran
    assert not trace_records(raw_redis, "rpc.handled")


def _push_call(bus, raw_redis, copies: int, *, n: int, seconds: float, deadline_in: float):
    """Push ``copies`` identical copies of one call, as a re-sent pipeline would."""
    message = bus.client.make_message(
        "rpc",
        "jobs",
        "slow",
        kwargs={"n": n, "seconds": seconds},
        deadline=now_ms() + int(deadline_in * 1000),
        reply_to="lightbus:reply:test:nobody",
    )
    raw_redis.rpush(QUEUE, *[message.to_json()] * copies)
    return message


def test_a_duplicate_delivered_after_the_deadline_never_runs(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    # Two workers, one call slot each: each copy of the call goes to a different worker.
    for name in ("a", "b"):
        start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME=name, LIGHTBUS_HANDLER_THREADS="1"))
    bus = producer(redis_url)
    blocker = _push_call(bus, raw_redis, 1, n=1, seconds=1.5, deadline_in=5)
    wait_until(lambda: _calls(folder) == [1])
    # Two copies of a 0.5 s deadline call: one reaches the idle worker at once; the
    # other is popped by the busy worker but waits for its only thread past the deadline.
    dup = _push_call(bus, raw_redis, 2, n=2, seconds=0, deadline_in=0.5)
    wait_until(lambda: trace_records(raw_redis, "rpc.expired"), timeout=10)
    time.sleep(0.3)
    bus.close()
    assert sorted(_calls(folder)) == [1, 2]  # the duplicate ran once, before the deadline
    (expired,) = trace_records(raw_redis, "rpc.expired")
    assert expired.id == dup.id
    handled = {r.id for r in trace_records(raw_redis, "rpc.handled")}
    assert handled == {blocker.id, dup.id}


def test_a_duplicate_reaching_the_same_worker_runs_once(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env())
    bus = producer(redis_url)
    _push_call(bus, raw_redis, 3, n=8, seconds=0, deadline_in=10)
    wait_until(lambda: raw_redis.llen(QUEUE) == 0 and _calls(folder))
    time.sleep(0.3)
    bus.close()
    assert _calls(folder) == [8]
    wait_until(lambda: worker.output.count("Skipped a second copy") == 2)


def test_sigterm_during_a_call_finishes_it_and_answers(project, start_worker, redis_url):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env())
    bus = producer(redis_url)
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(bus.jobs.slow(n=6, seconds=1.0)))
    thread.start()
    wait_until(lambda: _calls(folder))
    worker.proc.send_signal(signal.SIGTERM)
    thread.join(10)
    assert results == [6]  # the caller got its answer
    assert worker.wait() == 0
    bus.close()


def test_a_call_the_worker_cannot_read_gets_an_error_reply_and_the_worker_serves_on(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env())
    bus = producer(redis_url)

    def call(what: str, arguments: bytes, **fields) -> bytes:
        return raw_message(
            bus.client,
            "rpc",
            "jobs",
            "echo",
            arguments,
            id=f"call-{what}",
            reply_to=f"lightbus:reply:test:{what}",
            deadline=now_ms() + 10_000,
            **fields,
        )

    raw_redis.rpush(
        QUEUE,
        b"\xff not a message at all",  # nobody to answer: logged, and the server goes on
        call("recursion", b'{"text": ' + nest(1000) + b"}"),
        call("large", b'{"text": "' + b"x" * 1_500_000 + b'"}'),
        call("newer", b'{"text": "hi"}', v=2),
    )
    expected = {
        "recursion": "lightbus.errors.PayloadTooDeep",
        "large": "lightbus.errors.PayloadTooLarge",
        "newer": "lightbus.limits.UnsupportedVersion",
    }
    for what, error_type in expected.items():
        item = raw_redis.blpop([f"lightbus:reply:test:{what}"], timeout=10)
        assert item is not None, f"no reply to the {what} call:\n{worker.output}"
        reply = Message.from_json(item[1])
        assert reply.causation_id == f"call-{what}" and reply.kind == "result"
        assert reply.error is not None and reply.error.type == error_type, reply.error
        if what != "newer":
            assert reply.error.message.startswith("jobs.echo: the ")
    assert bus.jobs.echo(text="still serving") == "still serving"
    assert worker.output.count("Refused an RPC call that cannot be read") == 4
    failed = [r for r in trace_records(raw_redis, "rpc.failed") if r.id.startswith("call-")]
    assert {r.id for r in failed} == {f"call-{what}" for what in expected}
    bus.close()


class DeepApi(Api):
    class Meta:
        name = "deep"

    async def build(self, levels: int):
        value: object = 1
        for _ in range(levels):
            value = [value]
        return value


async def test_a_result_nested_too_deep_comes_back_as_an_error(serve, caller):
    await serve(DeepApi())
    bus = caller()
    assert await bus.deep.build.call_async(levels=3) == [[[1]]]
    for levels in (150, 5000):
        with pytest.raises(lightbus.RemoteError) as info:
            await bus.deep.build.call_async(levels=levels)
        assert info.value.remote_type == "lightbus.errors.PayloadTooDeep"
        assert "deep.build" in info.value.remote_message
    assert await bus.deep.build.call_async(levels=3) == [[[1]]]

"""`lightbus replay` and `lightbus deadletters` against a real Redis and a real worker."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import wait_until

import lightbus
from lightbus import tracing

SHOP = """
    import os
    from pathlib import Path
    import lightbus
    from lightbus import Api, Event, Parameter

    HERE = Path(__file__).parent

    class ShopApi(Api):
        placed = Event(parameters=(Parameter("order", str), Parameter("qty", int)))

        class Meta:
            name = "shop"

        def add(self, a: int, b: int = 0) -> int:
            return a + b

        def replaying(self) -> str:
            return lightbus.current_trace().replay_of or "-"

        def login(self, user: str, password: str) -> str:
            return f"{user}:{len(password)}"

    bus = lightbus.create()
    bus.client.register_api(ShopApi())

    def note(line):
        with open(HERE / "handled.log", "a") as log:
            log.write(line + "\\n")

    def audit(event, order, qty):
        if qty > 5 and not (HERE / "fixed").exists():
            raise RuntimeError(f"{qty} is too many")
        note(f"audit {event.id} {event.replay_of or '-'} {order}")

    def mail(event, order, qty):
        note(f"mail {event.id} {event.replay_of or '-'} {order}")

    @bus.client.on_start()
    def start(**_):
        bus.shop.placed.listen(audit, listener_name="audit", max_attempts=1)
        bus.shop.placed.listen(mail, listener_name="mail")
"""

MESSAGE = re.compile(r"message ([0-9a-f]{32})")
SENT = re.compile(r"sent replay ([0-9a-f]{32})")


@pytest.fixture
def shop(project, worker_env, start_worker):
    folder = project(SHOP)
    worker = start_worker(folder, LIGHTBUS_RETRY_BACKOFF="0.05")

    def lightbus_(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lightbus", *args],
            cwd=folder,
            env=worker_env(**env),
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )

    lightbus_.folder = folder
    lightbus_.worker = worker
    lightbus_.popen = lambda *args: subprocess.Popen(
        [sys.executable, "-m", "lightbus", *args],
        cwd=folder,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return lightbus_


def handled(folder: Path) -> list[list[str]]:
    log = folder / "handled.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def fire(shop, order: str, qty: int) -> str:
    result = shop("fire", "shop.placed", f"order={order}", f"qty={qty}", "--wait")
    return MESSAGE.search(result.stderr + result.stdout).group(1)


def records(redis_url: str, step: str) -> list[lightbus.TraceRecord]:
    async def read() -> list[lightbus.TraceRecord]:
        bus = lightbus.create(redis_url=redis_url)
        try:
            return [r async for r in tracing.read_trace(bus, step=step)]
        finally:
            await bus.client.close()

    return asyncio.run(read())


def test_event_replayed_to_every_listener_then_to_one(shop, redis_url, raw_redis):
    original = fire(shop, "o1", 1)
    wait_until(lambda: len(handled(shop.folder)) == 2)
    result = shop("replay", original, "--yes", "--reason", "testing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "to: every listener: default.audit, default.mail" in result.stdout
    assert "default.audit: handled" in result.stdout and "default.mail: handled" in result.stdout
    first = SENT.search(result.stdout).group(1)
    assert sorted(x[0] for x in handled(shop.folder) if x[1] == first) == ["audit", "mail"]
    assert all(x[2] == original for x in handled(shop.folder) if x[1] == first)

    # One listener: a shortened id, only mail runs; audit's group acks it unseen.
    result = shop("replay", original[-8:], "--yes", "--listener", "mail")
    assert result.returncode == 0, result.stdout + result.stderr
    second = SENT.search(result.stdout).group(1)
    assert "to: listener default.mail only" in result.stdout
    stream = "lightbus:event:shop.placed"

    def audit_done() -> bool:
        group = next(g for g in raw_redis.xinfo_groups(stream) if g["name"] == b"default.audit")
        return (
            group["pending"] == 0
            and group["last-delivered-id"] == raw_redis.xinfo_stream(stream)["last-generated-id"]
        )

    wait_until(audit_done)
    assert [x[0] for x in handled(shop.folder) if x[1] == second] == ["mail"]
    performed = records(redis_url, tracing.REPLAY_PERFORMED)
    assert [(r.id, r.replay_of, r.to) for r in performed] == [
        (first, original, ""),
        (second, original, "default.mail"),
    ]
    assert performed[0].detail["reason"] == "testing" and "@" in performed[0].detail["by"]

    # Linked both ways in `lightbus trace`: from the original and from a replay.
    for shown in (original, second):
        tree = shop("trace", shown)
        assert tree.returncode == 0, tree.stderr
        assert f"replay of {original}" in tree.stdout
        assert first in tree.stdout and second in tree.stdout


def test_rpc_replayed_with_compare(shop):
    called = shop("call", "shop.add", "a=2", "b=3")
    original = MESSAGE.search(called.stderr).group(1)
    result = shop("replay", original, "--yes", "--compare")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: 5" in result.stdout and "recorded: 5" in result.stdout
    assert "same as recorded" in result.stdout
    new = SENT.search(result.stdout).group(1)
    tree = shop("trace", new)
    assert f"replay of {original}" in tree.stdout
    # The RPC method sees that it serves a replay, and of what.
    called = shop("call", "shop.replaying")
    assert called.stdout == '"-"\n', called.stderr
    original = MESSAGE.search(called.stderr).group(1)
    result = shop("replay", original, "--yes", "--compare")
    assert f'result: "{original}"' in result.stdout and 'recorded: "-"' in result.stdout
    assert "differs from recorded" in result.stdout and result.returncode == 0


def test_dry_run_sends_nothing(shop, raw_redis, redis_url):
    original = fire(shop, "o1", 1)
    length = raw_redis.xlen("lightbus:event:shop.placed")
    result = shop("replay", original, "--dry-run")
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout.split("envelope: ")[1].splitlines()[0])
    assert envelope["replay_of"] == original and envelope["kind"] == "event"
    assert '"order": "o1"' in result.stdout and "dry run: nothing sent" in result.stdout
    assert raw_redis.xlen("lightbus:event:shop.placed") == length
    assert records(redis_url, tracing.REPLAY_PERFORMED) == []


def test_edited_replay_is_validated_diffed_and_marked(shop, redis_url, tmp_path):
    original = fire(shop, "o1", 1)
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import json, sys\n"
        "data = json.load(open(sys.argv[2]))\n"
        "data.update(json.loads(sys.argv[1]))\n"
        "json.dump(data, open(sys.argv[2], 'w'), indent=2, sort_keys=True)\n"
    )
    edit = f"{sys.executable} {editor} " + "'{}'"
    bad = shop("replay", original, "--edit", "--yes", EDITOR=edit.replace("{}", '{"qty": "x"}'))
    assert bad.returncode == 2 and "does not validate" in bad.stderr, bad.stderr
    good = shop("replay", original, "--edit", "--yes", EDITOR=edit.replace("{}", '{"order": "o2"}'))
    assert good.returncode == 0, good.stdout + good.stderr
    assert '-  "order": "o1"' in good.stdout and "edited: yes" in good.stdout
    new = SENT.search(good.stdout).group(1)
    assert ["mail", new, original, "o2"] in handled(shop.folder)
    [performed] = records(redis_url, tracing.REPLAY_PERFORMED)
    assert performed.detail["edited"] is True


def test_refusals_send_nothing(shop, raw_redis, redis_url):
    unknown = shop("replay", "0" * 32, "--yes")
    assert unknown.returncode == 2 and "Nothing to replay" in unknown.stderr
    original = fire(shop, "o1", 1)
    listener = shop("replay", original, "--yes", "--listener", "nobody")
    assert listener.returncode == 2
    assert "no such listener" in listener.stderr
    assert "default.audit, default.mail" in listener.stderr
    rpc = MESSAGE.search(shop("call", "shop.add", "a=1").stderr).group(1)
    listened = shop("replay", rpc, "--yes", "--listener", "audit")
    assert listened.returncode == 2 and "without --listener" in listened.stderr
    both = shop("replay", original, "--since", "1h")
    assert both.returncode == 2 and "not both" in both.stderr
    named = shop("replay", "--name", "placed")
    assert named.returncode == 2 and "--name needs --api" in named.stderr
    # No terminal and no --yes: refused.
    asked = shop("replay", original)
    assert asked.returncode == 2 and "pass --yes" in asked.stderr
    # A payload that no longer validates (written by an older firer).
    stale = lightbus.Message(
        id=_new_id(),
        kind="event",
        api="shop",
        name="placed",
        trace_id="a" * 32,
        span_id="b" * 16,
        kwargs={"order": "o9", "qty": "many"},
    )
    raw_redis.xadd("lightbus:event:shop.placed", stale.to_fields())
    invalid = shop("replay", stale.id, "--yes")
    assert invalid.returncode == 2 and "does not validate" in invalid.stderr, invalid.stderr
    # A redacted payload; an empty secret is kept as it is, and replays.
    secret = shop("call", "shop.login", "user=ann", "password=hunter2")
    empty = shop("call", "shop.login", "user=bob", "password=")
    redacted = shop("replay", MESSAGE.search(secret.stderr).group(1), "--yes")
    assert redacted.returncode == 2 and "redacted" in redacted.stderr
    assert "--edit" in redacted.stderr
    kept = shop("replay", MESSAGE.search(empty.stderr).group(1), "--yes")
    assert kept.returncode == 0 and 'result: "bob:0"' in kept.stdout, kept.stdout + kept.stderr
    # A truncated payload (the caller kept 100 bytes of it in the trace).
    long = shop(
        "call", "shop.login", "user=" + "x" * 500, "password=", LIGHTBUS_TRACE_PAYLOAD_BYTES="100"
    )
    truncated = shop("replay", MESSAGE.search(long.stderr).group(1), "--yes")
    assert truncated.returncode == 2 and "truncated" in truncated.stderr, truncated.stderr
    # An RPC no live worker serves.
    called = MESSAGE.search(shop("call", "shop.add", "a=1").stderr).group(1)
    shop.worker.stop()
    served = shop("replay", called, "--yes")
    assert served.returncode == 2 and "No live worker serves shop" in served.stderr
    assert records(redis_url, tracing.REPLAY_PERFORMED)[-1].replay_of != called


def test_dead_letters_shown_and_purged_after_confirmation(shop, raw_redis):
    original = fire(shop, "big", 9)
    wait_until(lambda: raw_redis.xlen("lightbus:dead:shop.placed") == 1)
    shown = shop("deadletters", "show", original)
    assert shown.returncode == 0, shown.stderr
    assert "listener: default.audit after 1 attempts" in shown.stdout
    assert "RuntimeError: 9 is too many" in shown.stdout and '"order": "big"' in shown.stdout
    unknown = shop("deadletters", "show", "0-1")
    assert unknown.returncode == 2 and "no dead letter has the id 0-1" in unknown.stderr
    asked = shop("deadletters", "purge", "--api", "shop", "--name", "placed")
    assert asked.returncode == 2 and "pass --yes" in asked.stderr
    assert raw_redis.xlen("lightbus:dead:shop.placed") == 1
    purged = shop("deadletters", "purge", "--api", "shop", "--name", "placed", "--yes")
    assert purged.returncode == 0 and "deleted 1 dead letters" in purged.stdout
    assert raw_redis.exists("lightbus:dead:shop.placed") == 0
    assert "no dead letters" in shop("deadletters").stdout


def _new_id() -> str:
    from lightbus import ids

    return ids.message_id()


def test_range_replay_of_failed_events_after_the_fix(shop):
    originals = [fire(shop, f"big{i}", 9) for i in range(5)]
    assert handled(shop.folder) and all(x[0] == "mail" for x in handled(shop.folder))
    (shop.folder / "fixed").touch()
    result = shop("replay", "--since", "10m", "--status", "failed", "--listener", "audit", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 to replay" in result.stdout and "shop.placed: 5" in result.stdout
    wait_until(lambda: len([x for x in handled(shop.folder) if x[0] == "audit"]) == 5)
    assert sorted(x[2] for x in handled(shop.folder) if x[0] == "audit") == sorted(originals)


def test_dead_letter_redrive_stopped_and_resumed(shop, raw_redis, redis_url):
    async def fire_many() -> None:
        bus = lightbus.create(redis_url=redis_url)
        try:
            await bus.client.fire_many(
                "shop", "placed", [{"order": f"n{i}", "qty": 9} for i in range(1000)]
            )
        finally:
            await bus.client.close()

    asyncio.run(fire_many())
    wait_until(lambda: raw_redis.xlen("lightbus:dead:shop.placed") == 1000, timeout=120)
    listing = shop("deadletters", "--output", "json")
    [row] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (row["group"], row["error_type"]) == ("default.audit", "RuntimeError")
    assert row["count"] == 1000
    (shop.folder / "fixed").touch()
    marks = "lightbus:redriven:shop.placed"
    first = shop.popen("deadletters", "replay", "--rate", "100", "--yes", "--listener", "audit")
    wait_until(lambda: raw_redis.hlen(marks) >= 500, timeout=60)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, out + err
    stopped = int(re.search(r"stopped: sent (\d+) of 1000", out).group(1))
    assert 500 <= stopped < 1000 and raw_redis.hlen(marks) == stopped
    second = shop("deadletters", "replay", "--yes")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"sent {1000 - stopped} of {1000 - stopped}" in second.stdout
    assert raw_redis.hlen(marks) == 1000
    wait_until(lambda: len([x for x in handled(shop.folder) if x[0] == "audit"]) >= 1000, 120)
    audits = [x for x in handled(shop.folder) if x[0] == "audit"]
    assert len(audits) == 1000 and len({x[2] for x in audits}) == 1000
    again = shop("deadletters", "replay", "--yes")
    assert "nothing to redrive" in again.stdout and again.stdout.count("already redriven") == 1000
    [row] = [json.loads(x) for x in shop("deadletters", "--output", "json").stdout.splitlines()]
    assert row["redriven"] == 1000

"""examples/company end to end: `python -m examples.company` as its README says, real processes.

One run of the whole company (six workers on their own embedded Redis, the shop and its
customers) is shared by the tests of this module: what it prints, the README's walk to
"why did order 42 not reserve its parts?", and the picture of that trace in the docs.

Refresh the picture after an intended change of `lightbus trace`'s output or of the
example with `UPDATE_GOLDEN=1 python -m pytest tests/test_company_example.py`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, WorkerProcess
from devtools import dev_env, state
from rich.console import Console
from rich.text import Text

README = ROOT / "examples" / "company" / "README.md"
PICTURE = ROOT / "docs" / "assets" / "order-42-trace.svg"
GOLDEN_TREE = ROOT / "tests" / "golden" / "order-42-trace.txt"
SECONDS = 8


class Run:
    def __init__(self, folder: Path, result: subprocess.CompletedProcess[str]) -> None:
        self.folder = folder
        self.output = result.stdout + result.stderr
        self.returncode = result.returncode

    def lightbus(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A `lightbus` command in the run's folder, as a second terminal would run it."""
        return subprocess.run(
            [sys.executable, "-m", "lightbus", *args],
            cwd=self.folder, env=dev_env(**env), capture_output=True, text=True, timeout=30,
        )  # fmt: skip


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("company")
    result = subprocess.run(
        [sys.executable, "-m", "examples.company", "--seconds", str(SECONDS), "--keep"],
        cwd=folder, env=dev_env(), capture_output=True, text=True, timeout=SECONDS + 40,
    )  # fmt: skip
    run = Run(folder, result)
    yield run
    run.lightbus("embedded", "stop")
    assert state(folder) is None


def test_the_company_runs_every_app_and_stops(company):
    out = company.output
    assert company.returncode == 0, out
    assert re.search(r"company: embedded Redis \S+ \S+ at redis://127\.0\.0\.1:\d+/0", out), out
    apis = {"sales": "sales", "warranty": "warranty", "parts": "company.parts"}
    apis |= {"mailer": "mail", "support": "support", "report": "reports"}
    for app, api in apis.items():
        assert re.search(rf"\d\d:\d\d:\d\d {app} +serving APIs {re.escape(api)} ", out), app
    # Orders flow to every listener of sales.order_placed; each line names its message.
    assert re.search(r"shop +order 40 placed for ann@example\.com \(web\)", out)
    assert re.search(r"warranty +order 40: SN-4000 registered until \d{4}-\d\d-\d\d", out)
    assert re.search(
        r"parts +order 40: reserved 1 x KETTLE-1, 2 x FILTER-S +\[message \w{12}\]", out
    )
    # Order 42 cannot reserve its parts: three attempts, then a dead letter.
    for attempt in (1, 2, 3):
        assert f"attempt {attempt}/3): OutOfStock: order 42 needs 1 x GASKET-9, 0 in stock" in out
    assert re.search(r"parts +Dead-lettered .* order 42 needs 1 x GASKET-9", out)
    # The mail relay drops a first attempt; the retry sends it.
    assert re.search(r"RelayUnavailable: .*'Your order 43'", out)
    assert re.search(r"mailer +sent 'Your order 43' to dee@example\.com \(attempt 2\)", out)
    # Support calls warranty and parts; a malformed serial fails at warranty and says so.
    assert "support answers: FILTER-S is on its way, free of charge" in out
    assert "support answers: SN-0999 is not under warranty; ELEMENT-2K can be ordered." in out
    assert re.search(r"support failed: .*ValueError: '12-34' is not a serial number", out)
    # The schedule ran (every 5 s here), once per tick.
    reports = re.findall(r"report +report: (\d+) order\(s\), [\d.]+ EUR; low stock: GASKET-9", out)
    assert reports, out
    assert len(reports) == len(set(reports)) or len(reports) <= SECONDS // 5 + 1
    assert "Scheduled function" not in out  # no tick failed, not even while stopping
    assert re.search(r"company: closed after \d+ order\(s\)", out)
    assert "Traceback" not in out


def test_ctrl_c_closes_the_company_and_counts_the_orders_it_placed(tmp_path):
    # The tutorials stop the company with Ctrl-C; its last line counts what the shop did.
    command = [sys.executable, "-m", "examples.company"]
    run = WorkerProcess(command, tmp_path, dev_env())
    try:
        run.wait_for("shop      order 41 placed", timeout=60)
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(40) == 0, run.output
    finally:
        run.stop()
    closed = re.search(r"company: closed after (\d+) order\(s\)", run.output)
    assert closed and int(closed[1]) >= 2, run.output
    assert state(tmp_path) is None  # without --keep, the embedded Redis went too


def walk_commands() -> list[list[str]]:
    """The `$ lightbus ...` lines of the README's order-42 walk, in order."""
    text = README.read_text()
    section = text.split("## Why did order 42 not reserve its parts?", 1)[1].split("\n## ", 1)[0]
    return [shlex.split(line[2:]) for line in section.splitlines() if line.startswith("$ lightbus")]


def test_why_order_42_did_not_reserve_its_parts_as_the_readme_walks_it(company):
    commands = walk_commands()
    assert [c[:2] for c in commands] == [
        ["lightbus", "inspect"], ["lightbus", "trace"], ["lightbus", "inspect"],
    ]  # fmt: skip
    # 1. What gave up: one dead letter, order 42's event, with the listener's error.
    listed = company.lightbus(*commands[0][1:], "--json")
    assert listed.returncode == 0, listed.stderr
    [dead] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (dead["api"], dead["name"], dead["listener"]) == (
        "sales",
        "order_placed",
        "reserve_parts",
    )
    assert dead["error"] == "order 42 needs 1 x GASKET-9, 0 in stock"
    short = dead["id"][-12:]  # as the table prints it
    table = company.lightbus(*commands[0][1:], COLUMNS="200")
    assert short in table.stdout and "OutOfStock: order 42 needs" in table.stdout
    # 2. Its trace, from the id as printed: the shop's call, then what each listener did.
    tree = company.lightbus(*with_id(commands[1], short)[1:], COLUMNS="120")
    assert tree.returncode == 0, tree.stderr
    text = tree.stdout
    assert re.search(r"rpc sales\.place_order ok +from shop", text)
    assert re.search(r"event sales\.order_placed dead +from sales .*◀", text)
    assert re.search(r"listener reserve_parts: dead \(attempt 3\)", text)
    assert "OutOfStock: order 42 needs 1 x GASKET-9, 0 in stock" in text
    assert re.search(r"listener register_warranty: ok", text)
    assert re.search(r"event warranty\.registered ok +from warranty", text)
    assert re.search(r"event mail\.email_queued ok +from mailer", text)
    # 3. The event's records, with the order in the payload of `event.fired`.
    records = company.lightbus(*with_id(commands[2], short)[1:])
    assert records.returncode == 0, records.stderr
    lines = [json.loads(line) for line in records.stdout.splitlines()]
    steps = [r["record"] for r in lines]
    assert steps.count("event.failed") == 3 and "event.dead_lettered" in steps
    fired = next(r for r in lines if r["record"] == "event.fired")
    payload = json.loads(fired["payload"])
    assert payload["order_id"] == 42
    assert {"sku": "GASKET-9", "quantity": 1, "unit_price": "3.20"} in [
        {k: line[k] for k in ("sku", "quantity", "unit_price")} for line in payload["lines"]
    ]


def with_id(command: list[str], message_id: str) -> list[str]:
    """The README's command with its example id replaced by this run's."""
    return [message_id if re.fullmatch(r"[0-9a-f]{12}", word) else word for word in command]


# ---------------------------------------------------------------- the picture in the docs

IDS = re.compile(r"\b[0-9a-f]{12,32}\b")
TIMES = re.compile(r"\b\d+(?:\.\d+)? (?:ms|s)\b")
GUIDES = str.maketrans({"│": " ", "├": "+", "└": "+"})


def shape(plain: str) -> list[str]:
    """The tree's lines without what changes from run to run (ids, times), at their depth,
    sorted: siblings come in the order they were sent or first reported, which varies
    between apps, and with it which one is drawn last."""
    lines = [TIMES.sub("<time>", IDS.sub("<id>", line.rstrip())) for line in plain.splitlines()]
    return sorted(line.translate(GUIDES) for line in lines if line)


def test_the_picture_of_order_42s_trace_is_current(company):
    listed = company.lightbus("inspect", "--step", "event.dead_lettered", "--json")
    [dead] = [json.loads(line) for line in listed.stdout.splitlines()]
    tree = company.lightbus("trace", dead["id"][-12:], FORCE_COLOR="1", COLUMNS="96")
    assert tree.returncode == 0, tree.stderr
    rendered = Text.from_ansi(tree.stdout)
    lines = shape(rendered.plain)
    fingerprint = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    if os.environ.get("UPDATE_GOLDEN"):
        console = Console(record=True, width=96, file=io.StringIO(), force_terminal=True)
        console.print(rendered)
        svg = console.export_svg(title=f"lightbus trace {dead['id'][-12:]}")
        PICTURE.parent.mkdir(parents=True, exist_ok=True)
        PICTURE.write_text(svg.replace("<svg ", f"<!-- tree {fingerprint} -->\n<svg ", 1))
        GOLDEN_TREE.write_text("\n".join(lines) + "\n")
    assert lines == GOLDEN_TREE.read_text().splitlines(), (
        "lightbus trace shows order 42 differently: rerun with UPDATE_GOLDEN=1 if intended"
    )
    assert f"<!-- tree {fingerprint} -->" in PICTURE.read_text(), "the picture is not this tree"


async def test_the_monitor_tutorial_walks_to_order_42_on_the_company(company):
    """docs/tutorial/monitor.md's walk in the monitor, on the company's own records.

    The filter of step 4 keeps what did not go well, order 42's dead letter among it; its
    message (step 5) says which listener gave up and why, and what caused it; its trace
    (step 6) has the shop's call, the event and each listener.
    """
    from monitor_pilot import make_monitor, press, rows, select_record, until, until_shown

    from lightbus_tools.monitor.screens.live import LiveScreen
    from lightbus_tools.monitor.screens.message import MessageScreen
    from lightbus_tools.monitor.screens.trace import TraceScreen

    page = (ROOT / "docs" / "tutorial" / "monitor.md").read_text()
    assert "```text\n-status:ok\n```" in page
    running = state(company.folder)
    assert running is not None, company.output
    app = make_monitor(running["url"])
    async with app.run_test(size=(160, 60)) as pilot:
        await until(pilot, lambda: any(r.status == "dead" for r in rows(app)), timeout=20)
        await press(pilot, "slash")
        await pilot.press(*"-status:ok", "enter")
        await until(pilot, lambda: isinstance(app.screen, LiveScreen))
        statuses = {r.status for r in rows(app)}
        assert "ok" not in statuses and {"dead", "error"} <= statuses, statuses
        dead = next(r for r in rows(app) if r.status == "dead")
        await select_record(pilot, dead)
        await press(pilot, "enter")
        assert isinstance(app.screen, MessageScreen)
        text = await until_shown(pilot, "event sales.order_placed", "reserve_parts")
        assert "OutOfStock: order 42 needs 1 x GASKET-9" in text
        assert "rpc sales.place_order" in text  # what caused it
        await press(pilot, "t")
        assert isinstance(app.screen, TraceScreen)
        text = await until_shown(pilot, "rpc sales.place_order", "reserve_parts: dead")
        assert "register_warranty: ok" in text

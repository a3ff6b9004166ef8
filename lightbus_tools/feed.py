"""The live trace feed of ``lightbus dev`` and the demo: one readable line per step.

A background thread follows the trace stream through the runtime's public reader
(:meth:`lightbus.TraceReader.follow`, then :func:`lightbus.read_trace` for what was
written just before the stop) and prints each record with rich. Failures show their
error, replays say what they replay, and worker starts, stops and reloads stand out.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import datetime

from rich.console import Console
from rich.text import Text

from lightbus import BusClient, BusConnectionError, Settings, TraceReader, TraceRecord, read_trace
from lightbus import tracing as trace

PAYLOAD_CHARS = 60

# step -> (mark, style)
_LOOK: dict[str, tuple[str, str]] = {
    trace.EVENT_FIRED: ("→", "cyan"),
    trace.EVENT_RELEASED: ("⇢", "cyan"),
    trace.EVENT_HANDLED: ("✓", "green"),
    trace.EVENT_FAILED: ("✗", "bold red"),
    trace.EVENT_DEAD_LETTERED: ("☠", "bold red"),
    trace.RPC_CALLED: ("→", "blue"),
    trace.RPC_HANDLED: ("✓", "green"),
    trace.RPC_FAILED: ("✗", "bold red"),
    trace.RPC_EXPIRED: ("⌛", "bold red"),
    trace.RPC_RETURNED: ("←", "blue"),
    trace.WORKER_STARTED: ("▶", "bold magenta"),
    trace.WORKER_STOPPED: ("■", "magenta"),
    trace.WORKER_RELOADED: ("⟳", "bold yellow"),
    trace.REPLAY_PERFORMED: ("↻", "bold yellow"),
    trace.SCHEDULE_RAN: ("⏲", "green"),
    trace.SCHEDULE_FAILED: ("⏲", "bold red"),
}


def describe(record: TraceRecord) -> Text:
    """One line for one trace record."""
    mark, style = _LOOK.get(record.record, ("·", ""))
    failed = record.status not in ("", "ok")
    if failed:
        style = "bold red"
    stamp = datetime.fromtimestamp(record.ts / 1000).strftime("%H:%M:%S.%f")[:-3]
    line = Text()
    line.append(f"{stamp} ", style="dim")
    line.append(f"{mark} {record.record:<20}", style=style)
    if record.kind == "worker":
        line.append(f"{record.service}/{record.process} pid {record.pid}")
        line.append(_worker_detail(record), style=style)
        return line
    line.append(f"{record.api}.{record.name}", style="bold")
    if record.listener:
        line.append(f" [{record.listener}]", style="dim")
    if record.attempt > 1:
        line.append(f" attempt {record.attempt}", style="yellow")
    if record.duration_ms:
        line.append(f" {record.duration_ms:.1f} ms", style="dim")
    if failed and (record.error_type or record.error):
        line.append(f"  {record.error_type}: {record.error}".rstrip(": "), style="red")
    elif failed:
        line.append(f"  {record.status}", style="red")
    elif record.payload and record.payload not in ("{}", "null"):
        payload = record.payload
        if len(payload) > PAYLOAD_CHARS:
            payload = payload[: PAYLOAD_CHARS - 1] + "…"
        line.append(f"  {payload}", style="dim")
    if record.replay_of:
        line.append(f"  (replay of {record.replay_of})", style="bold yellow")
    line.append(f"  {record.service}/{record.process}", style="dim")
    if record.handled_by and record.handled_by != record.process:
        line.append(f" → {record.handled_by}", style="dim")
    return line


def _worker_detail(record: TraceRecord) -> str:
    detail = record.detail or {}
    if record.record == trace.WORKER_RELOADED:
        changed = ", ".join(detail.get("changed", [])) or "files"
        return f"  reloaded: {changed} changed (reload {detail.get('reloads', '?')})"
    if record.record == trace.WORKER_STARTED:
        return f"  serving {', '.join(detail.get('apis', [])) or 'no APIs'}"
    if record.record == trace.WORKER_STOPPED and detail.get("reason"):
        return f"  ({detail['reason']})"
    return ""


class TraceFeed:
    """Prints every new record of the trace stream until stopped."""

    def __init__(self, redis_url: str, console: Console, *, prefix: str = "lightbus") -> None:
        self.client = BusClient(Settings.resolve(redis_url=redis_url, prefix=prefix))
        self.console = console
        # Start at the wall clock, not at "$": records written between now and the first
        # read (a worker starting) are shown too.
        self.last_id = f"{int(time.time() * 1000)}-0"
        self.shown = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lightbus-feed", daemon=True)

    def start(self) -> TraceFeed:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after printing what is already in the stream."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._follow_then_close())

    async def _follow_then_close(self) -> None:
        try:
            await self._follow()
        finally:
            await self.client.close()

    async def _follow(self) -> None:
        reader = TraceReader(self.client)
        while not self._stop.is_set():
            try:
                async for record in reader.follow(after=self.last_id, stop=self._stop.is_set):
                    self._show(record)
            except BusConnectionError as exc:
                if self._stop.is_set():
                    return
                self.console.print(f"lightbus: trace feed: {exc}; retrying", style="red")
                await asyncio.sleep(1.0)
        # What was written just before the stop, after the last blocking read.
        with contextlib.suppress(BusConnectionError):
            async for record in read_trace(self.client, since=_ms(self.last_id)):
                if _after(record.stream_id, self.last_id):
                    self._show(record)

    def _show(self, record: TraceRecord) -> None:
        self.last_id = record.stream_id
        self.shown += 1
        self.console.print(describe(record), soft_wrap=True, highlight=False)


def _ms(stream_id: str) -> int:
    return trace.position(stream_id)[0]


def _after(stream_id: str, last: str) -> bool:
    return trace.is_after(stream_id, last)

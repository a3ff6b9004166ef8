"""The worker: what ``lightbus run`` runs.

It serves the RPCs of every registered API, runs the listeners and the schedules,
publishes heartbeats and schemas, and stops gracefully: on SIGINT or SIGTERM it stops
reading, lets in-flight handlers finish within ``shutdown_grace`` seconds (unfinished
events are handed back for redelivery), and exits 0, within a bound whatever Redis does
(:mod:`lightbus.shutdown`). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

import lightbus
from lightbus import registry, trace
from lightbus.connection import describe, guarded
from lightbus.message import HOST
from lightbus.rpc.server import RpcServer
from lightbus.schedule import run_schedule
from lightbus.schema import schema_hash
from lightbus.shutdown import Stop, record_stop, stop_worker

if TYPE_CHECKING:
    from lightbus.client import BusClient

logger = logging.getLogger("lightbus.worker")


class Worker:
    """Runs a bus client as a worker until stopped."""

    def __init__(self, client: BusClient, *, reloaded: dict[str, Any] | None = None) -> None:
        """``reloaded``: this worker replaces one that a development supervisor stopped
        after a change; the ``worker.reloaded`` record, with this detail, is written with
        the start, so it carries this worker's own service and process."""
        self.client = client
        self.reloaded = reloaded
        self.rpc = RpcServer(client.parts, client.directory, client.envelopes)
        self.started_at = time.time()
        self.ready = asyncio.Event()
        self._signals = 0
        self._clashes_reported: set[tuple[str, str]] = set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals > 1:
            _say("lightbus: second signal, exiting now")
            os._exit(1)
        name = signal.Signals(sig).name
        # Stop first: the output may be a pipe whose reader is gone (a killed supervisor),
        # and a failed print must not keep the worker running.
        self.client.request_stop(name)
        _say(f"lightbus: {name} received, stopping (again to exit at once)")

    async def run(self, *, install_signals: bool = True) -> int:
        """Serve until a signal (or :meth:`BusClient.request_stop`); return the exit code.

        In order: the start hooks run, then the listeners start, then the RPC server, the
        schedules and the heartbeats, so no call or event is served before the hooks have
        prepared what it needs. If anything of the start fails (a hook raises, a listener
        names an event its API lacks), what had started is stopped, the stop is recorded
        and the connections are closed before the error propagates.
        """
        client = self.client
        loop = asyncio.get_running_loop()
        if client.bind(loop) is not loop:
            raise RuntimeError(
                "The bus was used from another event loop before the worker started "
                "(a blocking call at import time?). Make calls from on_start hooks instead."
            )
        client.running_worker = True
        client.stop_requested = asyncio.Event()
        if install_signals:
            self._install_signals()
        tasks: list[asyncio.Task[Any]] = []
        stopped = False
        exporter = None
        try:
            await client.ping()
            if client.settings.prometheus_port:  # the lightbus[prometheus] extra
                from lightbus.prometheus import Exporter

                exporter = Exporter(client)
                exporter.start()
            await self._publish(started=True)
            for hook in client.start_hooks:
                await client.invoke(hook, **_hook_kwargs(hook, client))
            for listener in client.listeners:
                await client.start_listener(listener)
            client.started = True
            if exporter is not None:
                client.spawn(exporter.refresh_backlog(), name="lightbus-prometheus-backlog")
            rpcs = "rpcs" in client.features  # not with lightbus run --skip rpcs
            serving = [client.spawn(self.rpc.serve(), name="lightbus-rpc-server")] if rpcs else []
            stopping = asyncio.Event()
            schedules = [
                client.spawn(
                    run_schedule(client.parts, s, stopping), name=f"lightbus-every-{s.name}"
                )
                for s in client.schedules
                if "tasks" in client.features
            ]
            client.background.start()
            heartbeat = client.spawn(self._heartbeats(), name="lightbus-heartbeat")
            tasks = [*serving, heartbeat, *schedules]
            print(self.describe(), flush=True)
            self.ready.set()
            await client.stop_requested.wait()
            logger.info("Stopping: %s", client.stop_reason)
            stopping.set()
            heartbeat.cancel()
            stop = await stop_worker(
                client, self.rpc, [*serving, heartbeat], schedules, self._stop_hooks
            )
            stopped = True
            fatal = [r.fatal for r in client.runners.values() if r.fatal is not None]
            await stop.within(self._close(), "closing the connections")
            return 1 if fatal or client.background.failed else 0
        finally:
            if not stopped:
                await self._abandon(tasks)
            client.running_worker = client.started = False
            if exporter is not None:
                exporter.close()
            client.invoke.shutdown()  # if closing was cut short: the handler threads' pool

    async def _abandon(self, tasks: list[asyncio.Task[Any]]) -> None:
        """After a failed (or cancelled) start: stop what started, record the stop, close.

        Bounded (``shutdown_grace``): the error that got here is what the caller sees.
        """
        client = self.client
        self.rpc.stop()
        for task in tasks:
            task.cancel()
        if not client.stop_reason:
            client.stop_reason = "the start failed"
        try:
            async with asyncio.timeout(client.settings.shutdown_grace + 1.0):
                await asyncio.gather(*tasks, return_exceptions=True)
                await record_stop(client)
                await self._close()
        except (Exception, asyncio.CancelledError) as exc:
            logger.warning("Cleaning up after the failed start: %s: %r", type(exc).__name__, exc)

    async def _close(self) -> None:
        try:
            await self.client.close()
        except Exception as exc:  # the work is done and handed back; cleanup is best effort
            logger.warning("Closing after the stop failed: %s: %r", type(exc).__name__, exc)

    async def _stop_hooks(self, stop: Stop) -> None:
        client = self.client
        for hook in client.stop_hooks:
            name = getattr(hook, "__name__", repr(hook))
            try:
                await stop.within(
                    client.invoke(hook, **_hook_kwargs(hook, client)), f"on_stop hook {name}"
                )
            except Exception:
                logger.exception("on_stop hook %s raised", name)

    def in_flight(self) -> int:
        return len(self.rpc.in_flight) + sum(r.pool.busy for r in self.client.runners.values())

    def heartbeat(self) -> registry.Heartbeat:
        client = self.client
        return registry.Heartbeat(
            service=client.settings.service_name,
            process=client.settings.process_name,
            host=HOST,
            pid=os.getpid(),
            apis=sorted(client.apis) if "rpcs" in client.features else [],
            listeners=sorted(lst.name for lst in client.listeners),
            version=lightbus.__version__,
            in_flight=self.in_flight(),
            started_at=self.started_at,
            ts=time.time(),
            interval=client.settings.heartbeat_interval,
            schemas={api: schema_hash(client.schemas[api]) for api in sorted(client.apis)},
        )

    async def _publish(self, *, started: bool = False) -> None:
        client = self.client
        async with client.redis.pipeline(transaction=False) as pipe:
            for name, schema in client.schemas.items():
                if name in client.apis:
                    registry.publish_schema(
                        pipe, client.keys, name, schema, client.settings.schema_ttl
                    )
            registry.publish_heartbeat(pipe, client.keys, self.heartbeat())
            if started and self.reloaded is not None:
                client.tracer.add(
                    pipe,
                    client.tracer.worker_record(
                        trace.WORKER_RELOADED, os.getpid(), **self.reloaded
                    ),
                )
            if started:
                record = client.tracer.worker_record(
                    trace.WORKER_STARTED,
                    os.getpid(),
                    apis=sorted(client.apis),
                    version=lightbus.__version__,
                )
                client.tracer.add(pipe, record)
            pipe.hgetall(client.keys.workers)
            results = await guarded(client.settings, pipe.execute())
        self._report_clashes(registry.decode_heartbeats(results[-1]))

    def _report_clashes(self, workers: list[registry.Heartbeat]) -> None:
        """Warn (once per other schema) when a live worker serves one of our APIs differently."""
        for api, by_hash in registry.clashes(workers).items():
            if api not in self.client.apis:
                continue
            for digest, processes in by_hash.items():
                others = [p for p in processes if p != self.client.settings.process_name]
                if not others or (api, digest) in self._clashes_reported:
                    continue
                self._clashes_reported.add((api, digest))
                logger.warning(
                    "API %r is also served by %s with a different schema (%s, ours %s): callers "
                    "are checked against whichever worker published last. Deploy one version, "
                    "or compare them with `lightbus schema check live <file>`.",
                    api,
                    ", ".join(others),
                    digest,
                    schema_hash(self.client.schemas[api]),
                )

    async def _heartbeats(self) -> None:
        interval = self.client.settings.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self._publish()
            except Exception as exc:
                logger.warning("Heartbeat failed: %s", describe(exc))

    def describe(self) -> str:
        client = self.client
        rpcs = sum(len(d.rpcs) for d in client.apis.values())
        events = sum(len(d.events) for d in client.apis.values())
        apis = ", ".join(sorted(client.apis)) or "none"
        listeners = ", ".join(lst.name for lst in client.listeners) or "none"
        schedules = ", ".join(s.name for s in client.schedules) or "none"
        return (
            f"lightbus: serving APIs {apis} ({rpcs} RPCs, {events} events); "
            f"listeners: {listeners}; schedules: {schedules}; "
            f"service {client.settings.service_name}, process {client.settings.process_name}, "
            f"redis {client.settings.redacted_url()}"
        )


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def _hook_kwargs(hook: Any, client: BusClient) -> dict[str, Any]:
    try:
        params = inspect.signature(hook).parameters
    except (TypeError, ValueError):
        return {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {"client": client} if takes_any or "client" in params else {}

"""Prometheus metrics of a worker (the ``lightbus[prometheus]`` extra).

Turned on by the ``prometheus_port`` setting (``LIGHTBUS_PROMETHEUS_PORT=9464``):
``lightbus run`` then serves ``/metrics`` on ``prometheus_address`` (loopback by
default) and its :class:`Exporter` counts, from the same steps the trace stream records:

- ``lightbus_events_handled_total``, ``lightbus_events_failed_total`` (each failed
  attempt), ``lightbus_events_dead_lettered_total`` by ``api``, ``name``, ``listener``;
- ``lightbus_event_handler_duration_seconds`` and ``lightbus_event_queue_seconds``
  (from firing to the handler's start), histograms by the same labels;
- ``lightbus_rpcs_handled_total``, ``lightbus_rpcs_failed_total``,
  ``lightbus_rpcs_expired_total``, ``lightbus_rpc_handler_duration_seconds`` and
  ``lightbus_rpc_queue_seconds`` by ``api`` and ``name``;
- the backlog of this worker's listeners' consumer groups (:func:`lightbus.groups.backlog`,
  read every ``heartbeat_interval``): ``lightbus_backlog_length``, ``lightbus_backlog_lag``,
  ``lightbus_backlog_pending``, ``lightbus_backlog_oldest_pending_seconds``,
  ``lightbus_backlog_highest_attempt`` and ``lightbus_backlog_dead_letters`` by ``api``,
  ``name``, ``group``.

Nothing of prometheus-client is imported unless the setting is on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lightbus import groups, trace
from lightbus.errors import ConfigError
from lightbus.keys import Keys
from lightbus.tracesink import Step

logger = logging.getLogger("lightbus")

EVENT = ("api", "name", "listener")
RPC = ("api", "name")
BACKLOG = ("api", "name", "group")
# Handler durations run from a millisecond to minutes; queue times likewise.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(
            "prometheus_port is set but prometheus-client is not installed: "
            "pip install 'lightbus[prometheus]' (or set prometheus_port = 0)",
            key="prometheus_port",
        ) from None
    return prometheus_client


class Exporter:
    """The metrics of one worker: counted from its trace sink's steps, served over HTTP."""

    def __init__(self, client: Any) -> None:
        prom = _client()
        self.client = client
        self.registry = prom.CollectorRegistry()
        r = self.registry

        def counter(name: str, text: str, labels: tuple[str, ...]) -> Any:
            return prom.Counter(name, text, labels, registry=r)

        def histogram(name: str, text: str, labels: tuple[str, ...]) -> Any:
            return prom.Histogram(name, text, labels, registry=r, buckets=BUCKETS)

        def gauge(name: str, text: str) -> Any:
            return prom.Gauge(name, text, BACKLOG, registry=r)

        self.counters = {
            trace.EVENT_HANDLED: counter("lightbus_events_handled", "Events handled", EVENT),
            trace.EVENT_FAILED: counter(
                "lightbus_events_failed", "Handler attempts that raised", EVENT
            ),
            trace.EVENT_DEAD_LETTERED: counter(
                "lightbus_events_dead_lettered", "Events given up on", EVENT
            ),
            trace.RPC_HANDLED: counter("lightbus_rpcs_handled", "Calls answered", RPC),
            trace.RPC_FAILED: counter("lightbus_rpcs_failed", "Calls whose method raised", RPC),
            trace.RPC_EXPIRED: counter("lightbus_rpcs_expired", "Calls past their deadline", RPC),
        }
        self.durations = {
            "event": histogram(
                "lightbus_event_handler_duration_seconds", "Time in the event handler", EVENT
            ),
            "rpc": histogram("lightbus_rpc_handler_duration_seconds", "Time in the method", RPC),
        }
        self.queued = {
            "event": histogram(
                "lightbus_event_queue_seconds", "From firing to the handler's start", EVENT
            ),
            "rpc": histogram(
                "lightbus_rpc_queue_seconds", "From calling to the method's start", RPC
            ),
        }
        self.backlog = {
            "length": gauge("lightbus_backlog_length", "Entries the event stream holds"),
            "lag": gauge("lightbus_backlog_lag", "Entries the group has not read yet"),
            "pending": gauge("lightbus_backlog_pending", "Entries read, not acknowledged"),
            "oldest_pending_age": gauge(
                "lightbus_backlog_oldest_pending_seconds", "Age of the oldest pending entry"
            ),
            "highest_attempt": gauge(
                "lightbus_backlog_highest_attempt", "Highest delivery count of pending entries"
            ),
            "dead_letters": gauge("lightbus_backlog_dead_letters", "Dead letters of the group"),
        }
        self.server: Any = None

    # ------------------------------------------------------------------ counting

    def observe(self, seen: Step) -> None:
        """The trace sink built the record of a step (an observer of the sink)."""
        step, message = seen.step, seen.message
        counter = self.counters.get(step)
        if counter is None:
            return  # a sender's step: counted by nobody here
        kind = "event" if step.startswith("event.") else "rpc"
        labels = (
            (message.api, message.name, seen.listener)
            if kind == "event"
            else (message.api, message.name)
        )
        counter.labels(*labels).inc()
        if step in (trace.EVENT_HANDLED, trace.EVENT_FAILED, trace.RPC_HANDLED, trace.RPC_FAILED):
            self.durations[kind].labels(*labels).observe(seen.duration_ms / 1000)
            self.queued[kind].labels(*labels).observe(seen.queued_ms / 1000)

    # ------------------------------------------------------------------ serving

    def start(self) -> None:
        """Serve ``/metrics``; a ConfigError when the address cannot be listened on."""
        settings = self.client.settings
        address, port = settings.prometheus_address, settings.prometheus_port
        try:
            self.server, _ = _client().start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve Prometheus metrics on {address}:{port}: {exc.strerror or exc}. "
                "Choose a free port (prometheus_port, LIGHTBUS_PROMETHEUS_PORT): each worker "
                "process on a host needs its own.",
                key="prometheus_port",
            ) from None
        self.client.tracer.observers.append(self)
        logger.info("Serving Prometheus metrics on http://%s:%d/metrics", address, port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    async def refresh_backlog(self) -> None:
        """Read the backlog of this worker's listeners' groups every heartbeat interval."""
        client = self.client
        while True:
            try:
                await self.read_backlog()
            except Exception as exc:  # Redis away: the gauges keep their last values
                logger.warning("Could not read the backlog for Prometheus: %s", exc)
            await asyncio.sleep(client.settings.heartbeat_interval)

    async def read_backlog(self) -> None:
        client = self.client
        service = client.settings.service_name
        mine = {Keys.consumer_group(service, listener.name) for listener in client.listeners}
        rows = [row for row in await groups.backlog(client) if row.group in mine]
        for gauge in self.backlog.values():
            gauge.clear()
        for row in rows:
            for field, gauge in self.backlog.items():
                value = getattr(row, field)
                if value is not None:
                    gauge.labels(row.api, row.name, row.group).set(value)

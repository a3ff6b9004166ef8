"""What the bus client builds once and hands to each part: :class:`Parts`.

The client (:mod:`lightbus.client`) is the composition root. It builds the settings'
collaborators here and passes each part (the consumer, the RPC caller and server, the
publisher, the schedules) the few it needs; no part imports the client.

:class:`Connections` owns the bus's connections for the event loop the client is bound
to: the redis-py client (commands off the hot path) and the write path
(:class:`~lightbus.autopipeline.AutoPipeline`). Bound to a new loop, it closes what it
held on the old one rather than dropping it; in a process forked after the connections
were made, it drops the parent's (their sockets are shared with the parent) and
connects afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightbus.autopipeline import AutoPipeline, Batch
from lightbus.connection import connect
from lightbus.invoke import Invoker
from lightbus.keys import Keys
from lightbus.settings import Settings
from lightbus.tracesink import TraceSink
from lightbus.validation import Validator

logger = logging.getLogger("lightbus")

CLOSE_SECONDS = 5.0


class Connections:
    """The redis-py client and the write path of one event loop, made on first use."""

    def __init__(self, settings: Settings, sink: TraceSink) -> None:
        self.settings = settings
        self.sink = sink
        self.loop: asyncio.AbstractEventLoop | None = None
        self._redis: Any = None
        self._autopipeline: AutoPipeline | None = None
        self._pid = os.getpid()

    @property
    def redis(self) -> Any:
        if self._redis is None:
            self._redis = connect(self.settings)
            self._pid = os.getpid()
        return self._redis

    def pipeline(self) -> Batch:
        """A group of writes sent in one round trip, with any other group sent meanwhile."""
        if self._autopipeline is None:
            self._autopipeline = AutoPipeline(
                self.redis.connection_pool, self.settings, self.sink.commands
            )
        return self._autopipeline.batch()

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """Bind to ``loop`` if not bound to a usable loop; return the loop bound to."""
        if self.loop is None or self.loop.is_closed():
            self.rebind(loop)
        return self.loop  # type: ignore[return-value]  # set by rebind

    def rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop``, closing first what was connected on the previous loop.

        Connections belong to the loop they were made on: they are closed through it
        when it can still run (stopped, or running in another thread), and their
        sockets are closed directly when it is closed.
        """
        old, self.loop = self.loop, loop
        if old is None or old is loop or (self._redis is None and self._autopipeline is None):
            return
        if old.is_closed():
            self._release()
            return
        try:
            if old.is_running():
                future = asyncio.run_coroutine_threadsafe(self.close(), old)
                future.result(timeout=CLOSE_SECONDS)
            else:
                old.run_until_complete(asyncio.wait_for(self.close(), CLOSE_SECONDS))
        except Exception as exc:  # closing what the old loop held is best effort
            logger.warning("Could not close the connections of the previous loop: %r", exc)
            self._release()

    def _release(self) -> None:
        """Close the connections made on a loop that is gone, without that loop."""
        redis, pipeline = self._redis, self._autopipeline
        self._redis = self._autopipeline = None
        if redis is not None:
            drop_sockets(redis.connection_pool)
        if pipeline is not None:
            # AutoPipeline -> resp.RawConnection -> the redis-py connection.
            raw = getattr(pipeline, "_connection", None)
            drop_socket(getattr(raw, "_connection", None))

    def after_fork(self) -> None:
        """In a forked child: forget the parent's loop and connections (closing only
        this process's copies of their sockets; the parent keeps using its own)."""
        if self.loop is not None:
            detach_loop(self.loop)
        self.loop = None
        self._release()
        self._pid = os.getpid()

    @property
    def forked(self) -> bool:
        """Whether the connections were made by another (the parent) process."""
        return self._pid != os.getpid()

    async def close(self) -> None:
        pipeline, self._autopipeline = self._autopipeline, None
        if pipeline is not None:
            await pipeline.close()
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose(close_connection_pool=True)


def detach_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cut a forked child's copy of the parent's event loop off the parent's epoll.

    The child inherits the loop's selector, whose kernel object it shares with the
    parent: anything in the child that closes a transport of that loop (a clean-up, the
    garbage collector) would unregister the parent's sockets from it, and the parent
    would wait forever for their replies. The copy gets a selector of its own instead.
    """
    shared = getattr(loop, "_selector", None)
    if shared is None or loop.is_closed():
        return
    loop._selector = selectors.DefaultSelector()  # type: ignore[attr-defined]
    with contextlib.suppress(OSError):
        shared.close()  # this process's descriptor of it; the parent keeps its own


def drop_sockets(pool: Any) -> None:
    """Close the sockets of a redis-py pool's connections, their loop being gone."""
    for connection in [*pool._available_connections, *pool._in_use_connections]:
        drop_socket(connection)


def drop_socket(connection: Any) -> None:
    """Close one redis-py connection's socket without its event loop (closed, or the
    parent's after a fork): the transport cannot be closed through the loop any more."""
    writer = getattr(connection, "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is not None:
        # Closed here, so that nothing closes it through its loop later (the writer's
        # and the transport's finalizers check these).
        transport._closing = True
        sock = getattr(transport, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
            transport._sock = None
    with contextlib.suppress(AttributeError):
        connection._reader = connection._writer = None


@dataclass
class Parts:
    """The collaborators the client hands to its parts: nothing else of the client.

    Attributes:
        settings: the bus's settings.
        keys: every Redis key name.
        tracer: the trace sink: every trace record is built and written through it.
        connections: the redis-py client and the write path (``pipeline()``).
        validator: validation of arguments and results, once per message and side.
        invoke: runs user code (plain functions on the thread pool).
        spawn: starts a background task of the client's (cancelled when it closes).
        request_stop: asks the worker to stop, with a reason.
        spans: the OpenTelemetry spans (:class:`lightbus.otel.Spans`) when turned on.
    """

    settings: Settings
    keys: Keys
    tracer: TraceSink
    connections: Connections
    validator: Validator
    invoke: Invoker
    spawn: Callable[..., asyncio.Task[Any]]
    request_stop: Callable[[str], None]
    spans: Any = None

    @property
    def redis(self) -> Any:
        return self.connections.redis

    def pipeline(self) -> Batch:
        return self.connections.pipeline()

"""Helpers for testing code that uses the bus.

- :class:`BusMocker` (also at ``lightbus.utilities.testing``, as in Lightbus 1.x): record
  what a bus fires and calls, stub RPC results, assert on them; nothing reaches Redis.
- :func:`run_handler` / :func:`run_handler_async` / :func:`make_event`: run one event
  handler with a made-up event (id, attempt, replay) and no Redis.

The pytest fixtures (``lightbus_redis``, ``bus``, ``lightbus_worker``, ``bus_mocker``)
come from the plugin that installing Lightbus registers (``lightbus_tools.pytest_plugin``;
``-p no:lightbus`` turns it off). See docs/how-to/testing.md.
"""

from lightbus.testing.handler import make_event, run_handler, run_handler_async
from lightbus.testing.mocker import BusMocker, UnexpectedBusCall, bus_mocker

__all__ = [
    "BusMocker",
    "UnexpectedBusCall",
    "bus_mocker",
    "make_event",
    "run_handler",
    "run_handler_async",
]

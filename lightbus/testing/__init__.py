"""Helpers for testing code that uses the bus (docs/how-to/testing.md).

- :class:`BusMocker` (also at ``lightbus.utilities.testing``, as in Lightbus 1.x): record
  what a bus fires and calls, stub RPC results, assert on them; nothing reaches Redis.
- :func:`run_handler` / :func:`run_handler_async` / :func:`make_event`: run one event
  handler with a made-up event (id, attempt, replay) and no Redis.
- The pytest plugin, :mod:`lightbus.testing.plugin`, that installing Lightbus registers
  (``-p no:lightbus`` turns it off): the fixtures ``lightbus_redis``, ``bus``,
  ``lightbus_worker`` and ``bus_mocker``.

The names load on first use: pytest imports the plugin, and so this package, in every
session, and a session that uses none of it should not pay for the bus's imports.
"""

from typing import TYPE_CHECKING

from lightbus.lazy import lazy_names

if TYPE_CHECKING:
    from lightbus.testing.handler import make_event, run_handler, run_handler_async
    from lightbus.testing.mocker import BusMocker, UnexpectedBusCall, bus_mocker

_LAZY = {
    "BusMocker": "lightbus.testing.mocker",
    "UnexpectedBusCall": "lightbus.testing.mocker",
    "bus_mocker": "lightbus.testing.mocker",
    "make_event": "lightbus.testing.handler",
    "run_handler": "lightbus.testing.handler",
    "run_handler_async": "lightbus.testing.handler",
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "BusMocker",
    "UnexpectedBusCall",
    "bus_mocker",
    "make_event",
    "run_handler",
    "run_handler_async",
]

"""Consuming events: one package owns an entry from the read to the moment it is forgotten.

- :mod:`~lightbus.consumer.consumer`: the listeners of a client, starting and stopping them;
- :mod:`~lightbus.consumer.listener`: one listener's reading loop and the entries it holds;
- :mod:`~lightbus.consumer.entry`: an entry, and what the steps below see of its listener;
- :mod:`~lightbus.consumer.pool`: the handler slots that run the handlers;
- :mod:`~lightbus.consumer.delivery`: one delivery: decode, validate, handle, retry,
  dead-letter;
- :mod:`~lightbus.consumer.acks`: acknowledging handled entries in batches;
- :mod:`~lightbus.consumer.claims`: leases, reclaiming, taking back, handing back.
"""

from lightbus.consumer.consumer import Consumer, default_listener_name
from lightbus.consumer.entry import Entry
from lightbus.consumer.listener import Listener, ListenerRunner

__all__ = ["Consumer", "Entry", "Listener", "ListenerRunner", "default_listener_name"]

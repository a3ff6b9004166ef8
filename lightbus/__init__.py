"""Lightbus: RPC, events, background work and schedules for Python apps sharing one Redis.

The public surface is :data:`__all__`; everything else may change between versions.

``Bus``, ``BusClient``, ``create`` and the trace reader (``read_trace``, ``TraceReader``,
``TraceFilter``) are loaded on first use: they bring in redis-py,
whose import alone takes longer than the rest of the package, so that a bare
``import lightbus`` (a tool's ``--help``, a module that only declares APIs) stays fast.
"""

from typing import TYPE_CHECKING

from lightbus.api import Api, Event, Parameter
from lightbus.context import TraceContext, current_trace, start_trace
from lightbus.errors import (
    AmbiguousId,
    BusClosedError,
    BusConnectionError,
    BusModuleError,
    ConfigError,
    InvalidArguments,
    InvalidArgumentValue,
    LightbusError,
    NotSerializable,
    PayloadTooDeep,
    PayloadTooLarge,
    RemoteError,
    RpcTimeout,
    SyncCallInLoopError,
    UnknownApi,
    UnknownId,
    UnknownName,
    ValidationError,
)
from lightbus.lazy import lazy_names
from lightbus.logs import TraceLogFilter
from lightbus.logs import install as _install_log_filter
from lightbus.message import Message
from lightbus.settings import Settings
from lightbus.trace import TraceRecord
from lightbus.tracetree import Handling, TraceNode, build_tree

if TYPE_CHECKING:
    from lightbus.client import BusClient
    from lightbus.creation import create
    from lightbus.facade import Bus
    from lightbus.tracereader import TraceFilter, TraceReader, read_trace

# The one definition of the version: pyproject.toml reads it from here (hatch), and the
# worker's heartbeats and `lightbus --version` show it.
__version__ = "2.0.0.dev0"

_install_log_filter()

_LAZY = {
    "Bus": "lightbus.facade",
    "BusClient": "lightbus.client",
    "TraceFilter": "lightbus.tracereader",
    "TraceReader": "lightbus.tracereader",
    "create": "lightbus.creation",
    "read_trace": "lightbus.tracereader",
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "AmbiguousId",
    "Api",
    "Bus",
    "BusClient",
    "BusClosedError",
    "BusConnectionError",
    "BusModuleError",
    "ConfigError",
    "Event",
    "Handling",
    "InvalidArgumentValue",
    "InvalidArguments",
    "LightbusError",
    "Message",
    "NotSerializable",
    "Parameter",
    "PayloadTooDeep",
    "PayloadTooLarge",
    "RemoteError",
    "RpcTimeout",
    "Settings",
    "SyncCallInLoopError",
    "TraceContext",
    "TraceFilter",
    "TraceLogFilter",
    "TraceNode",
    "TraceReader",
    "TraceRecord",
    "UnknownApi",
    "UnknownId",
    "UnknownName",
    "ValidationError",
    "build_tree",
    "create",
    "current_trace",
    "read_trace",
    "start_trace",
]

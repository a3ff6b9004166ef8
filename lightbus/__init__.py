"""Lightbus: RPC, events, background work and schedules for Python apps sharing one Redis.

The public surface is :data:`__all__`; everything else may change between versions.
"""

from lightbus.api import Api, Event, Parameter
from lightbus.client import BusClient
from lightbus.context import TraceContext, current_trace, start_trace
from lightbus.errors import (
    BusConnectionError,
    BusModuleError,
    ConfigError,
    InvalidArguments,
    LightbusError,
    NotSerializable,
    PayloadTooLarge,
    RemoteError,
    RpcTimeout,
    SyncCallInLoopError,
    UnknownApi,
    UnknownName,
    ValidationError,
)
from lightbus.facade import Bus, create
from lightbus.logs import TraceLogFilter
from lightbus.logs import install as _install_log_filter
from lightbus.message import Message
from lightbus.settings import Settings
from lightbus.trace import TraceRecord
from lightbus.tracereader import TraceFilter, TraceReader, read_trace
from lightbus.tracetree import Handling, TraceNode, build_tree

__version__ = "2.0.0.dev0"

_install_log_filter()

__all__ = [
    "Api",
    "Bus",
    "BusClient",
    "BusConnectionError",
    "BusModuleError",
    "ConfigError",
    "Event",
    "Handling",
    "InvalidArguments",
    "LightbusError",
    "Message",
    "NotSerializable",
    "Parameter",
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
    "UnknownName",
    "ValidationError",
    "build_tree",
    "create",
    "current_trace",
    "read_trace",
    "start_trace",
]

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
)
from lightbus.facade import Bus, create
from lightbus.message import Message
from lightbus.settings import Settings

__version__ = "2.0.0.dev0"

__all__ = [
    "Api",
    "Bus",
    "BusClient",
    "BusConnectionError",
    "BusModuleError",
    "ConfigError",
    "Event",
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
    "UnknownApi",
    "UnknownName",
    "create",
    "current_trace",
    "start_trace",
]

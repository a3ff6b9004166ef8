"""Every error Lightbus raises on purpose.

The tree::

    LightbusError
    ├── ConfigError                 a setting is malformed (names the key and its source)
    ├── BusConnectionError          Redis cannot be reached (also a builtin ConnectionError)
    ├── BusModuleError              the bus module does not import or defines no bus
    ├── SyncCallInLoopError         a blocking call was made inside a running event loop
    ├── UnknownApi                  no API of that name is registered here or live on the bus
    ├── UnknownName                 the API has no RPC or event of that name
    ├── InvalidArguments            positional, missing or unexpected arguments (a TypeError)
    │   ├── NotSerializable         an argument or result cannot be sent as JSON
    │   └── InvalidArgumentValue    an argument's value does not match (also a ValidationError)
    ├── ValidationError             a value does not match the schema (a ValueError; names
    │                               the field path): a result, or data that arrived
    ├── PayloadTooLarge             the encoded message is over the size limit
    ├── PayloadTooDeep              the payload nests lists and objects over the depth limit
    ├── RpcTimeout                  no result arrived before the call's deadline
    ├── RemoteError                 the remote handler raised; carries its type and traceback
    ├── UnknownId                   no message or trace in the trace stream has this id
    └── AmbiguousId                 a shortened id that several ids start or end with

Each error carries the context a user needs (``api``, ``name``, ``field`` where they
apply) as attributes, and its message says what to do next. Every error pickles, with its
message and attributes (a worker pool or a multiprocessing queue can carry it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LightbusError(Exception):
    """Base class of every error Lightbus raises on purpose.

    Attributes:
        item: for an error raised by ``fire_many()``, the index of the item at fault.
    """

    item: int | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds with cls(*args), which keyword-only constructors refuse.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[LightbusError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An unpickled error: its message (``args``) and attributes, without ``__init__``."""
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(LightbusError):
    """A setting is malformed. ``key`` names the setting."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class BusConnectionError(LightbusError, ConnectionError):
    """Redis could not be reached, after a bounded retry.

    ``url`` is the Redis URL with any password replaced by ``***``.
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class BusModuleError(LightbusError):
    """The bus module could not be imported, or defines no bus."""

    def __init__(self, message: str, *, module: str = "") -> None:
        super().__init__(message)
        self.module = module


class BusClosedError(LightbusError, RuntimeError):
    """The bus's event loop stopped while a blocking call waited on it (say, in a forked
    child, or after the bus was closed from another thread)."""


class SyncCallInLoopError(LightbusError):
    """A blocking call was made from inside a running event loop."""


class UnknownApi(LightbusError):
    """No API of this name is registered locally or served live on the bus."""

    def __init__(self, api: str, known: Iterable[str]) -> None:
        self.api = api
        self.known = sorted(known)
        listing = ", ".join(self.known) if self.known else "none"
        super().__init__(
            f"Unknown API {api!r}. Known APIs: {listing}. Register it with "
            f"bus.client.register_api(...) or start a worker that serves it."
        )


class UnknownName(LightbusError):
    """The API exists but has no RPC or event of this name."""

    def __init__(
        self, api: str, name: str, *, kind: str, known: Iterable[str], actual: str = ""
    ) -> None:
        self.api = api
        self.name = name
        self.kind = kind
        self.known = sorted(known)
        if actual:
            use = "fire() or listen()" if actual == "event" else "call it"
            text = f"{api}.{name} is an {actual}, not an {kind}: {use}."
        else:
            listing = ", ".join(self.known) if self.known else "none"
            text = f"API {api!r} has no {kind} named {name!r}. Its {kind}s: {listing}."
        super().__init__(text)


class InvalidArguments(LightbusError, TypeError):
    """The arguments of a call or fire do not match its parameters."""

    def __init__(self, message: str, *, api: str, name: str, field: str = "") -> None:
        super().__init__(message)
        self.api = api
        self.name = name
        self.field = field


class NotSerializable(InvalidArguments):
    """An argument (or a result) cannot be encoded as JSON."""


class ValidationError(LightbusError, ValueError):
    """A value does not match the schema: an argument, an event field or an RPC result.

    Raised as :class:`InvalidArgumentValue` (also an :class:`InvalidArguments`, so a
    ``TypeError``) for the arguments a caller or firer gave, and as this class (a
    ``ValueError``) for a result and for data that arrived from elsewhere.

    Attributes:
        api, name: the RPC or event.
        field: the path of the bad value, e.g. ``order.lines[0].sku`` (empty for the
            whole result).
        problem: what is wrong with it, e.g. ``Expected `int`, got `str```.
        part: ``"parameters"`` or ``"result"``.
        side: who checked it: ``"caller"``, ``"worker"`` (the RPC server),
            ``"firer"`` or ``"listener"``.
    """

    def __init__(
        self,
        *,
        api: str,
        name: str,
        field: str,
        problem: str,
        part: str = "parameters",
        side: str = "caller",
    ) -> None:
        self.api = api
        self.name = name
        self.field = field
        self.problem = problem
        self.part = part
        self.side = side
        if part == "result":
            where = f"its result at {field!r} is" if field else "its result is"
        else:
            where = f"argument {field!r} is" if field else "its arguments are"
        remote = " (rejected by the worker)" if side == "worker" else ""
        # Not super(): in InvalidArgumentValue the next class is InvalidArguments.
        LightbusError.__init__(
            self,
            f"{api}.{name}: {where} invalid: {problem}{remote}. "
            f"Fix the value, or see `lightbus dumpschema` for the expected types.",
        )

    def detail(self) -> dict[str, str]:
        """The fields that let the other side of an RPC raise this error again."""
        return {"field": self.field, "problem": self.problem, "part": self.part}

    @classmethod
    def from_detail(cls, api: str, name: str, detail: dict[str, str]) -> ValidationError:
        """The error a worker sent back, for its caller: the caller's own arguments
        refused are an :class:`InvalidArgumentValue`, a bad result a ValidationError."""
        part = detail.get("part", "parameters")
        kind = InvalidArgumentValue if part == "parameters" else ValidationError
        return kind(
            api=api,
            name=name,
            field=detail.get("field", ""),
            problem=detail.get("problem", ""),
            part=part,
            side="worker",
        )


class InvalidArgumentValue(ValidationError, InvalidArguments):
    """An argument given to a call or fire has a value that does not match the schema
    (checked by the caller, or refused by the worker). A ``ValidationError`` and an
    ``InvalidArguments``: catch either."""


class PayloadTooLarge(LightbusError):
    """The encoded message is larger than the ``max_payload_bytes`` setting."""

    def __init__(self, *, api: str, name: str, size: int, limit: int) -> None:
        self.api = api
        self.name = name
        self.size = size
        self.limit = limit
        super().__init__(
            f"{api}.{name}: the message is {size} bytes, over the limit of {limit} bytes "
            f"(setting max_payload_bytes). Send a reference to the data instead."
        )


class PayloadTooDeep(LightbusError):
    """The payload nests lists and objects deeper than the ``max_payload_depth`` setting.

    Raised when firing or calling (nothing is sent), and the reason a listener
    dead-letters such an entry from another producer.
    """

    def __init__(self, *, api: str, name: str, limit: int, detail: str = "") -> None:
        self.api = api
        self.name = name
        self.limit = limit
        also = f" ({detail})" if detail else ""
        super().__init__(
            f"{api}.{name}: the payload nests lists and objects more than {limit} levels "
            f"deep{also}, over the limit (setting max_payload_depth). Flatten the data, or "
            f"send a reference to it instead."
        )


class RpcTimeout(LightbusError, TimeoutError):
    """No result arrived before the call's deadline."""

    def __init__(self, *, api: str, name: str, timeout: float, served: bool | None) -> None:
        self.api = api
        self.name = name
        self.timeout = timeout
        self.served = served
        if served is None:
            who = ""
        elif served:
            who = f" A worker serving {api!r} is alive, so the call was slow or lost."
        else:
            who = f" No worker currently serves {api!r}: start one with `lightbus run`."
        super().__init__(f"{api}.{name} got no result within {timeout:g}s.{who}")


class RemoteError(LightbusError):
    """The remote RPC handler raised.

    Attributes:
        remote_type: the qualified name of the exception class raised remotely.
        remote_message: its message.
        remote_traceback: the formatted remote traceback (capped).
    """

    def __init__(
        self,
        *,
        api: str,
        name: str,
        remote_type: str,
        remote_message: str,
        remote_traceback: str = "",
    ) -> None:
        self.api = api
        self.name = name
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        super().__init__(f"{api}.{name} raised {remote_type}: {remote_message}")

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            text += "\n\nRemote traceback:\n" + self.remote_traceback.rstrip()
        return text


class UnknownId(LightbusError, LookupError):
    """No message or trace in the trace stream has this id (or starts or ends with it)."""

    def __init__(self, text: str, *, kinds: Iterable[str], shortened: bool) -> None:
        self.text = text
        self.kinds = tuple(kinds)
        what = " or ".join(self.kinds)
        where = (
            f"No {what} id in the trace stream starts or ends with {text}"
            if shortened
            else f"No {what} {text} in the trace stream"
        )
        super().__init__(
            f"{where}. It may be mistyped, older than the stream keeps (trace_maxlen, "
            f"trace_max_age), or sent with tracing off."
        )


class AmbiguousId(LightbusError, LookupError):
    """A shortened id that several message or trace ids start or end with.

    ``candidates`` holds ``(kind, full id, what it is)`` for each, newest first.
    """

    def __init__(
        self, text: str, candidates: Iterable[tuple[str, str, str]], *, more: bool = False
    ) -> None:
        self.text = text
        self.candidates = list(candidates)
        lines = [f"  {kind} {full}  {about}".rstrip() for kind, full, about in self.candidates]
        if more:
            lines.append("  ... and more")
        super().__init__(
            f"{text} is the start or end of {len(self.candidates)}{'+' if more else ''} ids "
            f"in the trace stream; give more digits, or one of these:\n" + "\n".join(lines)
        )

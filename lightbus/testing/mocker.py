"""BusMocker: record the events a bus fires and the RPCs it calls, and stub results.

Written for Lightbus 1.x code to run unchanged (``lightbus.utilities.testing`` re-exports
it)::

    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("auth.user_created")
        bus_mock.mock_rpc_call("auth.check_password", result=True)
        ...  # the code under test fires and calls through `bus`
        bus_mock.assert_events_fired("auth.user_created", times=1)

While a mocker is active nothing the bus fires or calls reaches Redis: events are
recorded, RPCs answered from :meth:`BusMocker.mock_rpc_call`. An event or RPC that was
not set up fails (:class:`UnexpectedBusCall`, an ``AssertionError``), raised where the
code fired or called it and again when the ``with`` block ends, so code that swallows
exceptions cannot hide it; ``require_mocking=False`` records everything and answers
unmocked RPCs with ``None``. Arguments are checked against APIs registered on the bus,
as a real fire or call checks them. Listeners and workers are not affected.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lightbus.arguments import ArgSpec
from lightbus.errors import UnknownName
from lightbus.message import Message

if TYPE_CHECKING:
    from lightbus.facade import Bus

__all__ = ["BusMocker", "UnexpectedBusCall", "bus_mocker"]

_PATCHED = ("fire", "fire_many", "call")
_active: weakref.WeakSet[Any] = weakref.WeakSet()  # the clients a mocker is active on


class UnexpectedBusCall(AssertionError):
    """An event fired or an RPC called that the mocker was not set up for."""


class BusMocker:
    """Mock the bus ``bus`` inside a ``with`` block (or as a decorator, see :meth:`__call__`)."""

    def __init__(self, bus: Bus, require_mocking: bool = True) -> None:
        if not hasattr(bus, "client"):
            raise TypeError(f"BusMocker(bus): pass the bus made by lightbus.create(), got {bus!r}")
        self.bus = bus
        self.require_mocking = require_mocking
        self.events: list[tuple[Message, dict[str, Any]]] = []
        self.rpcs: list[tuple[Message, dict[str, Any]]] = []
        self.unexpected: list[str] = []
        self._mock_events: set[str] = set()
        self._mock_results: dict[str, tuple[Any, BaseException | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ entering and leaving

    def __enter__(self) -> BusMocker:
        client = self.bus.client
        if client in _active:
            raise RuntimeError("This bus is already mocked: one BusMocker at a time per bus")
        self.events.clear()
        self.rpcs.clear()
        self.unexpected.clear()
        _active.add(client)
        setattr(client, "fire", self._fire)  # noqa: B010 - instance attributes, undone on exit
        setattr(client, "fire_many", self._fire_many)  # noqa: B010
        setattr(client, "call", self._call)  # noqa: B010
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        client = self.bus.client
        for name in _PATCHED:
            client.__dict__.pop(name, None)
        _active.discard(client)
        if exc_type is None and self.unexpected:
            raise UnexpectedBusCall(
                "Unexpected calls on the mocked bus (the code under test may have caught the "
                "error):\n  " + "\n  ".join(self.unexpected)
            )

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a test: it runs with the bus mocked and gets this mocker as its last
        argument (``@bus_mocker(bus)`` / ``def test_x(bus_mock): ...``, or a method of a
        ``TestCase``: ``def test_x(self, bus_mock)``). Works under pytest: the mocker's
        parameter is not taken for a fixture."""
        signature = inspect.signature(func)
        params = list(signature.parameters.values())
        if not params:
            raise TypeError(
                f"@bus_mocker(bus) passes the mocker to {func.__qualname__}: give it a "
                f"parameter for it, e.g. def {func.__name__}(bus_mock)"
            )
        last = params[-1]
        by_name = last.kind in (last.POSITIONAL_OR_KEYWORD, last.KEYWORD_ONLY)

        def call(mock: BusMocker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # By name when it can be: pytest passes the test's fixtures as keywords.
            if by_name:
                return func(*args, **{last.name: mock}, **kwargs)
            return func(*args, mock, **kwargs)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh() as mock:
                    return await call(mock, args, kwargs)

            wrapper: Callable[..., Any] = run_async
        else:

            @functools.wraps(func)
            def run(*args: Any, **kwargs: Any) -> Any:
                with self._fresh() as mock:
                    return call(mock, args, kwargs)

            wrapper = run
        wrapper.__signature__ = signature.replace(parameters=params[:-1])  # type: ignore[attr-defined]
        return wrapper

    def _fresh(self) -> BusMocker:
        """A new mocker like this one: each run of a decorated test starts clean."""
        return BusMocker(self.bus, require_mocking=self.require_mocking)

    # ------------------------------------------------------------ setting up

    def mock_event_firing(self, full_event_name: str) -> None:
        """Expect the event ``"api.name"`` to be fired (it is recorded, not sent)."""
        self._mock_events.add(_full_name(full_event_name, "mock_event_firing"))

    def mock_rpc_call(
        self, full_rpc_name: str, result: Any = None, *, error: BaseException | None = None
    ) -> None:
        """Answer the RPC ``"api.name"`` with ``result`` (or raise ``error`` from the call)."""
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"mock_rpc_call(error=...) takes an exception instance, got {error!r}")
        self._mock_results[_full_name(full_rpc_name, "mock_rpc_call")] = (result, error)

    # ------------------------------------------------------------ what happened

    @property
    def event_names_fired(self) -> list[str]:
        return [message.full_name for message, _ in self.events]

    @property
    def rpc_names_called(self) -> list[str]:
        return [message.full_name for message, _ in self.rpcs]

    def get_event_messages(self, full_event_name: str | None = None) -> list[Message]:
        """The messages fired (of one event, or all), in order; ``.kwargs`` are the arguments."""
        return [m for m, _ in self.events if full_event_name in (None, m.full_name)]

    def get_event_options(self, full_event_name: str | None = None) -> list[dict[str, Any]]:
        """The options each event was fired with (e.g. ``{"delay": 60}``), in order."""
        return [o for m, o in self.events if full_event_name in (None, m.full_name)]

    def get_rpc_messages(self, full_rpc_name: str | None = None) -> list[Message]:
        """The RPC calls made (of one RPC, or all), in order; ``.kwargs`` are the arguments."""
        return [m for m, _ in self.rpcs if full_rpc_name in (None, m.full_name)]

    def assert_events_fired(self, full_event_name: str, *, times: int | None = None) -> None:
        """The event was fired (exactly ``times`` times, if given; ``times=0``: never)."""
        _assert_count("Event", full_event_name, self.event_names_fired, times, "fired")

    def assert_event_not_fired(self, full_event_name: str) -> None:
        self.assert_events_fired(full_event_name, times=0)

    def assert_rpc_called(self, full_rpc_name: str, *, times: int | None = None) -> None:
        """The RPC was called (exactly ``times`` times, if given; ``times=0``: never)."""
        _assert_count("RPC", full_rpc_name, self.rpc_names_called, times, "called")

    def assert_rpc_not_called(self, full_rpc_name: str) -> None:
        self.assert_rpc_called(full_rpc_name, times=0)

    def assert_event_fired_once_with(self, full_event_name: str, **kwargs: Any) -> None:
        """The event was fired exactly once, with exactly these arguments."""
        self.assert_events_fired(full_event_name, times=1)
        _assert_kwargs(self.get_event_messages(full_event_name)[0], kwargs, "fired")

    def assert_rpc_called_once_with(self, full_rpc_name: str, **kwargs: Any) -> None:
        """The RPC was called exactly once, with exactly these arguments."""
        self.assert_rpc_called(full_rpc_name, times=1)
        _assert_kwargs(self.get_rpc_messages(full_rpc_name)[0], kwargs, "called")

    # Lightbus 1.x also spelt them in camel case, after unittest.
    assertEventFired = assert_events_fired
    assertEventNotFired = assert_event_not_fired
    assertRpcCalled = assert_rpc_called
    assertRpcNotCalled = assert_rpc_not_called
    getEventMessages = get_event_messages
    getRpcMessages = get_rpc_messages
    mockEventFiring = mock_event_firing
    mockRpcCall = mock_rpc_call

    def __repr__(self) -> str:
        return f"<BusMocker events={len(self.events)} rpcs={len(self.rpcs)}>"

    # ------------------------------------------------------------ the stand-ins

    async def _fire(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        args: tuple[Any, ...] = (),
        **options: Any,
    ) -> Message:
        # args: positional arguments as the user passed them, refused as fire() does.
        return (await self._record_events(api, name, [kwargs], options, args))[0]

    async def _fire_many(
        self, api: str, name: str, items: Iterable[Mapping[str, Any]], **options: Any
    ) -> list[Message]:
        return await self._record_events(api, name, list(items), options)

    async def _record_events(
        self,
        api: str,
        name: str,
        items: list[Any],
        options: dict[str, Any],
        args: tuple[Any, ...] = (),
    ) -> list[Message]:
        full = f"{api}.{name}"
        if self.require_mocking and full not in self._mock_events:
            self._unexpected(
                f"Event {full} unexpectedly fired. Expect it with "
                f"bus_mock.mock_event_firing({full!r}), or use BusMocker(bus, "
                f"require_mocking=False)."
            )
        client = self.bus.client
        spec = _local_spec(client, api, name, "event")
        messages = []
        for kwargs in items:
            if spec is not None:
                spec.check(args, kwargs)
                kwargs = spec.with_defaults(dict(kwargs))
            messages.append(client.make_message("event", api, name, kwargs=dict(kwargs)))
        with self._lock:
            self.events.extend((message, dict(options)) for message in messages)
        return messages

    async def _call(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        timeout: float | None = None,
        args: tuple[Any, ...] = (),
    ) -> Any:
        full = f"{api}.{name}"
        client = self.bus.client
        spec = _local_spec(client, api, name, "rpc")
        if spec is not None:
            spec.check(args, kwargs)
        message = client.make_message("rpc", api, name, kwargs=dict(kwargs))
        with self._lock:
            self.rpcs.append((message, {"timeout": timeout}))
        if full not in self._mock_results:
            if self.require_mocking:
                self._unexpected(
                    f"RPC {full} unexpectedly called. Give it a result with "
                    f"bus_mock.mock_rpc_call({full!r}, result=...), or use BusMocker(bus, "
                    f"require_mocking=False)."
                )
            return None
        result, error = self._mock_results[full]
        if error is not None:
            raise error
        return result

    def _unexpected(self, problem: str) -> None:
        with self._lock:
            self.unexpected.append(problem)
        raise UnexpectedBusCall(problem)


bus_mocker = BusMocker  # the decorator's name in Lightbus 1.x: @bus_mocker(bus)


def _local_spec(client: Any, api: str, name: str, kind: str) -> ArgSpec | None:
    """The argument spec of ``api.name`` if the bus defines that API, as sending checks it
    (an unknown name of a local API is refused as sending refuses it)."""
    definition = client.apis.get(api)
    if definition is None:
        return None  # another app's: its schema is in Redis, which the mocker leaves alone
    if kind == "rpc":
        rpc = definition.rpcs.get(name)
        if rpc is None:
            actual = "event" if name in definition.events else ""
            raise UnknownName(api, name, kind=kind, known=definition.rpcs, actual=actual)
        return ArgSpec.from_parameters(api, name, kind, rpc.parameters, rpc.accepts_any)
    event = definition.events.get(name)
    if event is None:
        actual = "rpc" if name in definition.rpcs else ""
        raise UnknownName(api, name, kind=kind, known=definition.events, actual=actual)
    return ArgSpec.from_parameters(api, name, kind, event.parameters)


def _full_name(value: Any, method: str) -> str:
    if not isinstance(value, str) or "." not in value.strip("."):
        raise ValueError(f"{method}() takes the full name 'api.name', got {value!r}")
    return value


def _assert_count(kind: str, full: str, seen: list[str], times: int | None, verb: str) -> None:
    count = seen.count(full)
    if times is None:
        if count == 0:
            shown = ", ".join(sorted(set(seen))) or "none"
            raise AssertionError(f"{kind} {full} was never {verb}. {kind}s {verb}: {shown}")
        return
    if count != times:
        raise AssertionError(f"{kind} {full} was {verb} {count} time(s), expected {times}")


def _assert_kwargs(message: Message, expected: dict[str, Any], verb: str) -> None:
    if message.kwargs != expected:
        raise AssertionError(
            f"{message.full_name} was {verb} with {message.kwargs!r}, expected {expected!r}"
        )

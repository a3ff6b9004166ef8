"""Declaring APIs: :class:`Api`, :class:`Event` and :class:`Parameter`.

An API is a class with a ``Meta.name``; its public methods are RPCs and its
:class:`Event` attributes are events::

    class AuthApi(Api):
        user_registered = Event(parameters=("username", Parameter("email", str)))

        class Meta:
            name = "auth"

        def check_password(self, username: str, password: str) -> bool:
            ...
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Parameter:
    """One parameter of an event: a name, an optional type and an optional default."""

    name: str
    type: Any = Any
    default: Any = NO_DEFAULT

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT


class Event:
    """An event an API can fire. ``parameters`` are names or :class:`Parameter` objects."""

    def __init__(self, parameters: Iterable[str | Parameter] = ()) -> None:
        if isinstance(parameters, str | Parameter):
            parameters = (parameters,)
        params: list[Parameter] = []
        for item in parameters:
            if isinstance(item, str):
                params.append(Parameter(item))
            elif isinstance(item, Parameter):
                params.append(item)
            else:
                raise TypeError(
                    f"Event parameters must be names or Parameter objects, got {item!r}"
                )
        names = [p.name for p in params]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"Event parameters repeat: {', '.join(sorted(duplicates))}")
        self.parameters: tuple[Parameter, ...] = tuple(params)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Event({self.name!r}, parameters={[p.name for p in self.parameters]})"


@dataclass(frozen=True)
class RpcDefinition:
    """An RPC: the bound method and its parameters, read from its signature."""

    name: str
    method: Callable[..., Any]
    parameters: tuple[Parameter, ...]
    accepts_any: bool
    return_type: Any
    is_async: bool


@dataclass(frozen=True)
class ApiDefinition:
    """What a registered API offers, read once from its class."""

    name: str
    instance: Any
    rpcs: dict[str, RpcDefinition] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)


class Api:
    """Base class for an API. Subclasses set ``class Meta: name = "..."``."""

    Meta: ClassVar[type]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("Meta")
        if meta is None or not getattr(meta, "name", None):
            raise TypeError(
                f"{cls.__name__} needs a Meta class with a name, e.g. `class Meta: name = 'auth'`"
            )
        if not isinstance(meta.name, str) or not _NAME.match(meta.name):
            raise ValueError(
                f"{cls.__name__}.Meta.name {meta.name!r} is not a valid API name: use "
                f"letters, digits and underscores, with dots between parts (e.g. 'company.auth')"
            )


def define(instance: Api) -> ApiDefinition:
    """Read an API instance into its definition (RPCs and events)."""
    if not isinstance(instance, Api):
        raise TypeError(
            f"register_api() takes an instance of an Api subclass, got {instance!r}"
            + (" (a class: call it to make an instance)" if isinstance(instance, type) else "")
        )
    cls = type(instance)
    definition = ApiDefinition(name=getattr(cls.Meta, "name"), instance=instance)  # noqa: B009
    for klass in reversed(cls.__mro__):
        if klass in (Api, object):
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or attr == "Meta":
                continue
            if isinstance(value, Event):
                definition.events[attr] = value
                definition.rpcs.pop(attr, None)
            elif inspect.isfunction(value) or inspect.iscoroutinefunction(value):
                definition.rpcs[attr] = _rpc(attr, getattr(instance, attr))
                definition.events.pop(attr, None)
    return definition


def _rpc(name: str, method: Callable[..., Any]) -> RpcDefinition:
    try:
        # Resolve string annotations (``from __future__ import annotations``) where we can.
        signature = inspect.signature(method, eval_str=True)
    except (NameError, TypeError, SyntaxError, AttributeError):
        signature = inspect.signature(method)
    params: list[Parameter] = []
    accepts_any = False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any = True
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise TypeError(
                f"RPC {name!r} has a positional-only or *args parameter ({param.name}); "
                f"RPCs are called with keyword arguments only"
            )
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = NO_DEFAULT if param.default is inspect.Parameter.empty else param.default
        params.append(Parameter(param.name, annotation, default))
    returns = signature.return_annotation
    return RpcDefinition(
        name=name,
        method=method,
        parameters=tuple(params),
        accepts_any=accepts_any,
        return_type=Any if returns is inspect.Signature.empty else returns,
        is_async=inspect.iscoroutinefunction(method),
    )

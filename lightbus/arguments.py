"""Checking the keyword arguments of a call or fire against what the target declares.

An :class:`ArgSpec` is built once per RPC or event, from a local definition or from a
schema published by a remote worker, and checks each call's names cheaply: positional
arguments, missing required parameters and unexpected ones are refused with an
:class:`~lightbus.errors.InvalidArguments` that names them all, and suggests the
parameter a misspelt name was probably meant to be.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lightbus.api import Parameter
from lightbus.errors import InvalidArguments

P = inspect.Parameter


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """The parameter names of one RPC or event."""

    api: str
    name: str
    kind: str
    required: frozenset[str]
    allowed: frozenset[str]
    accepts_any: bool = False
    defaults: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_parameters(
        cls, api: str, name: str, kind: str, params: Iterable[Parameter], accepts_any: bool = False
    ) -> ArgSpec:
        params = tuple(params)
        return cls(
            api=api,
            name=name,
            kind=kind,
            required=frozenset(p.name for p in params if p.required),
            allowed=frozenset(p.name for p in params),
            accepts_any=accepts_any,
            defaults=tuple((p.name, p.default) for p in params if not p.required),
        )

    @classmethod
    def from_schema(cls, api: str, name: str, kind: str, schema: Mapping[str, Any]) -> ArgSpec:
        """Build from a JSON Schema object (``properties``/``required``)."""
        properties = schema.get("properties", {})
        return cls(
            api=api,
            name=name,
            kind=kind,
            required=frozenset(schema.get("required", ())),
            allowed=frozenset(properties),
            accepts_any=schema.get("additionalProperties", False) is not False,
            defaults=tuple(
                (name, prop["default"])
                for name, prop in properties.items()
                if isinstance(prop, dict) and "default" in prop
            ),
        )

    def check(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidArguments` if the call does not fit the parameters."""
        target = f"{self.api}.{self.name}"
        if args:
            raise InvalidArguments(
                f"{target} takes keyword arguments only, but got {len(args)} positional "
                f"argument(s). Call it as {target}({self._example()}).",
                api=self.api,
                name=self.name,
            )
        missing = self.required.difference(kwargs)
        extra = set() if self.accepts_any else set(kwargs).difference(self.allowed)
        if not missing and not extra:
            return
        # Both at once: a misspelt name is an unexpected argument *and* a missing one, and
        # naming only the missing one hides the typo.
        problems = []
        if extra:
            unused = sorted(self.allowed.difference(kwargs))
            shown = ", ".join(_with_suggestion(name, unused) for name in sorted(extra))
            problems.append(f"got unexpected argument(s): {shown}")
        if missing:
            problems.append(f"is missing required argument(s): {', '.join(sorted(missing))}")
        accepted = ", ".join(sorted(self.allowed)) or "none"
        raise InvalidArguments(
            f"{target} {' and '.join(problems)}. It accepts: {accepted}.",
            api=self.api,
            name=self.name,
            field=sorted(extra or missing)[0],
        )

    def check_handler(self, handler: Callable[..., Any], listener: str) -> None:
        """Raise :class:`InvalidArguments` if ``handler(event, **arguments)`` cannot take
        this event's arguments: a listener that would fail on every delivery is refused
        when it is registered, not after its retries end in the dead-letter stream."""
        try:
            signature = inspect.signature(handler)
        except (TypeError, ValueError):  # some builtins and C callables: cannot tell
            return
        try:
            signature.bind(None, **dict.fromkeys(self.allowed))
        except TypeError as exc:
            reason = _handler_mismatch(signature, self.allowed) or str(exc)
        else:
            return
        shown = getattr(handler, "__qualname__", None) or repr(handler)
        names = ", ".join(sorted(self.allowed)) or "no arguments"
        raise InvalidArguments(
            f"Listener {listener!r} cannot handle {self.api}.{self.name}: its handler "
            f"{shown}{signature} {reason}. A handler is called as handler(event, "
            f"**arguments) with {names}: give it a parameter for each (or **kwargs).",
            api=self.api,
            name=self.name,
        )

    def with_defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` plus the declared default of every parameter not given."""
        missing = [(n, v) for n, v in self.defaults if n not in kwargs]
        return {**kwargs, **dict(missing)} if missing else kwargs

    def _example(self) -> str:
        return ", ".join(f"{n}=..." for n in sorted(self.allowed))


def _handler_mismatch(signature: inspect.Signature, arguments: frozenset[str]) -> str:
    """What keeps a handler of ``signature`` from taking (event, **arguments)."""
    params = list(signature.parameters.values())
    positional = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL)
    if not params or params[0].kind not in positional:
        return "has no positional parameter for the event"
    rest = params[1:] if params[0].kind is not P.VAR_POSITIONAL else params
    by_keyword = {p.name for p in rest if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    problems = []
    if not any(p.kind is P.VAR_KEYWORD for p in params):
        cannot = sorted(arguments - by_keyword)
        if cannot:
            problems.append(f"takes no parameter for: {', '.join(cannot)}")
    needs = sorted(
        p.name
        for p in rest
        if p.default is P.empty
        and p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD)
        and p.name not in arguments
    )
    if needs:
        problems.append(f"requires what the event does not carry: {', '.join(needs)}")
    return " and ".join(problems)


def _with_suggestion(name: str, unused: list[str]) -> str:
    """``name``, and the parameter it was probably meant to be, if one is close."""
    close = difflib.get_close_matches(name, unused, n=1, cutoff=0.6)
    return f"{name} (did you mean {close[0]}?)" if close else name

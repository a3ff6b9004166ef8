"""Settings: a frozen dataclass built from keyword arguments, environment and files.

Precedence, highest first: keyword arguments to :func:`lightbus.create`, environment
variables (``LIGHTBUS_<NAME>``, e.g. ``LIGHTBUS_REDIS_URL``), then ``lightbus.toml`` or the
``[tool.lightbus]`` table of ``pyproject.toml`` in the current directory. Every field is
documented in ``docs/reference/configuration.md``.

The development loop's embedded server: when nothing sets ``redis_url``, or it is set to
``"embedded"``, and the current directory has a running embedded server (its state file
``.lightbus/embedded.json``, written by ``lightbus dev``, ``lightbus run --reload`` or
``lightbus shell``), its URL is used. An explicit URL is never replaced, and without a
live state file the default URL stays, so production is unaffected.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lightbus.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
EMBEDDED = "embedded"
EMBEDDED_STATE = os.path.join(".lightbus", "embedded.json")

# Numbers that must be > 0 (a zero timeout, concurrency or cap would stop the bus) and
# numbers that may be 0 (no backoff, no grace, no payload in the trace).
_POSITIVE = (
    "rpc_timeout",
    "connect_timeout",
    "max_payload_bytes",
    "max_payload_depth",
    "event_stream_maxlen",
    "ack_timeout",
    "max_attempts",
    "listener_concurrency",
    "rpc_concurrency",
    "handler_threads",
    "heartbeat_interval",
    "schema_ttl",
    "trace_maxlen",
)
_NON_NEGATIVE = (
    "retry_backoff",
    "shutdown_grace",
    "trace_max_age",
    "trace_payload_bytes",
    "trace_traceback_bytes",
    "prometheus_port",
)


class FrozenMapping(Mapping[str, float]):
    """A read-only, hashable copy of a mapping: what a frozen dataclass can hold.

    Equal to a dict with the same items; it pickles, and ``settings.rpc_timeouts[k] = v``
    raises ``TypeError`` instead of changing every part that shares the settings.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, float] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> float:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMapping, (self._items,))


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a bus process can be told. All fields have defaults."""

    redis_url: str = DEFAULT_REDIS_URL
    service_name: str = "default"
    process_name: str = ""
    module: str = "bus"
    prefix: str = "lightbus"
    rpc_timeout: float = 5.0
    rpc_timeouts: Mapping[str, float] = dataclasses.field(default_factory=FrozenMapping)
    connect_timeout: float = 5.0
    max_payload_bytes: int = 1_000_000
    max_payload_depth: int = 100
    event_stream_maxlen: int = 100_000
    ack_timeout: float = 60.0
    max_attempts: int = 5
    retry_backoff: float = 0.5
    listener_concurrency: int = 50
    rpc_concurrency: int = 20
    handler_threads: int = 20
    heartbeat_interval: float = 5.0
    schema_ttl: float = 60.0
    shutdown_grace: float = 10.0
    trace_enabled: bool = True
    trace_maxlen: int = 250_000
    trace_max_age: float = 0.0
    trace_payload_bytes: int = 4096
    trace_traceback_bytes: int = 8192
    trace_redact: tuple[str, ...] = ("password", "secret", "token", "api_key")
    validate: bool = True
    otel_enabled: bool = False
    prometheus_port: int = 0
    prometheus_address: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not self.process_name:
            host = socket.gethostname().split(".")[0]
            object.__setattr__(self, "process_name", f"{host}-{os.getpid()}")
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), field.type, "argument")
        # Frozen all the way down: a copy the caller's dict cannot change, nor anyone else.
        object.__setattr__(self, "rpc_timeouts", FrozenMapping(self.rpc_timeouts))
        if self.trace_max_age < 0:
            raise ConfigError("trace_max_age must be 0 (off) or more seconds", key="trace_max_age")
        for name in _POSITIVE + _NON_NEGATIVE:
            value = getattr(self, name)
            low = "greater than 0" if name in _POSITIVE else "0 or more"
            # NaN and infinity pass a plain comparison, then break every timeout.
            if not math.isfinite(value) or value < 0 or (name in _POSITIVE and value == 0):
                raise ConfigError(
                    f"{name} must be {low} (a finite number), got {value!r}", key=name
                )
        if self.prometheus_port > 65535:
            raise ConfigError(
                f"prometheus_port must be a TCP port (1 to 65535), or 0 for no metrics "
                f"endpoint; got {self.prometheus_port}",
                key="prometheus_port",
            )
        if self.redis_url != EMBEDDED:  # resolve() replaces it, or says why it cannot
            check_redis_url(self.redis_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Read ``LIGHTBUS_*`` variables into a dict of field values."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"LIGHTBUS_{field.name.upper()}")
            if raw is not None:
                values[field.name] = _parse_text(field.name, raw, str(field.type))
        return values

    @classmethod
    def from_file(cls, directory: Path | None = None) -> dict[str, Any]:
        """Read ``lightbus.toml`` or ``pyproject.toml`` ``[tool.lightbus]`` into a dict."""
        from pathlib import Path  # here, not at import: `import lightbus` stays small

        directory = directory or Path.cwd()
        own = directory / "lightbus.toml"
        if own.exists():
            table, source = _load_toml(own), str(own)
        else:
            pyproject = directory / "pyproject.toml"
            if not pyproject.exists():
                return {}
            table = _load_toml(pyproject).get("tool", {}).get("lightbus", {})
            source = f"{pyproject} [tool.lightbus]"
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(
                    f"Unknown setting {key!r} in {source}. Known settings: {', '.join(known)}.",
                    key=key,
                )
            if isinstance(value, list):
                value = tuple(value)
            _check_type(key, value, known[key].type, source)
            values[key] = value
        return values

    @classmethod
    def resolve(cls, **kwargs: Any) -> Settings:
        """Merge file, environment and keyword arguments, in rising precedence."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in kwargs:
            if key not in known:
                raise ConfigError(
                    f"Unknown setting {key!r}. Known settings: {', '.join(sorted(known))}.",
                    key=key,
                )
        merged = {**cls.from_file(), **cls.from_env(), **kwargs}
        url = merged.get("redis_url")
        if url is None or url == EMBEDDED:
            found = embedded_url(os.getcwd())
            if found:
                merged["redis_url"] = found
            elif url == EMBEDDED:
                raise ConfigError(
                    f"redis_url is {EMBEDDED!r} but no embedded server runs in {os.getcwd()} "
                    f"(no live {EMBEDDED_STATE}). Start one with `lightbus dev`, or "
                    f"`lightbus run --reload --embedded`, in this directory.",
                    key="redis_url",
                )
        return cls(**merged)

    def redacted_url(self) -> str:
        """The Redis URL with any password replaced by ``***``."""
        return redact_url(self.redis_url)

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: never show the Redis password there.
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["redis_url"] = self.redacted_url()
        fields = ", ".join(f"{name}={value!r}" for name, value in values.items())
        return f"Settings({fields})"


_SECRET_QUERY = re.compile(r"([?&](?:password|ssl_password)=)[^&#]*", re.IGNORECASE)


def embedded_url(directory: str) -> str | None:
    """The URL in ``directory``'s embedded-server state file, if its server is alive."""
    import json  # here, not at import: `import lightbus` stays small

    try:
        with open(os.path.join(directory, EMBEDDED_STATE)) as handle:
            state = json.load(handle)
        url, pid = str(state["url"]), int(state["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:
        return url  # alive, under another user
    except OSError:
        return None  # a stale file: its server is gone
    return url


def redact_url(url: str) -> str:
    """Hide the passwords of a URL such as ``redis://user:pw@host:6379/0?password=pw``."""
    url = _SECRET_QUERY.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    location, query_sep, query = rest.partition("?")
    if "@" not in location or "@" in query or "#" in rest:
        # Malformed (a password holding '?' or '#' unencoded): hide all up to the last '@'.
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    credentials, _, host = location.rpartition("@")
    user, colon, _password = credentials.partition(":")
    hidden = f"{user}:***" if colon else "***"
    return f"{scheme}://{hidden}@{host}{query_sep}{query}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_ENCODE = (
    "A password holding '/', '?', '#' or '@' must be percent-encoded, e.g. with "
    "urllib.parse.quote(password, safe=''): redis://user:p%2Fss%3Fword@host:6379/0. "
    "(The URL is not shown: it may hold the password.)"
)


def check_redis_url(url: str) -> None:
    """Raise :class:`ConfigError` for a Redis URL that would be misread.

    A password holding an unencoded ``/``, ``?`` or ``#`` ends the host part early, and
    redis-py then reads part of the password as the port or the database, and prints it
    in its error. The message never shows the URL, only what is wrong with it.
    """
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group().lower() not in ("redis://", "rediss://", "unix://"):
        shown = f"it starts with {scheme.group()!r}" if scheme else "it has no scheme"
        raise ConfigError(
            f"redis_url must start with redis://, rediss:// or unix:// ({shown}).",
            key="redis_url",
        )
    problem = _url_problem(url, unix=scheme.group().lower() == "unix://")
    if problem:
        raise ConfigError(f"redis_url is malformed: {problem}. {_ENCODE}", key="redis_url")


def _url_problem(url: str, *, unix: bool) -> str:
    from urllib.parse import urlsplit  # here, not at import: `import lightbus` stays small

    try:
        parts = urlsplit(url)
    except ValueError:
        return "it cannot be read as a URL"
    if "#" in url:
        return "it holds a '#', which would end the URL there"
    if "@" in parts.path or "@" in parts.query:
        return "an '@' comes after the part that names the host"
    if unix:
        return "" if parts.path else "it names no socket path"
    try:
        parts.port  # noqa: B018  # raises for a port that is not a number
    except ValueError:
        return "what follows the ':' after the host is not a port number"
    if not parts.hostname:
        return "it names no host"
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        return "the database after the host is not a number"
    return ""


def _load_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a config file exists

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "tuple[str, ...]": tuple,
    "Mapping[str, float]": Mapping,
}


def _check_type(key: str, value: Any, annotation: Any, source: str) -> None:
    expected = _TYPES[str(annotation)]
    wrong_bool = isinstance(value, bool) and annotation in ("int", "float")
    if not isinstance(value, expected) or wrong_bool:
        raise ConfigError(
            f"Setting {key!r} from {source} must be {annotation}, got {value!r}.", key=key
        )
    items: Any = value  # isinstance() above narrowed `value` to object
    if annotation == "tuple[str, ...]" and not all(isinstance(v, str) for v in items):
        raise ConfigError(f"Setting {key!r} from {source} must be a list of strings.", key=key)
    if annotation == "Mapping[str, float]" and not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in items.values()
    ):
        raise ConfigError(
            f"Setting {key!r} from {source} must map API names to seconds (numbers > 0).",
            key=key,
        )


def _parse_text(key: str, raw: str, annotation: str) -> Any:
    env = f"LIGHTBUS_{key.upper()}"
    try:
        if annotation == "int":
            return int(raw)
        if annotation == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} is not a number.", key=key) from None
    if annotation == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{env}={raw!r} is not a boolean (use true or false).", key=key)
    if annotation == "tuple[str, ...]":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if annotation == "Mapping[str, float]":
        # LIGHTBUS_RPC_TIMEOUTS="auth=10,billing=30"
        mapping: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in raw.split(","))):
            api, eq, seconds = part.partition("=")
            try:
                mapping[api.strip()] = float(seconds)
            except ValueError:
                raise ConfigError(
                    f"{env}={raw!r}: {part!r} is not api=seconds (e.g. auth=10,billing=30).",
                    key=key,
                ) from None
            if not eq:
                raise ConfigError(f"{env}={raw!r}: {part!r} is not api=seconds.", key=key)
        return mapping
    return raw

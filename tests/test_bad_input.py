"""Bad input gets a clear error that names what was wrong, and nothing is sent."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import time

import pytest

import lightbus
from lightbus import (
    Api,
    BusConnectionError,
    ConfigError,
    Event,
    InvalidArguments,
    NotSerializable,
    PayloadTooLarge,
    UnknownApi,
    UnknownName,
)


class AuthApi(Api):
    user_registered = Event(parameters=("username", "email"))

    class Meta:
        name = "auth"

    def check_password(self, username: str, password: str) -> bool:
        return password == "secret"


@pytest.fixture
async def bus(serve, caller):
    await serve(AuthApi())
    return caller()


async def test_positional_arguments_are_refused(bus):
    with pytest.raises(InvalidArguments) as caught:
        await bus.auth.check_password.call_async("ann", "secret")
    message = str(caught.value)
    assert "keyword arguments only" in message
    assert "auth.check_password(password=..., username=...)" in message


async def test_unknown_api_lists_the_known_ones(bus):
    with pytest.raises(UnknownApi) as caught:
        await bus.billing.charge.call_async(amount=1)
    assert caught.value.api == "billing"
    assert "Known APIs: auth" in str(caught.value)


async def test_unknown_api_lists_loaded_schemas_too(bus):
    # As `lightbus run --schema` loads them: known here, though not defined here.
    bus.client.schemas["stock"] = {"rpcs": {}, "events": {}}
    with pytest.raises(UnknownApi) as caught:
        await bus.billing.charge.call_async(amount=1)
    assert caught.value.known == ["auth", "stock"]


async def test_unknown_rpc_lists_the_rpcs(bus):
    with pytest.raises(UnknownName) as caught:
        await bus.auth.check_pasword.call_async(username="a", password="b")
    assert "API 'auth' has no rpc named 'check_pasword'" in str(caught.value)
    assert "check_password" in str(caught.value)


async def test_unknown_event_lists_the_events(bus):
    with pytest.raises(UnknownName) as caught:
        await bus.auth.user_deleted.fire_async(username="a")
    assert "no event named 'user_deleted'" in str(caught.value)
    assert "user_registered" in str(caught.value)


async def test_calling_an_event_says_it_is_an_event(bus):
    with pytest.raises(UnknownName) as caught:
        await bus.auth.user_registered.call_async(username="a", email="b")
    assert "auth.user_registered is an event, not an rpc: fire() or listen()" in str(caught.value)


async def test_firing_an_rpc_says_it_is_an_rpc(bus):
    with pytest.raises(UnknownName, match=r"auth\.check_password is an rpc, not an event"):
        await bus.auth.check_password.fire_async(username="a", password="b")


async def test_missing_argument_is_named(bus):
    with pytest.raises(InvalidArguments) as caught:
        await bus.auth.check_password.call_async(username="ann")
    assert caught.value.field == "password"
    assert "missing required argument(s): password" in str(caught.value)


async def test_unexpected_argument_is_named(bus):
    with pytest.raises(InvalidArguments) as caught:
        await bus.auth.user_registered.fire_async(username="a", email="b", phone="c")
    assert caught.value.field == "phone"
    assert "unexpected argument(s): phone" in str(caught.value)
    assert "It accepts: email, username" in str(caught.value)


async def test_a_misspelt_argument_is_named_with_the_close_match(bus):
    with pytest.raises(InvalidArguments) as caught:
        await bus.auth.check_password.call_async(user="ann", password="secret")
    assert caught.value.field == "user"
    assert str(caught.value) == (
        "auth.check_password got unexpected argument(s): user (did you mean username?) and "
        "is missing required argument(s): username. It accepts: password, username."
    )
    with pytest.raises(InvalidArguments) as caught:
        await bus.auth.user_registered.fire_async(username="a", emial="b", zzz=1)
    assert "unexpected argument(s): emial (did you mean email?), zzz and is missing" in str(
        caught.value
    )


def send_welcome(event, username):  # forgot email
    pass


FORGOT_EMAIL = (
    "Listener 'send_welcome' cannot handle auth.user_registered: its handler "
    "send_welcome(event, username) takes no parameter for: email. A handler is called as "
    "handler(event, **arguments) with email, username: give it a parameter for each (or "
    "**kwargs)."
)


def test_listen_refuses_a_handler_that_cannot_take_the_events_arguments(bus_factory, raw_redis):
    bus = bus_factory()
    bus.client.register_api(AuthApi())
    with pytest.raises(InvalidArguments) as caught:
        bus.auth.user_registered.listen(send_welcome, listener_name="send_welcome")
    assert str(caught.value) == FORGOT_EMAIL
    assert bus.client.listeners == [] and raw_redis.keys("*") == []  # nothing started

    def needs_more(event, username, email, locale):
        pass

    with pytest.raises(InvalidArguments, match="requires what the event does not carry: locale"):
        bus.auth.user_registered.listen(needs_more)
    bus.auth.user_registered.listen(lambda event, **arguments: None, listener_name="any")


def test_listen_refuses_it_for_an_api_known_from_the_registry(serve_in_thread, bus_factory):
    serve_in_thread(AuthApi())
    bus = bus_factory()  # knows `auth` only from the worker's published schema
    with pytest.raises(InvalidArguments) as caught:
        bus.auth.user_registered.listen(send_welcome, listener_name="send_welcome")
    assert str(caught.value) == FORGOT_EMAIL
    assert bus.client.listeners == []


async def test_non_json_argument_is_named_and_nothing_is_sent(bus, raw_redis):
    with pytest.raises(NotSerializable) as caught:
        await bus.auth.user_registered.fire_async(username="a", email=socket.socket)
    assert caught.value.field == "email"
    assert "argument 'email' of type type cannot be sent as JSON" in str(caught.value)
    assert raw_redis.exists("lightbus:event:auth.user_registered") == 0


async def test_json_friendly_types_are_sent(bus):
    sent = await bus.auth.user_registered.fire_async(username="a", email=datetime.date(2026, 1, 2))
    assert sent.kwargs["email"] == datetime.date(2026, 1, 2)


async def test_payload_over_the_limit_is_refused(serve, caller, raw_redis):
    await serve(AuthApi())
    bus = caller(max_payload_bytes=1000)
    with pytest.raises(PayloadTooLarge) as caught:
        await bus.auth.user_registered.fire_async(username="a", email="x" * 2000)
    assert "over the limit of 1000 bytes" in str(caught.value)
    assert raw_redis.exists("lightbus:event:auth.user_registered") == 0


async def test_unreachable_redis_fails_in_bounded_time_with_password_hidden(caller):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bus = caller(redis_url=f"redis://app:hunter2@127.0.0.1:{port}/0", connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BusConnectionError) as caught:
        await bus.auth.check_password.call_async(username="a", password="b")
    assert time.monotonic() - started < 5
    assert "hunter2" not in str(caught.value)
    assert f"redis://app:***@127.0.0.1:{port}/0" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_blocking_call_to_unreachable_redis_also_fails(bus_factory):
    bus = bus_factory(redis_url="redis://127.0.0.1:1/0", connect_timeout=0.5)
    with pytest.raises(BusConnectionError):
        bus.auth.user_registered.fire(username="a", email="b")


def test_malformed_config_names_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lightbus.toml").write_text('rpc_timeout = "soon"\n')
    with pytest.raises(ConfigError) as caught:
        lightbus.create()
    assert caught.value.key == "rpc_timeout"
    assert "must be float" in str(caught.value)
    (tmp_path / "lightbus.toml").write_text("rpc_timout = 3\n")
    with pytest.raises(ConfigError, match="Unknown setting 'rpc_timout'"):
        lightbus.create()


def test_malformed_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("LIGHTBUS_RPC_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="LIGHTBUS_RPC_TIMEOUT='soon' is not a number"):
        lightbus.create()


def test_bad_redis_url_scheme():
    with pytest.raises(ConfigError, match="must start with redis://") as info:
        lightbus.create(redis_url="http://localhost:6379")
    assert "it starts with 'http://'" in str(info.value) and info.value.key == "redis_url"


def test_api_without_meta_name():
    with pytest.raises(TypeError, match="needs a Meta class with a name"):

        class Nameless(Api):
            def hello(self) -> str:
                return "hi"


def test_registering_a_class_instead_of_an_instance(bus_factory):
    bus = bus_factory()
    with pytest.raises(TypeError, match="call it to make an instance"):
        bus.client.register_api(AuthApi)


def _run(folder, *args, env):
    return subprocess.run(
        [sys.executable, "-m", "lightbus", "run", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bus_module_that_does_not_import(project, worker_env):
    folder = project("import lightbus\nimport not_a_real_package\nbus = lightbus.create()\n")
    result = _run(folder, env=worker_env())
    assert result.returncode != 0
    assert "failed to import" in result.stderr
    assert "No module named 'not_a_real_package' (bus.py, line 2)" in result.stderr


def test_bus_module_that_raises_says_where(project, worker_env):
    folder = project("import lightbus\n\nbus = lightbus.create()\nlimit = undefined_limit + 1\n")
    result = _run(folder, env=worker_env())
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "lightbus run: error: The bus module 'bus' failed to import: NameError: name "
        "'undefined_limit' is not defined (bus.py, line 4)"
    )
    # The traceback shows the user's lines only, not the import machinery nor Lightbus.
    assert f'File "{folder / "bus.py"}", line 4, in <module>' in result.stderr
    assert "    limit = undefined_limit + 1" in result.stderr
    assert "importlib" not in result.stderr and "lightbus/worker.py" not in result.stderr


def test_bus_module_with_a_syntax_error(project, worker_env):
    folder = project("import lightbus\nbus = lightbus.create(\n")
    result = _run(folder, env=worker_env())
    assert result.returncode != 0
    assert "SyntaxError" in result.stderr


def test_missing_bus_module(tmp_path, worker_env):
    result = _run(tmp_path, "--bus", "nowhere", env=worker_env())
    assert result.returncode == 1
    assert "Cannot find the bus module 'nowhere'" in result.stderr


def test_worker_with_unreachable_redis_exits_with_a_clear_error(project, worker_env):
    folder = project("import lightbus\nbus = lightbus.create()\n")
    env = worker_env(LIGHTBUS_REDIS_URL="redis://:pw@127.0.0.1:1/0", LIGHTBUS_CONNECT_TIMEOUT="1")
    result = _run(folder, env=env)
    assert result.returncode == 1
    assert "Cannot reach Redis at redis://:***@127.0.0.1:1/0: Error 111" in result.stderr

"""Settings: keyword arguments > environment > lightbus.toml / pyproject.toml."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from lightbus import ConfigError, Settings
from lightbus.settings import redact_url


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.resolve()
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.module == "bus"
    assert settings.process_name  # derived from host and pid


def test_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lightbus]\nservice_name = "from-file"\nrpc_timeout = 7\nmodule = "app.bus"\n'
    )
    assert Settings.resolve().service_name == "from-file"
    assert Settings.resolve().rpc_timeout == 7
    monkeypatch.setenv("LIGHTBUS_SERVICE_NAME", "from-env")
    assert Settings.resolve().service_name == "from-env"
    assert Settings.resolve(service_name="from-kwarg").service_name == "from-kwarg"
    assert Settings.resolve().module == "app.bus"


def test_lightbus_toml_wins_over_pyproject(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.lightbus]\nservice_name = "pyproject"\n')
    (tmp_path / "lightbus.toml").write_text('service_name = "own"\ntrace_redact = ["pin"]\n')
    settings = Settings.resolve()
    assert settings.service_name == "own"
    assert settings.trace_redact == ("pin",)


def test_environment_types(monkeypatch):
    monkeypatch.setenv("LIGHTBUS_TRACE_ENABLED", "false")
    monkeypatch.setenv("LIGHTBUS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("LIGHTBUS_TRACE_REDACT", "password, pin")
    monkeypatch.setenv("LIGHTBUS_RPC_TIMEOUTS", "auth=10,billing=2.5")
    settings = Settings.resolve()
    assert settings.trace_enabled is False
    assert settings.max_attempts == 3
    assert settings.trace_redact == ("password", "pin")
    assert settings.rpc_timeouts == {"auth": 10.0, "billing": 2.5}


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("LIGHTBUS_TRACE_ENABLED", "maybe", "is not a boolean"),
        ("LIGHTBUS_MAX_ATTEMPTS", "many", "is not a number"),
        ("LIGHTBUS_RPC_TIMEOUTS", "auth", "is not api=seconds"),
        ("LIGHTBUS_RPC_TIMEOUT", "-1", "rpc_timeout must be greater than 0"),
    ],
)
def test_bad_environment_values(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        Settings.resolve()


def test_bad_file_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lightbus.toml").write_text("max_attempts = true\n")
    with pytest.raises(ConfigError, match=r"'max_attempts' .* must be int") as caught:
        Settings.resolve()
    assert caught.value.key == "max_attempts"
    (tmp_path / "lightbus.toml").write_text("max_attempts = [\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        Settings.resolve()


def test_unknown_keyword():
    with pytest.raises(ConfigError, match="Unknown setting 'redis'"):
        Settings.resolve(redis="redis://x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://user:pw@host:1/0", "redis://user:***@host:1/0"),
        ("rediss://:pw@host:1/0", "rediss://:***@host:1/0"),
        ("redis://token@host:1", "redis://***@host:1"),
    ],
)
def test_redacted_urls(url, shown):
    assert redact_url(url) == shown


def test_settings_are_frozen_all_the_way_down():
    given = {"auth": 10.0}
    settings = Settings(rpc_timeouts=given)
    given["auth"] = 99.0  # the caller's dict is copied, not held
    assert settings.rpc_timeouts == {"auth": 10.0}
    with pytest.raises(TypeError):
        settings.rpc_timeouts["auth"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rpc_timeout = 1.0  # type: ignore[misc]
    assert hash(settings) == hash(
        Settings(rpc_timeouts={"auth": 10.0}, process_name=settings.process_name)
    )
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert dataclasses.replace(settings, rpc_timeout=2.0).rpc_timeouts == {"auth": 10.0}

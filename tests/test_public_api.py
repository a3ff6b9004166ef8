"""The public surface and the layering the design promises."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import lightbus


def test_all_is_sorted_and_exported():
    assert lightbus.__all__ == sorted(lightbus.__all__)
    for name in lightbus.__all__:
        assert hasattr(lightbus, name), name


def test_public_names():
    assert {"Api", "Event", "Parameter", "create", "RemoteError", "RpcTimeout"} <= set(
        lightbus.__all__
    )


def test_lightbus_version_prints_the_one_package_version():
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "--version"], capture_output=True, text=True, timeout=30
    )
    assert (result.returncode, result.stdout) == (0, f"lightbus {lightbus.__version__}\n")
    # The installed metadata comes from the same definition (pyproject.toml reads it).
    assert importlib.metadata.version("lightbus") == lightbus.__version__


def test_import_lightbus_loads_no_tool_or_ui_library():
    code = (
        "import sys, json, lightbus; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'watchfiles', 'lightbus_tools', 'rich'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_lightbus_run_does_not_load_the_tools():
    code = (
        "import sys, runpy; sys.argv = ['lightbus', '--help'];\n"
        "from lightbus import cli\n"
        "try:\n    cli.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('textual', 'watchfiles')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_error_tree():
    for name in (
        "BusConnectionError",
        "ConfigError",
        "InvalidArguments",
        "RemoteError",
        "RpcTimeout",
        "UnknownApi",
        "UnknownName",
        "PayloadTooLarge",
    ):
        assert issubclass(getattr(lightbus, name), lightbus.LightbusError)
    assert issubclass(lightbus.BusConnectionError, ConnectionError)
    assert issubclass(lightbus.RpcTimeout, TimeoutError)


def test_every_listed_command_has_its_module():
    import importlib.util

    from lightbus.cli import COMMANDS

    for name, (module, _) in COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, f"lightbus {name}: no {module}"

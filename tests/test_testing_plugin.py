"""The pytest plugin, loaded as installing Lightbus loads it: through its ``pytest11``
entry point. Each test runs pytest in a subprocess on a suite of its own.

The subprocess finds the entry point exactly as pyproject.toml declares it (a
distribution's metadata holding that table, put on its path), so the declaration itself
is what is tested, whatever the installed metadata of this checkout says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

EXAMPLE = ROOT / "examples" / "testing"


@pytest.fixture(scope="module")
def entry_point(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a distribution declaring pyproject.toml's pytest11 entry points."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    folder = tmp_path_factory.mktemp("entrypoint")
    dist = folder / "lightbus_entrypoints-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lightbus-entrypoints\nVersion: 0\n"
    )
    lines = ["[pytest11]"] + [f"{k} = {v}" for k, v in table["pytest11"].items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return folder


def run_pytest(
    entry_point: Path, folder: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTBUS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(entry_point)])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def write_suite(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert table["pytest11"] == {"lightbus": "lightbus.testing.plugin"}


def test_the_example_suite_passes_with_the_plugin(entry_point):
    """examples/testing: BusMocker, run_handler, lightbus_worker and bus, as CI runs it."""
    result = run_pytest(entry_point, EXAMPLE, "-q", "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\n13 passed" in result.stdout, result.stdout


def test_loading_the_plugin_costs_nothing_until_a_fixture_is_used():
    """Importing the plugin loads no redis-py and none of the bus's runtime (a session
    that uses no fixture of it starts no server and sets no environment: see
    test_1_nothing_runs_unless_asked below), and the testing names still load on use."""
    code = (
        "import sys, lightbus.testing.plugin, lightbus.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis' or m in "
        "('lightbus.client', 'lightbus.facade', 'lightbus.worker', 'lightbus.testing.mocker')))\n"
        "from lightbus.testing import BusMocker, run_handler\n"
        "from lightbus.utilities.testing import BusMocker as Old\n"
        "print(BusMocker is Old, callable(run_handler))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.stdout.splitlines() == ["[]", "True True"], out.stderr


def test_the_fixtures_and_their_errors(entry_point, tmp_path):
    suite = write_suite(
        tmp_path,
        {
            "bad_bus.py": """
                import lightbus

                bus = lightbus.create()

                @bus.client.on_start()
                def fails(**_):
                    raise RuntimeError("the start hook failed")
            """,
            "test_suite.py": """
                import os

                import pytest

                import lightbus


                def test_1_nothing_runs_unless_asked():
                    pid = os.getpid()
                    with open(f"/proc/{pid}/task/{pid}/children") as children:
                        assert children.read().strip() == ""  # no server started
                    assert "LIGHTBUS_REDIS_URL" not in os.environ


                def test_2_bus_is_on_the_private_server(bus, lightbus_redis):
                    assert bus.client.settings.redis_url == lightbus_redis.url
                    assert os.environ["LIGHTBUS_REDIS_URL"] == lightbus_redis.url
                    assert ":6379/" not in lightbus_redis.url
                    bus.client.register_api(Shop())
                    message = bus.shop.ordered.fire(order_id="1")
                    assert message.kwargs == {"order_id": "1"}


                def test_3_each_test_starts_with_an_empty_server(bus):
                    import redis

                    client = redis.Redis.from_url(bus.client.settings.redis_url)
                    assert client.keys("lightbus:event:*") == []
                    client.close()


                def test_4_a_missing_bus_module_is_named(lightbus_worker):
                    with pytest.raises(lightbus.BusModuleError, match="'no_such_bus'"):
                        lightbus_worker("no_such_bus")


                def test_5_a_worker_that_cannot_start_raises_its_error(lightbus_worker):
                    with pytest.raises(RuntimeError, match="the start hook failed"):
                        lightbus_worker("bad_bus")


                def test_6_an_unexpected_call_caught_by_the_code_fails_at_teardown(
                    bus, bus_mocker
                ):
                    mock = bus_mocker(bus)
                    try:
                        bus.shop.ordered.fire(order_id="1")
                    except AssertionError:
                        pass  # the code under test swallows it


                class Shop(lightbus.Api):
                    ordered = lightbus.Event(parameters=("order_id",))

                    class Meta:
                        name = "shop"
            """,
        },
    )
    result = run_pytest(entry_point, suite, "--timeout", "60")
    out = result.stdout
    for n in range(1, 6):
        assert f"PASSED test_suite.py::test_{n}_" in out, out + result.stderr
    assert "ERROR at teardown of test_6_an_unexpected_call" in out, out
    assert "Event shop.ordered unexpectedly fired" in out, out


def test_a_private_redis_for_the_session_reaches_bus_modules_imported_early(entry_point, tmp_path):
    """With lightbus_private_redis, a bus made at import (even by a conftest) talks to the
    session's private server."""
    suite = write_suite(
        tmp_path,
        {
            "pytest.ini": "[pytest]\nlightbus_private_redis = true\n",
            "conftest.py": "import app_bus  # imported before any fixture runs\n",
            "app_bus.py": "import lightbus\n\nbus = lightbus.create()\n",
            "test_early.py": """
                import app_bus


                def test_the_early_bus_uses_the_private_server(lightbus_redis):
                    assert app_bus.bus.client.settings.redis_url == lightbus_redis.url
                    app_bus.bus.client.register_api(Ping())
                    app_bus.bus.ping.pinged.fire()  # reaches the server
                    app_bus.bus.close()


                import lightbus


                class Ping(lightbus.Api):
                    pinged = lightbus.Event()

                    class Meta:
                        name = "ping"
            """,
        },
    )
    result = run_pytest(entry_point, suite, "-q")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_plugin_can_be_turned_off(entry_point, tmp_path):
    suite = write_suite(tmp_path, {"test_off.py": "def test_x(bus_mocker):\n    pass\n"})
    assert run_pytest(entry_point, suite, "-q").returncode == 0
    result = run_pytest(entry_point, suite, "-q", "-p", "no:lightbus")
    assert result.returncode != 0
    assert "fixture 'bus_mocker' not found" in result.stdout, result.stdout

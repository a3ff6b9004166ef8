"""lightbus.creation: the 1.x import path, and create(flask=True) under Flask's reloader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from support import wait_until

import lightbus
from lightbus.creation import create, in_flask_reloader_parent


def test_the_1x_import_path_is_lightbus_create():
    assert create is lightbus.create
    bus = create(redis_url="redis://127.0.0.1:1/0", flask=True)  # not under flask: a bus
    assert type(bus) is lightbus.Bus


@pytest.mark.parametrize(
    ("argv", "env", "parent"),
    [
        (["/venv/bin/flask", "run", "--debug"], {}, True),
        (["/venv/bin/flask", "--app", "app", "--debug", "run"], {}, True),
        (["/venv/bin/flask", "run"], {"FLASK_DEBUG": "1"}, True),
        (["/venv/bin/flask", "run", "--reload"], {}, True),
        (["/py/lib/flask/__main__.py", "run", "--debug"], {}, True),  # python -m flask
        (["/venv/bin/flask", "run", "--debug"], {"WERKZEUG_RUN_MAIN": "true"}, False),  # child
        (["/venv/bin/flask", "run"], {}, False),  # no reloader: one process
        (["/venv/bin/flask", "run"], {"FLASK_DEBUG": "0"}, False),
        (["/venv/bin/flask", "run", "--debug", "--no-reload"], {}, False),
        (["/venv/bin/flask", "run", "--no-debug"], {"FLASK_DEBUG": "1"}, False),
        (["/venv/bin/flask", "routes"], {"FLASK_DEBUG": "1"}, False),
        (["/venv/bin/gunicorn", "app:app"], {"FLASK_DEBUG": "1"}, False),
        ([], {}, False),
    ],
)
def test_the_reloader_parent_is_recognised(argv, env, parent):
    assert in_flask_reloader_parent(argv, env) is parent


def test_a_dormant_bus_registers_but_never_starts(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/flask", "run", "--debug"])
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    bus = create(flask=True, redis_url="redis://127.0.0.1:1/0")
    bus.client.register_api(ShopApi())
    listener = bus.shop.order_placed.listen(lambda event, order_id: None, listener_name="x")
    assert [lst.name for lst in bus.client.listeners] == [listener.name] == ["x"]
    assert bus.client.loop is None  # no thread, no connection
    with pytest.raises(RuntimeError, match="parent of Flask's reloader"):
        bus.shop.order_placed.fire(order_id="1")
    bus.close()


def test_flask_must_be_a_bool():
    with pytest.raises(TypeError, match=r"create\(flask=...\) takes True or False"):
        create(flask="yes")


class ShopApi(lightbus.Api):
    order_placed = lightbus.Event(parameters=("order_id",))

    class Meta:
        name = "shop"


APP = """
    import os

    from flask import Flask

    import lightbus

    class ShopApi(lightbus.Api):
        order_placed = lightbus.Event(parameters=("order_id",))

        class Meta:
            name = "shop"

    bus = lightbus.create(flask=True, service_name="web")
    bus.client.register_api(ShopApi())

    def note(line):
        with open(os.environ["MARKER"], "a") as marker:
            marker.write(f"{line}\\n")

    bus.shop.order_placed.listen(
        lambda event, order_id: note(f"handled {os.getpid()}"), listener_name="cache"
    )
    note(f"{os.getpid()} {os.environ.get('WERKZEUG_RUN_MAIN', '-')} {type(bus).__name__}")

    app = Flask(__name__)
"""


def test_under_flask_run_debug_only_the_serving_child_starts_the_bus(
    tmp_path, redis_url, bus_factory
):
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    # Werkzeug's watchdog reloader would watch every folder on sys.path; its polling
    # reloader is lighter on a shared test machine, and is what runs without watchdog.
    (tmp_path / "watchdog").mkdir()
    (tmp_path / "watchdog" / "__init__.py").write_text("raise ImportError('not here')\n")
    marker = tmp_path / "marker"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTBUS_", "FLASK_"))}
    env.update(
        LIGHTBUS_REDIS_URL=redis_url,
        MARKER=str(marker),
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    proc = subprocess.Popen(
        [flask, "--app", "app", "run", "--debug", "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip

    def lines():
        return marker.read_text().splitlines() if marker.exists() else []

    try:
        started = wait_until(lambda: len(lines()) >= 2 and lines(), timeout=20)
        processes = {line.split()[1]: line.split() for line in started}
        assert processes["-"][2] == "DormantBus"  # the reloader's parent
        assert processes["true"][2] == "Bus"  # the child that serves requests
        child = processes["true"][0]
        bus = bus_factory()
        bus.client.register_api(ShopApi())
        # The child's listener handles what is fired; the parent has none running.
        wait_until(
            lambda: (
                bus.shop.order_placed.fire(order_id="1")
                and any(line.startswith("handled") for line in lines())
            ),
            timeout=15,
            interval=0.5,
        )
        handled = {line for line in lines() if line.startswith("handled")}
        assert handled == {f"handled {child}"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.mark.parametrize("key", ["config", "config_file", "plugins", "features"])
def test_1x_only_arguments_say_where_settings_went(key):
    with pytest.raises(lightbus.ConfigError, match=f"create\\({key}=...\\) is Lightbus 1.x's") as e:
        create(**{key: "x"})
    assert e.value.key == key and "migrate-from-1x.md" in str(e.value)


def test_the_1x_snippet_of_the_migration_guide_runs(monkeypatch):
    """docs/snippets/lightbus_1x.py: 1.x's tutorial bus module and a 1.x-style test."""
    import runpy

    monkeypatch.setenv("LIGHTBUS_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing is sent
    namespace = runpy.run_path(str(ROOT / "docs" / "snippets" / "lightbus_1x.py"))
    namespace["test_page_view_is_fired"]()
    namespace["bus"].close()

"""Shell completion: the candidates of `lightbus __complete`, and the scripts that call it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from lightbus_tools.completion.candidates import complete
from lightbus_tools.completion.command import split_line
from lightbus_tools.completion.names import Names

BIN = os.path.dirname(sys.executable)  # where the `lightbus` script of this venv is

SHOP = """
    import lightbus
    from lightbus import Api, Event, Parameter

    class ShopApi(Api):
        order_placed = Event(parameters=(Parameter("order_id", str), Parameter("qty", int)))

        class Meta:
            name = "shop"

        def add(self, a: int, b: int = 0) -> int:
            return a + b

    bus = lightbus.create()
    bus.client.register_api(ShopApi())
"""

STOCK = """
    import lightbus
    from lightbus import Api

    class StockApi(Api):
        class Meta:
            name = "company.stock"

        def level(self, sku: str) -> int:
            return 3

    bus = lightbus.create()
    bus.client.register_api(StockApi())
"""


@pytest.fixture(autouse=True)
def private_redis(monkeypatch, redis_url):
    """A completion in this process that looked names up would ask this Redis, no other."""
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)


def run(cwd, env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightbus", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def candidates(cwd, env, *words: str) -> list[str]:
    """The values `lightbus __complete WORDS` offers (descriptions dropped)."""
    result = run(cwd, env, "__complete", "--", *words)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line.split("\t")[0] for line in result.stdout.splitlines()]


def offered(*words: str, names: Names | None = None) -> list[str]:
    """What a TAB after ``lightbus WORDS`` offers (values only), in this process."""
    return [value for value, _ in complete(list(words), names)]


def test_commands_options_and_their_values():
    commands = offered("")
    assert {"call", "fire", "completion", "run", "inspect", "schema"} <= set(commands)
    assert "__complete" not in commands
    assert offered("c") == ["call", "completion"]
    assert offered("--v") == ["--version"]
    assert complete(["inspect", "--st"]) == [
        ("--status", "only records with this status"),
        ("--step", "only this step, e.g. event.failed"),
    ]
    assert offered("dumpschema", "--format", "") == ["asyncapi", "jsonschema"]
    assert offered("run", "--log-format", "j") == ["json"]
    assert offered("call", "a.b", "--output", "") == ["json", "rich"]
    assert offered("schema", "") == ["check"]  # a nested subcommand
    assert offered("schema", "check", "--") == ["--help", "--json"]
    assert offered("completion", "") == ["bash", "fish", "zsh"]
    assert offered("embedded", "st") == ["start", "status", "stop"]
    # A value the shell completes itself (a file name): nothing from us.
    assert offered("dumpschema", "--out", "") == []
    assert offered("nosuchcommand", "") == []


def test_api_names_and_parameters():
    module: dict = {}
    exec(textwrap.dedent(SHOP), module)  # the bus module the other tests import
    names = Names(schemas=dict(module["bus"].client.schemas))
    assert offered("call", "", names=names) == ["shop.add"]
    assert offered("fire", "", names=names) == ["shop.order_placed"]
    assert offered("call", "shop.add", "", names=names) == ["a=", "b="]
    assert offered("call", "shop.add", "a=1", "", names=names) == ["b="]
    assert offered("call", "shop.add", "--timeout", "2", "", names=names) == ["a=", "b="]
    assert offered("fire", "shop.order_placed", "q", names=names) == ["qty="]
    assert offered("call", "shop.add", "a=", names=names) == []  # a value: not ours
    assert offered("call", "nope.x", "", names=names) == []
    assert complete(["call", "shop.add", ""], names) == [
        ("a=", "integer, required"),
        ("b=", "integer, optional"),
    ]
    assert offered("inspect", "--api", "", names=names) == ["shop"]
    assert offered("inspect", "--api", "shop", "--name", "", names=names) == [
        "add",
        "order_placed",
    ]


def test_the_entry_offers_the_bus_module_names(project, worker_env):
    folder = project(SHOP)
    assert candidates(folder, worker_env(), "fire", "") == ["shop.order_placed"]
    described = run(folder, worker_env(), "__complete", "call", "shop.add", "a=1", "")
    assert described.stdout.splitlines() == ["b=\tinteger, optional"]


def test_api_names_from_the_live_registry(project, tmp_path, start_worker, worker_env):
    stock = project(STOCK, "stock/bus.py") / "stock"
    start_worker(stock)
    here = project(SHOP, "here/bus.py") / "here"
    env = worker_env()
    assert candidates(here, env, "call", "") == ["company.stock.level", "shop.add"]
    assert candidates(here, env, "call", "company.stock.level", "") == ["sku="]
    # --bus names another module; a live API is still offered beside it.
    assert candidates(here, env, "call", "--bus", "nosuch", "") == ["company.stock.level"]


def test_bash_passes_the_line_up_to_the_cursor(tmp_path, worker_env):
    result = run(tmp_path, worker_env(), "__complete", "--line", "lightbus dumpschema --f")
    assert result.stdout.splitlines() == [
        "--format\tJSON Schema per API (default) or an " + ("AsyncAPI 3.0 document")
    ]
    assert split_line("lightbus call a.b --json '{\"n\": 1}' ") == [
        "lightbus",
        "call",
        "a.b",
        "--json",
        '{"n": 1}',
        "",
    ]
    assert split_line("lightbus call --json '{\"a") == ["lightbus", "call", "--json", "'{\"a"]


def test_a_bus_that_cannot_be_reached_or_imported_offers_nothing_quickly(project, worker_env):
    folder = project("import lightbus\nraise RuntimeError('broken module')\n")
    env = worker_env(LIGHTBUS_REDIS_URL="redis://127.0.0.1:1/0")
    started = time.monotonic()
    assert candidates(folder, env, "call", "") == []
    assert time.monotonic() - started < 10
    assert candidates(folder, env, "ca") == ["call"]


def test_the_bash_script_is_valid_and_completes(project, worker_env):
    script = run(project(""), worker_env(), "completion", "bash")
    assert script.returncode == 0
    syntax = subprocess.run(["bash", "-n"], input=script.stdout, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    # The completion function as bash runs it on TAB, with the line typed so far.
    folder = project(SHOP)
    probe = (
        script.stdout
        + 'COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; _lightbus_complete\n'
        + 'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = worker_env(PATH=os.pathsep.join([BIN, os.environ.get("PATH", "")]))
    for line, expected in [
        ("lightbus fi", ["fire"]),
        ("lightbus call shop.add a=1 ", ["b="]),
        ("lightbus dumpschema --format a", ["asyncapi"]),
    ]:
        shown = subprocess.run(
            ["bash", "-c", probe, "bash", line],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert shown.stdout.split() == expected, (line, shown.stderr)


@pytest.mark.parametrize(
    "shell,check",
    [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])],
)
def test_the_zsh_and_fish_scripts_parse(shell, check, tmp_path, worker_env):
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    script = run(tmp_path, worker_env(), "completion", shell)
    assert script.returncode == 0 and "lightbus __complete" in script.stdout
    parsed = subprocess.run(check, input=script.stdout, capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_an_unknown_shell_is_refused(tmp_path, worker_env):
    result = run(tmp_path, worker_env(), "completion", "powershell")
    assert result.returncode == 2
    assert "invalid choice: 'powershell' (choose from 'bash', 'fish', 'zsh')" in result.stderr


def test_help_does_not_load_the_completion(tmp_path):
    code = (
        "import sys\nfrom lightbus import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lightbus_tools', 'redis'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"

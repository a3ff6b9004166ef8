"""`lightbus dumpschema`: golden files, live APIs, one file per API, and AsyncAPI 3.0.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 python -m pytest tests/test_dumpschema.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT

from lightbus_tools.asyncapi import render

GOLDEN = Path(__file__).parent / "golden" / "dumpschema"
ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"
QUICKSTART = ROOT / "examples" / "quickstart"
COMPANY = ROOT / "tests" / "data" / "typed_company"  # the typed APIs, one bus module


def dumpschema(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightbus", "dumpschema", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


@pytest.mark.parametrize(
    "folder,golden",
    [(QUICKSTART, "quickstart.json"), (COMPANY, "company.json")],
    ids=["quickstart", "company"],
)
def test_golden_jsonschema(folder, golden, worker_env):
    result = dumpschema(folder, worker_env(), "--local")
    assert result.returncode == 0, result.stderr
    check_golden(golden, result.stdout)
    assert result.stdout == dumpschema(folder, worker_env(), "--local").stdout  # stable


def test_golden_asyncapi_is_valid_asyncapi_3(worker_env, asyncapi_validator):
    result = dumpschema(COMPANY, worker_env(), "--local", "--format", "asyncapi")
    assert result.returncode == 0, result.stderr
    check_golden("company.asyncapi.json", result.stdout)
    document = json.loads(result.stdout)
    errors = [e.message for e in asyncapi_validator.iter_errors(document)]
    assert errors == []
    assert (
        document["channels"]["sales.order_placed"]["address"] == "lightbus:event:sales.order_placed"
    )
    assert document["channels"]["warranty.rpc"]["address"] == "lightbus:rpc:warranty"
    reply = document["operations"]["warranty.check_serial"]["reply"]
    assert reply["address"]["location"] == "$message.payload#/reply_to"
    payload = document["components"]["schemas"]["warranty.check_serial.response"]
    assert payload == {"$ref": "#/components/schemas/warranty.Coverage"}
    quickstart = dumpschema(QUICKSTART, worker_env(), "--local", "--format", "asyncapi")
    assert list(asyncapi_validator.iter_errors(json.loads(quickstart.stdout))) == []


def test_the_asyncapi_check_can_fail(asyncapi_validator):
    document = render({"a": {"rpcs": {}, "events": {"e": {"parameters": {"type": "object"}}}}})
    assert list(asyncapi_validator.iter_errors(document)) == []
    document["operations"]["a.e.fire"]["action"] = "publish"  # AsyncAPI 2 wording
    assert list(asyncapi_validator.iter_errors(document))


def test_live_apis_are_included(project, start_worker, worker_env):
    folder = project(
        """
        import lightbus
        from lightbus import Api

        class StockApi(Api):
            class Meta:
                name = "stock"

            def level(self, sku: str) -> int:
                return 3

        bus = lightbus.create()
        bus.client.register_api(StockApi())
        """
    )
    start_worker(folder)
    result = dumpschema(QUICKSTART, worker_env())
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)
    assert sorted(schemas) == ["example", "stock"]
    assert schemas["stock"]["rpcs"]["level"]["response"] == {"type": "integer"}
    live_only = json.loads(dumpschema(QUICKSTART, worker_env(), "--live").stdout)
    assert sorted(live_only) == ["stock"]


def test_directory_gets_one_file_per_api(tmp_path, worker_env):
    out = tmp_path / "schemas"
    out.mkdir()
    result = dumpschema(COMPANY, worker_env(), "--local", "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["company.parts.json", "sales.json", "warranty.json"]
    everything = json.loads((GOLDEN / "company.json").read_text())
    assert json.loads((out / "sales.json").read_text()) == everything["sales"]
    result = dumpschema(
        COMPANY, worker_env(), "--local", "--format", "asyncapi", "--out", f"{out}/"
    )
    assert (out / "sales.asyncapi.json").exists()


def test_file_output_and_bad_module(tmp_path, worker_env):
    out = tmp_path / "all.json"
    result = dumpschema(COMPANY, worker_env(), "--local", "--out", str(out))
    assert result.returncode == 0
    assert out.read_text() == (GOLDEN / "company.json").read_text()
    result = dumpschema(tmp_path, worker_env(), "--local", "--bus", "nosuchmodule")
    assert result.returncode == 1
    assert "Cannot find the bus module 'nosuchmodule'" in result.stderr


def test_unsupported_annotation_is_reported_not_fatal(project, worker_env):
    folder = project(
        """
        import lightbus
        from lightbus import Api

        class Opaque:
            pass

        class OddApi(Api):
            class Meta:
                name = "odd"

            def f(self, thing: Opaque, n: int) -> None:
                return None

        bus = lightbus.create()
        bus.client.register_api(OddApi())
        """
    )
    result = dumpschema(folder, worker_env(), "--local")
    assert result.returncode == 0, result.stderr
    assert "odd.f: the parameter 'thing' is annotated Opaque" in result.stderr
    params = json.loads(result.stdout)["odd"]["rpcs"]["f"]["parameters"]
    assert params["properties"]["thing"] == {}
    assert params["properties"]["n"] == {"type": "integer"}

"""`lightbus schema check OLD NEW`: each kind of change, classified, and the command itself."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from lightbus import Api, Event, Parameter
from lightbus.api import define
from lightbus.schema import build, dumps
from lightbus_tools.schemadiff import compare


def schema_of(*apis: type[Api]) -> dict[str, Any]:
    return {cls.Meta.name: build(define(cls()))[0] for cls in apis}


def changes(old: type[Api], new: type[Api]) -> list[tuple[str, str, str, bool]]:
    return [
        (c.name, c.field, c.change, c.breaking) for c in compare(schema_of(old), schema_of(new))
    ]


@dataclasses.dataclass
class Result:
    total: int
    note: str


@dataclasses.dataclass
class ResultV2:
    total: int
    currency: str


class V1(Api):
    happened = Event(parameters=(Parameter("who", str), Parameter("count", int)))

    class Meta:
        name = "svc"

    def rpc(self, a: int, b: str = "") -> int: ...

    def report(self) -> Result: ...

    def maybe(self, n: int | None) -> int | None: ...

    def loose(self, a: int, **rest: Any) -> None: ...


def test_identical_schemas_have_no_changes():
    assert changes(V1, V1) == []


def test_rpc_new_required_parameter_breaks_new_optional_does_not():
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int, b: str = "", c: int = 0, d: str = "") -> int: ...

        def loose(self, a: int, z: int, **rest: Any) -> None: ...

    found = changes(V1, V2)
    assert ("rpc", "c", "parameter-added-optional", False) in found
    assert ("loose", "z", "parameter-added-required", True) in found


def test_rpc_removed_parameter_breaks_unless_kwargs():
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int) -> int: ...

        def loose(self, **rest: Any) -> None: ...

    found = changes(V1, V2)
    assert ("rpc", "b", "parameter-removed", True) in found
    assert ("loose", "a", "parameter-removed", False) in found


def test_rpc_parameter_widened_is_compatible_narrowed_breaks():
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int | None, b: str = "") -> int: ...

        def maybe(self, n: int) -> int | None: ...

    found = changes(V1, V2)
    assert ("rpc", "a", "parameter-widened", False) in found
    assert ("maybe", "n", "parameter-retyped", True) in found


def test_rpc_parameter_made_required_breaks_made_optional_does_not():
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int = 0, b: str = ...) -> int: ...  # type: ignore[assignment]

    schema = schema_of(V2)
    schema["svc"]["rpcs"]["rpc"]["parameters"]["required"] = ["b"]
    found = [(c.name, c.field, c.change, c.breaking) for c in compare(schema_of(V1), schema)]
    assert ("rpc", "a", "parameter-now-optional", False) in found
    assert ("rpc", "b", "parameter-now-required", True) in found


def test_rpc_result_field_removed_breaks_added_does_not():
    class V2(V1):
        class Meta:
            name = "svc"

        def report(self) -> ResultV2: ...

    found = changes(V1, V2)
    assert ("report", "result.note", "result-field-removed", True) in found
    assert ("report", "result.currency", "result-field-added", False) in found


def test_rpc_result_retyped_breaks_narrowed_does_not():
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int, b: str = "") -> str: ...

        def maybe(self, n: int | None) -> int: ...

    found = changes(V1, V2)
    assert ("rpc", "result", "result-retyped", True) in found
    assert ("maybe", "result", "result-narrowed", False) in found


def test_event_field_removed_or_retyped_breaks_listeners():
    class V2(V1):
        happened = Event(parameters=(Parameter("who", int),))

        class Meta:
            name = "svc"

    found = changes(V1, V2)
    assert ("happened", "count", "field-removed", True) in found
    assert ("happened", "who", "field-retyped", True) in found


def test_event_new_required_field_breaks_firers_optional_does_not():
    class V2(V1):
        happened = Event(
            parameters=(
                Parameter("who", str),
                Parameter("count", int),
                Parameter("where", str),
                Parameter("why", str, ""),
            )
        )

        class Meta:
            name = "svc"

    found = changes(V1, V2)
    assert ("happened", "where", "field-added-required", True) in found
    assert ("happened", "why", "field-added-optional", False) in found


def test_event_field_made_optional_breaks_listeners():
    class V2(V1):
        happened = Event(parameters=(Parameter("who", str), Parameter("count", int, 0)))

        class Meta:
            name = "svc"

    assert ("happened", "count", "field-now-optional", True) in changes(V1, V2)


def test_kwargs_removed_breaks():
    class V2(V1):
        class Meta:
            name = "svc"

        def loose(self, a: int) -> None: ...

    assert ("loose", "", "extra-parameters-refused", True) in changes(V1, V2)


def test_apis_rpcs_and_events_added_and_removed():
    class V2(Api):
        other = Event()

        class Meta:
            name = "svc"

        def rpc(self, a: int, b: str = "") -> int: ...

        def report(self) -> Result: ...

        def maybe(self, n: int | None) -> int | None: ...

        def loose(self, a: int, **rest: Any) -> None: ...

        def fresh(self) -> None: ...

    found = changes(V1, V2)
    assert ("happened", "", "event-removed", True) in found
    assert ("other", "", "event-added", False) in found
    assert ("fresh", "", "rpc-added", False) in found

    class Gone(Api):
        class Meta:
            name = "gone"

    class Fresh(Api):
        class Meta:
            name = "fresh"

    found = compare(schema_of(V1, Gone), schema_of(V1, Fresh))
    assert [(c.api, c.change, c.breaking) for c in found] == [
        ("fresh", "api-added", False),
        ("gone", "api-removed", True),
    ]


def test_nested_event_field_removed_names_the_path():
    @dataclasses.dataclass
    class Address:
        street: str
        city: str

    @dataclasses.dataclass
    class AddressV2:
        street: str

    class A(Api):
        moved = Event(parameters=(Parameter("to", Address),))

        class Meta:
            name = "people"

    class B(Api):
        moved = Event(parameters=(Parameter("to", AddressV2),))

        class Meta:
            name = "people"

    assert ("moved", "to.city", "field-removed", True) in changes(A, B)


# ---------------------------------------------------------------- the command


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightbus", "schema", "check", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


@pytest.fixture
def files(tmp_path):
    class V2(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int, b: str = "", c: int = 0) -> int: ...

    class V3(V1):
        class Meta:
            name = "svc"

        def rpc(self, a: int, c: int) -> int: ...

    paths = {}
    for label, cls in (("v1", V1), ("v2", V2), ("v3", V3)):
        paths[label] = tmp_path / f"{label}.json"
        paths[label].write_text(dumps(schema_of(cls)))
    return paths


def test_command_exit_codes_and_json(files, tmp_path):
    same = check(str(files["v1"]), str(files["v1"]))
    assert same.returncode == 0 and "No differences" in same.stdout
    compatible = check(str(files["v1"]), str(files["v2"]))
    assert compatible.returncode == 0, compatible.stdout
    assert "compatible" in compatible.stdout and "BREAKING" not in compatible.stdout
    breaking = check(str(files["v1"]), str(files["v3"]))
    assert breaking.returncode == 1
    assert "BREAKING" in breaking.stdout
    report = json.loads(check(str(files["v1"]), str(files["v3"]), "--json").stdout)
    assert report["breaking"] is True
    kinds = {(c["field"], c["change"]) for c in report["changes"]}
    assert kinds == {("b", "parameter-removed"), ("c", "parameter-added-required")}
    # A directory from `dumpschema --out DIR` compares the same as a file.
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "svc.json").write_text(dumps(json.loads(files["v3"].read_text())["svc"]))
    assert check(str(files["v3"]), str(folder)).returncode == 0


def test_command_refuses_bad_input(files, tmp_path):
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    result = check(str(not_json), str(files["v1"]))
    assert result.returncode == 2
    assert "bad.json: not JSON" in result.stderr
    not_schema = tmp_path / "other.json"
    not_schema.write_text('{"svc": {"paths": {}}}')
    result = check(str(files["v1"]), str(not_schema))
    assert result.returncode == 2
    assert "'svc' is not a Lightbus API schema" in result.stderr
    asyncapi = tmp_path / "api.json"
    asyncapi.write_text('{"asyncapi": "3.0.0", "info": {}}')
    result = check(str(asyncapi), str(files["v1"]))
    assert result.returncode == 2 and "an AsyncAPI document" in result.stderr
    result = check(str(tmp_path / "missing.json"), str(files["v1"]))
    assert result.returncode == 2 and "no such file or directory" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = check(str(empty), str(files["v1"]))
    assert result.returncode == 2 and "holds no .json schema files" in result.stderr


def test_command_against_live(files, project, start_worker, worker_env):
    folder = project(
        """
        import lightbus
        from lightbus import Api

        class Svc(Api):
            class Meta:
                name = "svc"

            def rpc(self, a: int) -> int:
                return a

        bus = lightbus.create()
        bus.client.register_api(Svc())
        """
    )
    start_worker(folder)
    result = check(str(files["v1"]), "live", "--json", env=worker_env())
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert {"api": "svc", "name": "rpc", "field": "b"}.items() <= next(
        c for c in report["changes"] if c["change"] == "parameter-removed"
    ).items()
    assert any(c["change"] == "event-removed" for c in report["changes"])


def test_unreachable_bus_for_live_is_an_input_error(files, worker_env):
    env = worker_env(LIGHTBUS_REDIS_URL="redis://127.0.0.1:1/0", LIGHTBUS_CONNECT_TIMEOUT="0.5")
    result = check(str(files["v1"]), "live", env=env)
    assert result.returncode == 2
    assert "Cannot reach Redis" in result.stderr


def test_enum_value_added_widens_an_rpc_parameter_but_breaks_event_listeners():
    import enum

    class Old(enum.Enum):
        A = "a"

    class New(enum.Enum):
        A = "a"
        B = "b"

    def api(kind: type) -> type[Api]:
        class Colors(Api):
            painted = Event(parameters=(Parameter("color", kind),))

            class Meta:
                name = "colors"

            def paint(self, color): ...

            paint.__annotations__ = {"color": kind, "return": None}  # a real type, not a string

        return Colors

    found = changes(api(Old), api(New))
    assert ("paint", "color", "parameter-widened", False) in found
    assert ("painted", "color", "field-retyped", True) in found
    assert ("paint", "color", "parameter-retyped", True) in changes(api(New), api(Old))

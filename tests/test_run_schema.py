"""`lightbus run --schema`: schemas for APIs this process fires or calls but does not define."""

from __future__ import annotations

import json

REMOTE = {
    "remote": {
        "rpcs": {},
        "events": {
            "happened": {
                "parameters": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "required": ["n"],
                    "additionalProperties": False,
                }
            }
        },
    }
}

FIRER = """
import lightbus

bus = lightbus.create()


@bus.client.on_start()
async def start(**_):
    try:
        await bus.remote.happened.fire_async(n="x")
    except lightbus.ValidationError as exc:
        print("refused", exc.field, exc.problem, flush=True)
    except lightbus.UnknownApi:
        print("unknown api", flush=True)
        return
    message = await bus.remote.happened.fire_async(n=1)
    print("fired", message.kwargs, flush=True)
"""


def test_loaded_schema_validates_what_the_worker_fires(project, start_worker, tmp_path, raw_redis):
    folder = project(FIRER)
    (tmp_path / "remote.json").write_text(json.dumps(REMOTE))
    worker = start_worker(folder, "--schema", str(tmp_path / "remote.json"))
    worker.wait_for("fired")
    assert "refused n Expected `int`, got `str`" in worker.output
    assert "fired {'n': 1}" in worker.output
    # Loaded schemas describe others' APIs: this worker does not publish them.
    assert raw_redis.get("lightbus:schema:remote") is None


def test_without_the_schema_the_api_is_unknown(project, start_worker):
    worker = start_worker(project(FIRER))
    worker.wait_for("unknown api")


def test_a_bad_schema_file_stops_the_worker_with_a_clear_error(project, start_worker, tmp_path):
    (tmp_path / "broken.json").write_text("not json")
    worker = start_worker(project(FIRER), "--schema", str(tmp_path / "broken.json"), wait=None)
    assert worker.wait() == 1
    assert "--schema:" in worker.output and "broken.json: not JSON" in worker.output


def test_add_schemas_from_a_directory_keeps_local_definitions(tmp_path):
    import lightbus
    from lightbus import Api
    from lightbus.run_command import add_schemas

    class Remote(Api):
        class Meta:
            name = "remote"

    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "remote.json").write_text(json.dumps(REMOTE["remote"]))
    (folder / "other.json").write_text(json.dumps({"rpcs": {}, "events": {}}))
    bus = lightbus.create(redis_url="redis://127.0.0.1:1/0")
    bus.client.register_api(Remote())
    assert add_schemas(bus.client, str(folder)) == ["other"]
    assert bus.client.schemas["remote"]["events"] == {}  # the local definition won

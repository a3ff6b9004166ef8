"""``lightbus dumpschema``: the schema of the local bus module's APIs and of every live API.

Output is JSON Schema per API (``{api: {"rpcs": ..., "events": ...}}``) or an AsyncAPI 3.0
document, with sorted keys so it can be committed and diffed. ``--out DIR`` (an existing
directory, or a path ending in ``/``) writes one file per API.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import lightbus
from lightbus import BusConnectionError, BusModuleError, LightbusError
from lightbus.schema import api_schema, dumps, live_schemas, schema_hash
from lightbus.workers import import_bus
from lightbus_tools.asyncapi import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module whose APIs to include (default: LIGHTBUS_MODULE or 'bus')",
    )
    parser.add_argument(
        "--out",
        metavar="FILE|DIR",
        help="write here instead of stdout; a directory gets one file per API",
    )
    parser.add_argument(
        "--format",
        choices=("jsonschema", "asyncapi"),
        default="jsonschema",
        help="JSON Schema per API (default) or an AsyncAPI 3.0 document",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--local", action="store_true", help="only the bus module's APIs; do not ask Redis"
    )
    source.add_argument(
        "--live", action="store_true", help="only the APIs live on the bus; import no module"
    )


def main(args: argparse.Namespace) -> int:
    schemas, bus = collect(args)
    if not schemas:
        print("lightbus dumpschema: no APIs found (locally or live on the bus)", file=sys.stderr)
        return 1
    prefix = bus.client.settings.prefix
    out = Path(args.out) if args.out else None
    if out is not None and (out.is_dir() or args.out.endswith(("/", "\\"))):
        out.mkdir(parents=True, exist_ok=True)
        for api, schema in schemas.items():
            if args.format == "asyncapi":
                text = dumps(render({api: schema}, prefix=prefix, title=f"Lightbus API {api}"))
                (out / f"{api}.asyncapi.json").write_text(text, encoding="utf-8")
            else:
                (out / f"{api}.json").write_text(dumps(schema), encoding="utf-8")
        print(f"Wrote {len(schemas)} API schemas to {out}/", file=sys.stderr)
        return 0
    document = render(schemas, prefix=prefix) if args.format == "asyncapi" else schemas
    text = dumps(document)
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"Wrote {len(schemas)} API schemas to {out}", file=sys.stderr)
    return 0


def collect(args: argparse.Namespace) -> tuple[dict[str, dict[str, Any]], lightbus.Bus]:
    """Local schemas (which win) over live ones; warnings go to stderr."""
    bus = None
    local: dict[str, dict[str, Any]] = {}
    if not args.live:
        try:
            bus = import_bus(args.module or lightbus.Settings.resolve().module)
        except BusModuleError as exc:
            if args.module or args.local or "Cannot find" not in str(exc):
                raise
            print(f"lightbus dumpschema: no local bus module ({exc})", file=sys.stderr)
        if bus is not None:
            local = {name: api_schema(d) for name, d in sorted(bus.client.apis.items())}
    if bus is None:
        bus = lightbus.create()
    live: dict[str, dict[str, Any]] = {}
    if not args.local:
        try:
            live = asyncio.run(_live(bus))
        except (BusConnectionError, LightbusError) as exc:
            if args.live or not local:
                raise
            print(f"lightbus dumpschema: live APIs not included: {exc}", file=sys.stderr)
    for api in sorted(set(local) & set(live)):
        if schema_hash(local[api]) != schema_hash(live[api]):
            print(
                f"lightbus dumpschema: the live schema of {api!r} differs from the local one; "
                f"showing the local one (compare with `lightbus schema check live FILE`)",
                file=sys.stderr,
            )
    return dict(sorted({**live, **local}.items())), bus


async def _live(bus: lightbus.Bus) -> dict[str, dict[str, Any]]:
    client = bus.client
    client.bind(asyncio.get_running_loop())
    try:
        return await live_schemas(bus)
    finally:
        await client.close()

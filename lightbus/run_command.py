"""``lightbus run``: import the bus module and serve it until stopped.

With ``--reload`` the worker runs under the development supervisor of
``lightbus_tools`` instead, which restarts it when a watched file changes and may start
an embedded Redis. Without it, the configured Redis must answer: a worker never falls
back to an embedded server.

``--log-format json`` writes each log line as one JSON object (:class:`JsonFormatter`),
with the trace of the message being handled; a failure to start is logged the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys

from lightbus.background import FEATURES, choose_features
from lightbus.busmodule import import_bus, import_failure
from lightbus.client import BusClient
from lightbus.errors import BusModuleError, ConfigError, LightbusError
from lightbus.logs import JsonFormatter, TraceLogFilter
from lightbus.schema import SchemaFileError, load_schemas
from lightbus.settings import Settings
from lightbus.worker import Worker

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(trace_tag)s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lightbus run``."""
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module to import (default: LIGHTBUS_MODULE or 'bus')",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the worker when a watched file changes (development)",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="PATH",
        help="with --reload: a path to watch (repeatable; default: the project)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="with --reload: a glob of paths not to watch (repeatable)",
    )
    parser.add_argument(
        "--debounce",
        type=int,
        default=200,
        metavar="MS",
        help="with --reload: milliseconds of quiet before a reload (default 200)",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="with --reload: use the project's embedded Redis, starting it if needed",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --reload: leave the embedded Redis running after exit",
    )
    parser.add_argument(
        "--schema",
        action="append",
        default=[],
        metavar="FILE|DIR",
        help="load schemas for APIs this process does not define",
    )
    parser.add_argument(
        "--only",
        "-o",
        action="append",
        default=[],
        metavar="FEATURE",
        help=f"run only these parts: {', '.join(FEATURES)} (repeatable or comma-separated)",
    )
    parser.add_argument(
        "--skip",
        "-k",
        action="append",
        default=[],
        metavar="FEATURE",
        help="run all but these parts (e.g. --skip tasks)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LIGHTBUS_LOG_LEVEL", "INFO"),
        help="logging level (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=os.environ.get("LIGHTBUS_LOG_FORMAT", "text"),
        help="text lines (default) or one JSON object per line, with trace_id and message_id",
    )


def main(args: argparse.Namespace) -> int:
    if args.log_format not in LOG_FORMATS:  # from LIGHTBUS_LOG_FORMAT: argparse skips it
        raise ConfigError(
            f"LIGHTBUS_LOG_FORMAT must be 'text' or 'json', not {args.log_format!r}",
            key="log_format",
        )
    if args.reload:
        if args.log_format == "json":
            raise ConfigError(
                "--log-format json is for production workers: --reload (development) "
                "writes text logs. Leave out one of the two."
            )
        devworker = importlib.import_module("lightbus_tools.devworker")
        return int(devworker.main(args))
    if args.embedded or args.keep or args.watch or args.ignore:
        # Production never starts (or falls back to) an embedded server.
        raise ConfigError(
            "--embedded, --keep, --watch and --ignore are development options: use them "
            "with --reload, or run `lightbus dev`."
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if args.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    # On the handler, so the user's own log lines from handlers carry the trace too.
    for each in logging.getLogger().handlers:
        each.addFilter(TraceLogFilter())
    if args.log_format == "text":
        return serve(args)
    try:
        return serve(args)
    except LightbusError as exc:
        # As a log line too: whatever reads the worker's JSON logs sees why it stopped.
        log_failure(exc)
        return 1


def serve(args: argparse.Namespace) -> int:
    """Import the bus module and run the worker; the exit status."""
    json_logs = args.log_format == "json"
    module_name = args.module or Settings.resolve().module
    features = choose_features(args.only, args.skip)
    try:
        bus = import_bus(module_name)
    except BusModuleError as exc:
        if exc.__cause__ is not None and not json_logs:
            # Where the user's code failed; the error line itself follows from the CLI.
            sys.stderr.write(import_failure(exc.__cause__))
        raise
    for path in args.schema:
        add_schemas(bus.client, path)
    bus.client.features = features
    code = asyncio.run(Worker(bus.client).run())
    running = bus.client.invoke.running
    if running:
        # A plain-function handler still running past shutdown_grace cannot be stopped,
        # and the interpreter would wait for its thread at exit. Its event is already
        # handed back for redelivery, so leave now rather than hang. Idle pool threads
        # are not counted: they end with the pool, and a normal exit runs exit hooks.
        logging.getLogger("lightbus.worker").warning(
            "Exiting with %d handler(s) still running past shutdown_grace", running
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def log_failure(exc: LightbusError) -> None:
    """Log why the worker could not run, with the user's traceback of a failed import."""
    logger = logging.getLogger("lightbus")
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, str(exc), (), None)
    if isinstance(exc, BusModuleError) and exc.__cause__ is not None:
        record.exc_text = import_failure(exc.__cause__).rstrip("\n")
    logger.handle(record)


def add_schemas(client: BusClient, path: str) -> list[str]:
    """Load schemas for APIs this process does not define; return the API names added.

    Raises :class:`~lightbus.errors.ConfigError` for a file that is missing, not JSON or
    not a schema.
    """
    try:
        schemas = load_schemas(path)
    except SchemaFileError as exc:
        raise ConfigError(f"--schema: {exc}", key="schema") from None
    added = []
    for api, schema in schemas.items():
        if api in client.apis:
            continue  # the local definition, with its types, wins
        client.schemas[api] = schema
        added.append(api)
    logging.getLogger("lightbus").info("Loaded schemas from %s: %s", path, ", ".join(added))
    return added

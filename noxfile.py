"""One word per job: `nox -s tests`, `lint`, `types`, `docs`, `bench`.

`tests`, `lint`, `types` and `docs` install the versions pinned in test-constraints.txt, so
a fresh machine runs what CI ran. `tests_latest` runs the suite against the newest
versions pyproject.toml allows, `tests_schema_floor` the schema tests against the oldest
msgspec it allows, `tests_redis` the hand-written Redis protocol under each redis-py
major version it allows (with and without hiredis), and `lock` refreshes the pins
(docs/explanation/test-environment.md).
"""

import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = "test-constraints.txt"
SCHEMA_TESTS = (
    "tests/test_dumpschema.py",
    "tests/test_schema_versions.py",
    "tests/test_schema_types.py",
    "tests/test_schema_roundtrip.py",
    "tests/test_schemacheck.py",
)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, against a private Redis the suite starts itself."""
    session.install("-e", ".[dev]", "-c", CONSTRAINTS)
    session.run("pytest", *session.posargs)


@nox.session
def tests_latest(session: nox.Session) -> None:
    """The whole suite against the newest dependency versions pyproject.toml allows."""
    if session.venv_backend == "uv":
        session.install("--upgrade", "-e", ".[dev]")
    else:
        session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_schema_floor(session: nox.Session) -> None:
    """The schema tests (golden files included) under the oldest msgspec allowed."""
    session.install("-e", ".[dev]", "-c", CONSTRAINTS)
    session.install(f"msgspec=={_floor('msgspec')}")
    session.run("pytest", *SCHEMA_TESTS, *session.posargs)


# What lightbus.resp relies on in redis-py, and what rests on it: the write path, the
# blocking reads, the connection policy, and one RPC and event end to end.
REDIS_TESTS = (
    "tests/test_resp.py",
    "tests/test_autopipeline.py",
    "tests/test_blocking.py",
    "tests/test_call_fire.py",
)
# The oldest redis-py that pyproject.toml allows ("redis[hiredis]>=5.0.1,<9") and the newest
# release of each major it allows: a new major is allowed only once it is listed here
# and passes (docs/explanation/test-environment.md).
REDIS_VERSIONS = ("floor", "5", "6", "7", "8")


@nox.session
@nox.parametrize("hiredis", [True, False], ids=["hiredis", "pure"])
@nox.parametrize("redis", REDIS_VERSIONS)
def tests_redis(session: nox.Session, redis: str, hiredis: bool) -> None:
    """lightbus.resp's tests (and what rests on it) under one redis-py version (the oldest
    allowed, or the newest of a major), with hiredis's parser or redis-py's own."""
    session.install("-e", ".[dev]", "-c", CONSTRAINTS)
    session.install(f"redis=={_floor('redis')}" if redis == "floor" else f"redis=={redis}.*")
    if not hiredis:
        if session.venv_backend == "uv":
            session.run("uv", "pip", "uninstall", "hiredis")
        else:
            session.run("pip", "uninstall", "--yes", "hiredis")
    session.run("python", "-c", "import redis; print('redis-py', redis.__version__)")
    session.run("pytest", *REDIS_TESTS, *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh test-constraints.txt to the newest versions pyproject.toml allows."""
    session.install("uv")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--extra", "dev", "--extra", "docs",
        "--universal", "--python-version", "3.11", "--upgrade", "--output-file", CONSTRAINTS,
        "--custom-compile-command", "nox -s lock",
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "-c", CONSTRAINTS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    session.install("-e", ".[dev]", "-c", CONSTRAINTS)
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site strictly into site/; `nox -s docs -- serve` serves it on 127.0.0.1."""
    session.install("-e", ".[docs]", "-c", CONSTRAINTS)
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # Material's end-of-life notice, on every build
    if session.posargs[:1] == ["serve"]:
        # Loopback only, whatever else is asked: `nox -s docs -- serve 8001` picks the port.
        port = next((arg for arg in session.posargs[1:] if arg.isdigit()), "8000")
        rest = [arg for arg in session.posargs[1:] if not arg.isdigit()]
        if any(arg.startswith(("-a", "--dev-addr")) for arg in rest):
            session.error("the docs are served on 127.0.0.1 only: give a port, e.g. -- serve 8001")
        session.run("mkdocs", "serve", "--strict", "--dev-addr", f"127.0.0.1:{port}", *rest)
    else:
        session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite: each workload against the raw redis-py floor, as ratios."""
    session.install("-e", ".[dev]", "-c", CONSTRAINTS)
    session.run("python", "-m", "benchmarks", *session.posargs)


def _floor(package: str) -> str:
    """The lowest version of ``package`` that pyproject.toml's dependencies allow."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        found = re.fullmatch(
            rf"{re.escape(package)}(?:\[[\w,]+\])?\s*>=\s*([\w.]+)", requirement.split(",")[0]
        )
        if found:
            return found.group(1)
    raise ValueError(f"pyproject.toml gives no lower bound for {package}")

"""The test environment is pinned, and the pins stay within what the package allows.

`nox -s tests` installs test-constraints.txt (docs/explanation/test-environment.md), so a
fresh machine runs the versions CI ran. A pin that pyproject.toml no longer allows (a
raised floor, a new dependency) would make that install fail or test something users
cannot get: refresh the pins with `nox -s lock`.
"""

from __future__ import annotations

import tomllib

from conftest import ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CONSTRAINTS = ROOT / "test-constraints.txt"


def pins() -> dict[str, tuple[str, Marker | None]]:
    found: dict[str, tuple[str, Marker | None]] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        [spec] = requirement.specifier
        assert spec.operator == "==", f"{line!r} is not an exact pin"
        found[canonicalize_name(requirement.name)] = (spec.version, requirement.marker)
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    listed = [*project["dependencies"], *extras["dev"], *extras["embedded"], *extras["docs"]]
    return [Requirement(text) for text in listed if not text.startswith("lightbus")]


def test_every_dependency_is_pinned_within_what_pyproject_allows():
    pinned = pins()
    for requirement in requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in test-constraints.txt: run `nox -s lock`"
        version, _ = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"test-constraints.txt pins {name}=={version}, which pyproject.toml's "
            f"{requirement} does not allow: run `nox -s lock`"
        )


def test_nox_installs_the_pins_for_the_readme_test_line_and_the_docs():
    noxfile = (ROOT / "noxfile.py").read_text()
    for session in ("tests", "docs"):
        body = noxfile.split(f"def {session}(", 1)[1].split("\n@nox.session", 1)[0]
        assert '"-c", CONSTRAINTS' in body, session
    assert 'CONSTRAINTS = "test-constraints.txt"' in noxfile
    assert '"--extra", "docs"' in noxfile  # `nox -s lock` pins the docs extra too


def test_nox_tests_redis_covers_every_redis_py_major_the_package_allows():
    # lightbus.resp reads redis-py's insides: each major allowed must be tested, or the
    # range narrowed (docs/explanation/test-environment.md).
    [redis] = [r for r in requirements() if canonicalize_name(r.name) == "redis"]
    floor = next(s.version for s in redis.specifier if s.operator == ">=")
    ceiling = next(s.version for s in redis.specifier if s.operator == "<")
    allowed = [str(m) for m in range(int(floor.split(".")[0]), int(ceiling.split(".")[0]))]
    noxfile = (ROOT / "noxfile.py").read_text()
    versions = noxfile.split("REDIS_VERSIONS = (", 1)[1].split(")", 1)[0]
    listed = [part.strip().strip('"') for part in versions.split(",") if part.strip()]
    assert listed == ["floor", *allowed], (listed, str(redis.specifier))
    assert "tests_redis" in (ROOT / ".ci" / "run").read_text()

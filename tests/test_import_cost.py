"""A bare ``import lightbus`` does not load redis-py; the lazy names still work."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_bare_import_does_not_load_redis():
    out = _run(
        "import sys, lightbus; print('redis' in sys.modules, 'lightbus.client' in sys.modules)"
    )
    assert out == "False False"


def test_lazy_names_load_on_first_use():
    out = _run(
        "import sys, lightbus\n"
        "from lightbus import Bus, BusClient, create\n"
        "bus = lightbus.create(redis_url='redis://127.0.0.1:1/0')\n"
        "print(isinstance(bus, Bus), isinstance(bus.client, BusClient), create is lightbus.create)"
    )
    assert out == "True True True"


def test_an_unknown_name_is_an_attribute_error():
    out = _run(
        "import lightbus\ntry:\n    lightbus.nope\nexcept AttributeError as exc:\n    print(exc)"
    )
    assert out == "module 'lightbus' has no attribute 'nope'"

"""Redis credentials (ACL user and password), TLS, and what never leaks or gets evaluated."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import time
import traceback
from urllib.parse import quote

import pytest
import redis
from faults import BUS_SOURCE, ROOT, ended, producer, worker_env
from support import wait_until

import lightbus
from lightbus.embedded import RedisServer, free_port
from lightbus.settings import Settings

pytestmark = pytest.mark.reliability

PASSWORD = "s3cret-Pa55word"
# Every character that ends a URL's password early when it is not percent-encoded, as
# generated base64-like passwords hold them; and one with only an '@', which URLs allow.
ODD = "Zq8Wv/Kp3#Lm7?Rt5@Yx2"
AT = "Hg4Nb@Jc6Pd"

# The default user may only PING (so the server can be seen to be up); everything else
# needs the `app` user and its password.
ACL = [
    *("--user", "default", "on", "nopass", "-@all", "+ping"),
    # As docs/how-to/redis-connections.md recommends: only the bus's keys, nothing dangerous.
    *("--user", "app", "on", f">{PASSWORD}", f">{ODD}", f">{AT}"),
    *("~lightbus:*", "+@all", "-@dangerous", "+ping"),
]


def _everything_stored(port: int, **kwargs) -> bytes:
    """Every key and value in the server, as bytes, to search for a leaked secret."""
    with redis.Redis(port=port, username="app", password=PASSWORD, **kwargs) as client:
        chunks = []
        for key in client.scan_iter(count=1000):
            chunks += [key, client.dump(key) or b""]
            if client.type(key) == b"stream":  # DUMP compresses; read streams plainly too
                chunks.append(repr(client.xrange(key)).encode())
        return b"\n".join(chunks)


def _round_trip(
    project, start_worker, url: str, port: int, password: str = PASSWORD, **redis_kwargs
) -> None:
    folder = project(BUS_SOURCE)
    # DEBUG: not even redis-py's own debug logging may show the password.
    worker = start_worker(folder, **worker_env(LIGHTBUS_REDIS_URL=url, LIGHTBUS_LOG_LEVEL="DEBUG"))
    bus = producer(url)
    bus.jobs.job.fire(n=1)
    assert bus.jobs.slow(n=2) == 2
    wait_until(lambda: 1 in ended(folder))
    bus.close()
    worker.proc.terminate()
    assert worker.wait() == 0
    assert " DEBUG " in worker.output
    assert password not in worker.output  # nor in its logs
    assert quote(password, safe="") not in worker.output
    assert "app:***@" in worker.output  # it says which server, without the password
    stored = _everything_stored(port, **redis_kwargs)
    assert password.encode() not in stored  # nor the trace


def test_a_redis_acl_user_and_password_work_and_never_leak(project, start_worker):
    server = RedisServer(extra=ACL).start()
    try:
        url = f"redis://app:{PASSWORD}@127.0.0.1:{server.port}/0"
        _round_trip(project, start_worker, url, server.port)

        wrong = producer(f"redis://app:wrong-{PASSWORD}@127.0.0.1:{server.port}/0")
        began = time.monotonic()
        with pytest.raises(lightbus.BusConnectionError) as info:
            wrong.jobs.job.fire(n=1)
        assert time.monotonic() - began < 1.0  # refused credentials are not retried
        wrong.close()
        # The whole traceback a user would see, chained exceptions included.
        shown = "".join(traceback.format_exception(info.value)) + repr(info.value)
        assert PASSWORD not in shown
        assert "app:***@127.0.0.1" in str(info.value) and "app:***@" in info.value.url
        assert "refused the credentials: invalid username-password pair" in str(info.value)
    finally:
        server.stop()


@pytest.mark.parametrize("char", ["/", "#", "?"])
def test_a_redis_url_with_an_unencoded_password_is_refused_everywhere_without_showing_it(
    project, worker_env, char
):
    secret = f"Zq8Wv{char}Kp3Lm7"
    url = f"redis://app:{secret}@127.0.0.1:1/0"
    shown = []
    with pytest.raises(lightbus.ConfigError) as info:
        lightbus.create(redis_url=url)  # before any fire() or call can be made
    shown.append("".join(traceback.format_exception(info.value)))
    with pytest.raises(lightbus.ConfigError) as info:
        Settings(redis_url=url)
    shown.append("".join(traceback.format_exception(info.value)))
    folder = project("import lightbus\nbus = lightbus.create()\n")
    for command in ("run", "inspect"):
        result = subprocess.run(
            [sys.executable, "-m", "lightbus", command],
            cwd=folder,
            env=worker_env(LIGHTBUS_REDIS_URL=url),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        shown.append(result.stdout + result.stderr)
    for text in shown:
        assert "redis_url is malformed" in text, text
        assert "percent-encoded" in text and "urllib.parse.quote" in text, text
        for part in (secret, *secret.split(char)):
            assert part not in text, text


def test_passwords_holding_url_characters_work_percent_encoded_or_with_a_bare_at(
    project, start_worker
):
    server = RedisServer(extra=ACL).start()
    try:
        encoded = f"redis://app:{quote(ODD, safe='')}@127.0.0.1:{server.port}/0"
        _round_trip(project, start_worker, encoded, server.port, password=ODD)
        bus = producer(f"redis://app:{AT}@127.0.0.1:{server.port}/0")  # '@' needs no encoding
        bus.jobs.job.fire(n=2)
        bus.close()
        assert AT not in bus.client.settings.redacted_url()
    finally:
        server.stop()


def test_settings_and_errors_never_show_the_password():
    settings = Settings(redis_url=f"redis://app:{PASSWORD}@h:6379/0?password={PASSWORD}")
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.redacted_url()
    assert settings.redacted_url() == "redis://app:***@h:6379/0?password=***"
    with pytest.raises(lightbus.ConfigError) as info:
        lightbus.create(redis_url=f"http://app:{PASSWORD}@h/0").client.redis  # noqa: B018
    assert PASSWORD not in str(info.value) and "redis_url" in str(info.value)


def _openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        pytest.skip("openssl is not installed: cannot make a certificate for the TLS test")
    return found


def test_rediss_tls_with_a_self_signed_certificate(project, start_worker, tmp_path):
    openssl = _openssl()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    tls_port = free_port()
    tls = [
        *("--tls-port", str(tls_port), "--tls-cert-file", str(cert)),
        *("--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)),
        *("--tls-auth-clients", "no"),
    ]
    try:
        server = RedisServer(extra=[*tls, *ACL]).start()
    except RuntimeError as exc:
        pytest.skip(f"this Redis binary does not support TLS: {exc}")
    try:
        url = f"rediss://app:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        _round_trip(project, start_worker, url, tls_port, ssl=True, ssl_ca_certs=str(cert))
        # Without the CA the certificate is refused: TLS really verifies the server.
        untrusted = producer(f"rediss://app:{PASSWORD}@127.0.0.1:{tls_port}/0", connect_timeout=1)
        with pytest.raises(lightbus.BusConnectionError) as info:
            untrusted.jobs.job.fire(n=1)
        untrusted.close()
        assert "certificate verify failed" in str(info.value)
        assert PASSWORD not in str(info.value)
    finally:
        server.stop()


def test_nothing_from_the_wire_is_unpickled_or_evaluated():
    """The runtime has no pickle, marshal, eval or exec anywhere: payloads are JSON only."""
    banned_modules = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
    banned_calls = {"eval", "exec", "compile", "__import__"}
    found = []
    for path in sorted((ROOT / "lightbus").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{path.name}: import {n}" for n in names if n in banned_modules]
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in banned_calls:
                found.append(f"{path.name}:{node.lineno}: {node.func.id}()")
    assert found == []


def test_unix_socket_urls_work(tmp_path):
    sock = tmp_path / "redis.sock"
    server = RedisServer(extra=["--unixsocket", str(sock), "--unixsocketperm", "700"]).start()
    try:
        bus = producer(f"unix://{sock}?db=0")
        got: list[int] = []
        bus.jobs.job.listen(lambda event, n: got.append(n), listener_name="unix")
        bus.jobs.job.fire(n=1)
        wait_until(lambda: got == [1])
        bus.close()
    finally:
        server.stop()

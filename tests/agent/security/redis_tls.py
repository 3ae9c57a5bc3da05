"""A real redis-server with TLS only (``--port 0``) and an ACL file, for the security tests.

Certificates come from a throw-away trustme CA. The ``default`` user is switched off; one
ACL user may touch ``commcenter:*`` keys only. Missing redis-server (or one built without
TLS) skips the tests locally and fails them when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import trustme

ACL_USER = "commcenter-agent"
KEY_PATTERN = "commcenter:*"
# The narrowed command set docs/security.md recommends: the tests prove it is enough.
ACL_COMMANDS = "+@read +@write +@scripting +@keyspace +@list +@hash +@set +@sortedset +@connection"


@dataclass(frozen=True)
class TlsRedis:
    """Where the server listens and the files and credentials a client needs."""

    port: int
    ca_file: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a CA that did not sign the server certificate
    user: str
    password: str
    log_file: Path

    def url(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        client_cert: bool = False,
        db: int = 0,
        host: str = "localhost",
    ) -> str:
        """A ``rediss://`` URL with the credentials and TLS options given (default: right)."""
        name = self.user if user is None else user
        secret = self.password if password is None else password
        auth = f"{quote(name, safe='')}:{quote(secret, safe='')}@" if name or secret else ""
        query = f"ssl_ca_certs={ca_file or self.ca_file}"
        if client_cert:
            query += f"&ssl_certfile={self.client_cert}&ssl_keyfile={self.client_key}"
        return f"rediss://{auth}{host}:{self.port}/{db}?{query}"


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def tls_redis_server(directory: Path, *, require_client_cert: bool = False) -> Iterator[TlsRedis]:
    """Start redis-server on a free TLS port in *directory*; stop it afterwards."""
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server is not installed (needed for the TLS/ACL tests)")
    assert executable is not None
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("commcenter-agent.client")
    files = {
        "ca.pem": ca.cert_pem.bytes(),
        "other-ca.pem": other.cert_pem.bytes(),
        "server.pem": b"".join(blob.bytes() for blob in server.cert_chain_pems),
        "server.key": server.private_key_pem.bytes(),
        "client.pem": b"".join(blob.bytes() for blob in client.cert_chain_pems),
        "client.key": client.private_key_pem.bytes(),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    password = secrets.token_urlsafe(18)
    acl = directory / "users.acl"
    acl.write_text(
        f"user default off\nuser {ACL_USER} on >{password} ~{KEY_PATTERN} &* {ACL_COMMANDS}\n",
        encoding="utf-8",
    )
    info = None
    for _attempt in range(5):  # a free port can be taken between probe and bind
        port = free_port()
        log_file = directory / f"redis-{port}.log"
        args = [
            executable,
            "--port", "0",
            "--tls-port", str(port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(directory / "server.pem"),
            "--tls-key-file", str(directory / "server.key"),
            "--tls-ca-cert-file", str(directory / "ca.pem"),
            "--tls-auth-clients", "yes" if require_client_cert else "no",
            "--aclfile", str(acl),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", str(log_file),
        ]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        info = TlsRedis(
            port,
            directory / "ca.pem",
            directory / "client.pem",
            directory / "client.key",
            directory / "other-ca.pem",
            ACL_USER,
            password,
            log_file,
        )
        if _wait_ready(process, info):
            break
        _stop(process)
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        output = (process.stdout.read() if process.stdout else b"").decode(errors="replace")
        text = (output + log).lower()
        if "address already in use" in text:
            continue
        if "tls" in text and ("not" in text or "bad directive" in text):
            unavailable(f"redis-server was built without TLS: {(output + log).strip()[-300:]}")
        unavailable(f"redis-server with TLS did not start: {(output + log).strip()[-300:]}")
    else:
        unavailable("redis-server with TLS did not start on 5 free ports")
    assert info is not None
    try:
        yield info
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], info: TlsRedis) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        client = redis.Redis(
            host="localhost",
            port=info.port,
            username=info.user,
            password=info.password,
            ssl=True,
            ssl_ca_certs=str(info.ca_file),
            ssl_certfile=str(info.client_cert),
            ssl_keyfile=str(info.client_key),
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        try:
            if client.ping():
                return True
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            time.sleep(0.1)
        finally:
            client.close()
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stdout:
        process.stdout.close()

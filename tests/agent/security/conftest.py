"""Fixtures of the security tests: TLS-only redis-servers with an ACL user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .redis_tls import TlsRedis, tls_redis_server


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    """TLS on a free port (no plain-text port), default user off, one ACL user."""
    with tls_redis_server(tmp_path_factory.mktemp("tls-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    """The same, but clients must present a certificate signed by the CA."""
    with tls_redis_server(
        tmp_path_factory.mktemp("mtls-redis"), require_client_cert=True
    ) as server:
        yield server

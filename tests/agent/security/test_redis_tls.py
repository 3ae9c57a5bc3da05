"""Redis over TLS with an ACL user, against a real TLS-only redis-server (see redis_tls.py)."""

from __future__ import annotations

import logging
import secrets
import time
import traceback
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from agent import conf
from agent.backends import (
    BackendUnavailable,
    CommandEnvelope,
    DeviceStatusRecord,
    build_backends,
    check_redis_url,
)

from .redis_tls import TlsRedis

pytestmark = pytest.mark.redis

OPEN_DOOR = CommandEnvelope(
    command_id=11, device_id=3, content="DEVICE SET 1 1 5", enqueued_at=1_700_000_000.0
)


def prefix() -> str:
    return f"commcenter:tls-{uuid.uuid4().hex[:10]}:"


def shown(exc: BaseException) -> str:
    """Everything an operator could see of *exc*: message, repr and the chained traceback."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def test_tls_and_acl_user_carry_the_queue_and_the_heartbeat(tls_redis: TlsRedis) -> None:
    backends = build_backends("redis", tls_redis.url(), prefix=prefix())
    try:
        assert await backends.queue.put(OPEN_DOOR) is True
        assert await backends.queue.get(3, timeout=1) == OPEN_DOOR
        await backends.queue.ack(OPEN_DOOR)
        assert await backends.queue.depth(3) == 0
        await backends.heartbeat.beat("agent-tls", 30, {"devices": 1})
        status = DeviceStatusRecord(True, time.time(), 0, "REAL_LOG", time.time())
        await backends.heartbeat.set_device_status("agent-tls", 3, status)
        assert await backends.heartbeat.alive("agent-tls") is True
        assert await backends.heartbeat.device_status(3) == status
        for backend in (backends.queue, backends.heartbeat):
            assert "rediss://commcenter-agent:***@localhost" in repr(backend)
            assert tls_redis.password not in repr(backend)
    finally:
        await backends.close()


async def test_wrong_password_is_backend_unavailable_without_the_password(
    tls_redis: TlsRedis,
) -> None:
    wrong = secrets.token_urlsafe(18)
    backends = build_backends("redis", tls_redis.url(password=wrong), prefix=prefix())
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await backends.heartbeat.alive("agent-tls")
        text = shown(caught.value)
        assert "WRONGPASS" in str(caught.value) or "invalid" in str(caught.value).lower()
        assert wrong not in text
        assert tls_redis.password not in text
    finally:
        await backends.close()


async def test_disabled_default_user_refuses_a_url_without_credentials(
    tls_redis: TlsRedis,
) -> None:
    backends = build_backends("redis", tls_redis.url(user="", password=""), prefix=prefix())
    try:
        with pytest.raises(BackendUnavailable, match=r"(?i)auth|NOAUTH|WRONGPASS|disabled"):
            await backends.queue.depth(3)
    finally:
        await backends.close()


async def test_an_untrusted_server_certificate_is_backend_unavailable(
    tls_redis: TlsRedis,
) -> None:
    url = tls_redis.url(ca_file=tls_redis.other_ca_file)
    backends = build_backends("redis", url, prefix=prefix())
    try:
        with pytest.raises(BackendUnavailable, match=r"(?i)certificate verify failed") as caught:
            await backends.queue.depth(3)
        assert tls_redis.password not in shown(caught.value)
    finally:
        await backends.close()


async def test_the_system_trust_store_does_not_trust_a_private_ca(tls_redis: TlsRedis) -> None:
    url = f"rediss://{tls_redis.user}:{tls_redis.password}@localhost:{tls_redis.port}/0"
    backends = build_backends("redis", url, prefix=prefix())
    try:
        with pytest.raises(BackendUnavailable, match=r"(?i)certificate"):
            await backends.heartbeat.alive("x")
    finally:
        await backends.close()


async def test_plain_text_to_the_tls_port_fails_typed_within_the_timeouts(
    tls_redis: TlsRedis,
) -> None:
    url = f"redis://{tls_redis.user}:{tls_redis.password}@127.0.0.1:{tls_redis.port}/0"
    backends = build_backends(
        "redis", url, prefix=prefix(), socket_timeout=1.0, socket_connect_timeout=1.0
    )
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await backends.queue.depth(3)
        assert tls_redis.password not in shown(caught.value)
    finally:
        await backends.close()
    assert time.monotonic() - started < 15  # 3 tries x 1 s plus backoff, generously


async def test_keys_outside_the_acl_pattern_are_backend_unavailable(tls_redis: TlsRedis) -> None:
    backends = build_backends("redis", tls_redis.url(), prefix="elsewhere:")
    try:
        with pytest.raises(BackendUnavailable, match=r"(?i)no permissions|NOPERM"):
            await backends.queue.put(OPEN_DOOR)
    finally:
        await backends.close()


async def test_client_certificate_from_url_options(mtls_redis: TlsRedis) -> None:
    without = build_backends("redis", mtls_redis.url(), prefix=prefix())
    with_cert = build_backends("redis", mtls_redis.url(client_cert=True), prefix=prefix())
    try:
        with pytest.raises(BackendUnavailable):
            await without.heartbeat.alive("x")
        await with_cert.heartbeat.beat("agent-mtls", 30, {})
        assert await with_cert.heartbeat.alive("agent-mtls") is True
    finally:
        await without.close()
        await with_cert.close()


async def test_agent_settings_accept_a_tls_url_and_build_working_backends(
    tls_redis: TlsRedis,
) -> None:
    loaded = conf.load({"backend": "redis", "redis_url": tls_redis.url(client_cert=True)})
    backends = build_backends("redis", loaded.redis_url, prefix=prefix())
    try:
        assert await backends.queue.depth(3) == 0
    finally:
        await backends.close()


# --- URL validation and the plain-text warning: no server needed ---------------------------------


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("rediss://u:pw-Secret-1@h:6380/0?ssl_ca_certs=/nonexistent/ca.pem", "no such file"),
        ("rediss://u:pw-Secret-1@h:6380/0?ssl_ca_cert=/tmp/ca.pem", "unknown Redis URL option"),
        ("redis://u:pw-Secret-1@h:6379/0?ssl_ca_certs=/etc/hostname", "needs a rediss://"),
        ("rediss://u:pw-Secret-1@h:6380/0?ssl_cert_reqs=maybe", "none, optional or required"),
        ("rediss://u:pw-Secret-1@h:6380/0?socket_timeout=soon", "not a valid Redis URL"),
        ("http://u:pw-Secret-1@h:6379/0", "starts with redis://"),
    ],
)
def test_bad_urls_are_rejected_at_start_without_echoing_the_password(
    url: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        check_redis_url(url)
    assert "pw-Secret-1" not in str(caught.value)
    with pytest.raises(ValueError, match=complaint):
        build_backends("redis", url)
    with pytest.raises(ImproperlyConfigured) as settings_error:
        conf.load({"backend": "redis", "redis_url": url})
    assert "pw-Secret-1" not in str(settings_error.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://agent:pw-Secret-1@10.20.30.40:6379/0",
        "redis://agent:pw-Secret-1@redis.example.com:6379/0?socket_timeout=3",
        "redis://agent:pw-Secret-1@[2001:db8::5]:6379/0",
    ],
)
def test_plain_text_to_a_remote_host_warns_once(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.backends"):
        build_backends("redis", url)
    warnings = [r for r in caplog.records if r.name == "agent.backends"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "plain text" in message
    assert "rediss://" in message
    assert "agent:***@" in message
    assert "pw-Secret-1" not in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://agent:pw-Secret-1@localhost:6379/0",
        "redis://agent:pw-Secret-1@127.0.0.1:6379/0",
        "redis://127.0.0.2:6379/0",
        "redis://[::1]:6379/0",
        "rediss://agent:pw-Secret-1@10.20.30.40:6380/0",
        "unix:///run/redis/redis.sock",
    ],
)
def test_local_or_tls_urls_do_not_warn(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.backends"):
        build_backends("redis", url)
    assert [r for r in caplog.records if r.name == "agent.backends"] == []


def test_default_timeouts_are_set_on_every_redis_connection() -> None:
    backends = build_backends("redis", "redis://127.0.0.1:6379/0")
    for backend in (backends.queue, backends.heartbeat):
        kwargs = backend._redis.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert kwargs["socket_connect_timeout"] == 5.0
        assert kwargs["socket_timeout"] == 10.0
        assert kwargs["health_check_interval"] == 30

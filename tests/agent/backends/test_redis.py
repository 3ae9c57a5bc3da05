"""What only the Redis backends have: URLs and secrets, outages, key layout, crashes."""

from __future__ import annotations

import secrets
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from agent.backends import (
    BackendUnavailable,
    CommandEnvelope,
    DeviceStatusRecord,
    RedisHeartbeat,
    RedisQueue,
    build_backends,
)

from .support import REDIS_URL, redis_client_or_skip, redis_prefix

CLOSED_PORT = "redis://127.0.0.1:1/0"
OPEN_DOOR = CommandEnvelope(
    command_id=1, device_id=7, content="DEVICE SET 1 1 5", enqueued_at=1_700_000_000.0
)


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 6379}"
    return urlunsplit(parts._replace(netloc=netloc))


# --- without a server --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://agent:s3cr3t-pw@10.0.0.5:6380/2", "redis://agent:***@10.0.0.5:6380/2"),
        (
            "rediss://agent:s3cr3t-pw@cache.example:6390/0",
            "rediss://agent:***@cache.example:6390/0",
        ),
        ("redis://:s3cr3t-pw@localhost/1", "redis://localhost:6379/1"),
        ("redis://localhost:6379/0?password=s3cr3t-pw", "redis://localhost:6379/0"),
    ],
)
async def test_repr_never_shows_the_password(url: str, shown: str) -> None:
    for backend in (RedisQueue.from_url(url), RedisHeartbeat.from_url(url)):
        try:
            assert "s3cr3t-pw" not in repr(backend)
            assert "s3cr3t-pw" not in str(backend)
            assert shown in repr(backend)
        finally:
            await backend.close()


async def test_closed_port_raises_backend_unavailable_not_a_redis_error() -> None:
    queue = RedisQueue.from_url(
        with_credentials(CLOSED_PORT, "agent", "s3cr3t-pw"), socket_connect_timeout=0.2
    )
    heartbeat = RedisHeartbeat.from_url(CLOSED_PORT, socket_connect_timeout=0.2)
    started = time.monotonic()
    try:
        calls = [
            lambda: queue.put(OPEN_DOOR),
            lambda: queue.get(7, timeout=0.1),
            lambda: queue.ack(OPEN_DOOR),
            lambda: queue.depth(7),
            queue.recover,
            lambda: heartbeat.beat("agent-a", 5, {}),
            lambda: heartbeat.alive("agent-a"),
            heartbeat.all_device_status,
        ]
        for call in calls:
            with pytest.raises(BackendUnavailable) as caught:
                await call()
            assert isinstance(caught.value.__cause__, RedisConnectionError | OSError)
            assert "127.0.0.1:1" in str(caught.value)
            assert "s3cr3t-pw" not in str(caught.value)
    finally:
        await queue.close()
        await heartbeat.close()
    assert time.monotonic() - started < 10


def test_build_backends_picks_the_implementation_and_checks_its_input() -> None:
    memory = build_backends("memory")
    assert type(memory.queue).__name__ == "MemoryCommandQueue"
    assert type(memory.heartbeat).__name__ == "MemoryHeartbeat"

    with pytest.raises(ValueError, match="needs a URL"):
        build_backends("redis")
    with pytest.raises(ValueError, match="redis://") as caught:
        build_backends("redis", "http://agent:s3cr3t-pw@host/")
    assert "s3cr3t-pw" not in str(caught.value)
    with pytest.raises(ValueError, match="unknown backend"):
        build_backends("sqlite", "x")  # type: ignore[arg-type]


async def test_build_backends_redis_shares_the_prefix() -> None:
    backends = build_backends("redis", "redis://127.0.0.1:6379/15", prefix="x:")
    try:
        assert isinstance(backends.queue, RedisQueue)
        assert isinstance(backends.heartbeat, RedisHeartbeat)
        assert "prefix='x:'" in repr(backends.queue)
    finally:
        await backends.close()


# --- with the real Redis -----------------------------------------------------------------


@pytest.mark.redis
async def test_keys_follow_the_documented_layout() -> None:
    async with redis_prefix() as prefix:
        client = await redis_client_or_skip()
        queue = RedisQueue.from_url(REDIS_URL, prefix=prefix)
        heartbeat = RedisHeartbeat.from_url(REDIS_URL, prefix=prefix)
        try:
            await queue.put(OPEN_DOOR)
            await queue.put(CommandEnvelope(2, 7, "CANCEL ALARM 1", enqueued_at=1.0))
            taken = await queue.get(7, timeout=1)
            assert taken == OPEN_DOOR
            await heartbeat.beat("agent-a", 30, {"last_cycle": 1.5})
            await heartbeat.set_device_status(
                "agent-a", 7, DeviceStatusRecord(False, None, -1001, "DISCONNECT", 2.0)
            )

            q = prefix + "queue:7:"
            assert await client.type(q + "pending") == "zset"
            assert await client.zcard(q + "pending") == 1
            assert await client.hkeys(q + "inflight") == ["1"]
            assert await client.smembers(q + "ids") == {"1", "2"}
            assert await client.smembers(prefix + "queue:devices") == {"7"}

            agent = await client.hgetall(prefix + "agent:agent-a")
            assert agent["info"] == '{"last_cycle": 1.5}'
            assert 0 < await client.pttl(prefix + "agent:agent-a") <= 30_000
            device = await client.hgetall(prefix + "device:7")
            assert device["agent"] == "agent-a"
            assert device["return_code"] == "-1001"
            assert device["op"] == "DISCONNECT"
            assert 0 < await client.pttl(prefix + "device:7") <= 30_000
            assert await client.smembers(prefix + "devices") == {"7"}
            assert await client.smembers(prefix + "agent-devices:agent-a") == {"7"}
        finally:
            await queue.close()
            await heartbeat.close()
            await client.aclose()


@pytest.mark.redis
async def test_command_taken_by_a_dead_agent_survives_in_flight() -> None:
    async with redis_prefix() as prefix:
        dying = RedisQueue.from_url(REDIS_URL, prefix=prefix)
        await dying.put(OPEN_DOOR)
        assert await dying.get(7, timeout=1) == OPEN_DOOR
        await dying.close()  # gone without an ack

        restarted = RedisQueue.from_url(REDIS_URL, prefix=prefix)
        try:
            assert await restarted.in_flight(7) == [OPEN_DOOR]
            assert await restarted.recover() == 1
            assert await restarted.get(7, timeout=1) == OPEN_DOOR
        finally:
            await restarted.close()


@pytest.mark.redis
async def test_connection_dropped_between_take_and_ack_loses_nothing() -> None:
    name = f"commcenter-test-{uuid.uuid4().hex[:12]}"
    async with redis_prefix() as prefix:
        admin = await redis_client_or_skip()
        queue = RedisQueue.from_url(REDIS_URL, prefix=prefix, client_name=name)
        try:
            await queue.put(OPEN_DOOR)
            taken = await queue.get(7, timeout=1)
            assert taken == OPEN_DOOR

            killed = 0
            for client in await admin.client_list():
                if client.get("name") == name:
                    killed += int(await admin.client_kill_filter(_id=client["id"]))
            assert killed >= 1

            assert await queue.in_flight(7) == [OPEN_DOOR]  # reconnects; still in flight
            await queue.ack(taken)
            assert await queue.in_flight(7) == []
            assert await queue.depth(7) == 0
        finally:
            await queue.close()
            await admin.aclose()


@pytest.mark.redis
async def test_get_longer_than_the_socket_timeout_blocks_in_slices() -> None:
    async with redis_prefix() as prefix:
        queue = RedisQueue.from_url(REDIS_URL, prefix=prefix, socket_timeout=0.2)
        try:
            started = time.monotonic()
            assert await queue.get(7, timeout=0.5) is None
            assert 0.45 <= time.monotonic() - started < 1.5
        finally:
            await queue.close()


@pytest.mark.redis
async def test_acl_user_and_password_from_the_url() -> None:
    async with redis_prefix() as prefix:
        admin = await redis_client_or_skip()
        user = f"commcenter-test-{uuid.uuid4().hex[:12]}"
        password = secrets.token_hex(12)
        await admin.acl_setuser(
            user,
            enabled=True,
            passwords=[f"+{password}"],
            keys=[f"{prefix}*"],
            commands=["+@all"],
        )
        good = RedisQueue.from_url(with_credentials(REDIS_URL, user, password), prefix=prefix)
        wrong = secrets.token_hex(12)
        bad = RedisHeartbeat.from_url(with_credentials(REDIS_URL, user, wrong), prefix=prefix)
        try:
            assert await good.put(OPEN_DOOR) is True
            assert await good.get(7, timeout=1) == OPEN_DOOR
            assert password not in repr(good)
            with pytest.raises(BackendUnavailable) as caught:
                await bad.alive("agent-a")
            assert wrong not in str(caught.value)
        finally:
            await good.close()
            await bad.close()
            await admin.acl_deluser(user)
            await admin.aclose()

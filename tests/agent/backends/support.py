"""Helpers shared by the backend tests (the fixtures live in conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent.backends import Heartbeat
from agent.logs import redact_text

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


async def redis_client_or_skip() -> aioredis.Redis:
    """A client for the test Redis; skip (locally) or fail (CI) when it does not answer."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, decode_responses=True)
    try:
        await client.ping()
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        await client.aclose()
        message = f"Redis not reachable at {redact_text(REDIS_URL)}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return client


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own (skip/fail as above); every key under it is deleted after."""
    client = await redis_client_or_skip()
    prefix = f"test:{uuid.uuid4().hex}:commcenter:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@dataclass
class Beats:
    """A heartbeat backend and a way to let *seconds* pass for it."""

    heartbeat: Heartbeat
    wait: Callable[[float], Awaitable[None]]
    ttl: float


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds

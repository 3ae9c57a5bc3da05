"""Cluster tests run on the real Redis (REDIS_URL) and, for the multi-agent run, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from agent.cluster.keys import Keys

from .rig import REDIS_URL, postgres_unreachable, redis_unreachable


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine, fail when CI is set (the CI run must exercise the servers)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def need_redis() -> None:
    reason = redis_unreachable()
    if reason:
        skip_or_fail(reason)


@pytest.fixture
def need_postgres() -> None:
    reason = postgres_unreachable()
    if reason:
        skip_or_fail(reason)


@pytest.fixture
async def rclient(need_redis: None) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(rclient: aioredis.Redis) -> AsyncIterator[Keys]:
    """A key prefix of its own; everything under it is deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:commcenter:"
    yield Keys(prefix)
    found = [key async for key in rclient.scan_iter(match=prefix + "*", count=500)]
    if found:
        await rclient.delete(*found)

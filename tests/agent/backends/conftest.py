"""Fixtures that run one test body on every backend (STYLE §5.10, dramatiq style)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.backends import (
    CommandQueue,
    MemoryCommandQueue,
    MemoryHeartbeat,
    RedisHeartbeat,
    RedisQueue,
)

from .support import REDIS_URL, Beats, FakeClock, redis_prefix

BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[CommandQueue]:
    if request.param == "memory":
        memory = MemoryCommandQueue()
        yield memory
        await memory.close()
        return
    async with redis_prefix() as prefix:
        backend = RedisQueue.from_url(REDIS_URL, prefix=prefix)
        try:
            yield backend
        finally:
            await backend.close()


@pytest.fixture(params=BACKENDS)
async def beats(request: pytest.FixtureRequest) -> AsyncIterator[Beats]:
    if request.param == "memory":
        clock = FakeClock()
        yield Beats(MemoryHeartbeat(clock=clock), clock.advance, ttl=10.0)
        return
    async with redis_prefix() as prefix:
        heartbeat = RedisHeartbeat.from_url(REDIS_URL, prefix=prefix)
        try:
            yield Beats(heartbeat, asyncio.sleep, ttl=0.5)  # real time: short, with margin
        finally:
            await heartbeat.close()

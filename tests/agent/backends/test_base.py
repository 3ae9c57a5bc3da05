"""The value types and small rules in backends.base, and the memory-only behaviour."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.backends import (
    CommandEnvelope,
    MemoryCommandQueue,
    MemoryHeartbeat,
)
from agent.backends.base import MAX_PRIORITY, MIN_PRIORITY

ENVELOPE = CommandEnvelope(
    command_id=12,
    device_id=3,
    content="SET OPTION DateTime=123456,CurTimeMode=2",
    immediate=True,
    priority=4,
    enqueued_at=1_700_000_000.125,
    expires_at=1_700_000_050.125,
)


def test_envelope_json_is_compact_sorted_and_round_trips() -> None:
    text = ENVELOPE.to_json()
    assert text.startswith('{"command_id":12,"content":')
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert CommandEnvelope.from_json(text) == ENVELOPE
    assert CommandEnvelope.from_json(text.encode()) == ENVELOPE
    assert CommandEnvelope.from_json(text).to_json() == text


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"command_id": 1}',
        ENVELOPE.to_json().replace('"command_id":12', '"command_id":"12"'),
        ENVELOPE.to_json().replace('"immediate":true', '"immediate":1'),
    ],
)
def test_envelope_from_json_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a command envelope"):
        CommandEnvelope.from_json(text)


def test_envelope_priority_is_bounded() -> None:
    CommandEnvelope(1, 1, "X", priority=MIN_PRIORITY)
    CommandEnvelope(1, 1, "X", priority=MAX_PRIORITY)
    with pytest.raises(ValueError, match="priority"):
        CommandEnvelope(1, 1, "X", priority=MAX_PRIORITY + 1)


def test_envelope_expiry() -> None:
    assert not ENVELOPE.is_expired(1_700_000_050.0)
    assert ENVELOPE.is_expired(1_700_000_050.125)
    assert not CommandEnvelope(1, 1, "X").is_expired(1e12)


async def test_memory_close_wakes_a_waiting_get() -> None:
    queue = MemoryCommandQueue()
    waiter = asyncio.create_task(queue.get(1, timeout=30))
    await asyncio.sleep(0.01)
    await queue.close()
    assert await asyncio.wait_for(waiter, timeout=1) is None


async def test_memory_heartbeat_info_is_a_json_copy() -> None:
    heartbeat = MemoryHeartbeat(clock=lambda: 100.0)
    info = {"devices": (1, 2)}
    await heartbeat.beat("a", 5, info)
    assert await heartbeat.agents() == {"a": {"devices": [1, 2], "beat_at": 100.0}}
    with pytest.raises(TypeError):
        await heartbeat.beat("a", 5, {"bad": object()})


def test_backends_metrics_and_logs_never_import_django() -> None:
    code = (
        "import sys, agent.backends, agent.metrics, agent.logs; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'psycopg'}); "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root / "zkeco_modern")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root, timeout=60)

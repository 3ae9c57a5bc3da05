"""`status.snapshot()`, the cluster_status command, and enqueue publishing to the shard stream."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis
import structlog
from django.core.management import call_command
from django.core.management.base import CommandError

from agent import conf
from agent.cluster.keys import Keys
from agent.cluster.leases import LeaseStore
from agent.cluster.membership import Membership
from agent.cluster.shards import shard_of
from agent.cluster.status import snapshot, to_text
from agent.commands import enqueue
from agent.models import CommType, Device

from .rig import REDIS_URL

pytestmark = pytest.mark.redis


def _settings(**extra: object) -> conf.AgentSettings:
    return conf.load({"redis_url": REDIS_URL, "cluster_shards": 4, **extra})


async def test_snapshot_shows_agents_owners_and_epochs(rclient: aioredis.Redis, keys: Keys) -> None:
    await Membership(rclient, keys, "a", ttl=10).beat({"devices": [1, 2, 3], "shards": [0, 1]})
    leases = LeaseStore(rclient, keys, "a", ttl=10)
    first = await leases.acquire(0)
    assert first is not None
    await leases.acquire(1)
    await LeaseStore(rclient, keys, "gone", ttl=10).acquire(2)  # holder without a heartbeat
    state = await asyncio.to_thread(snapshot, _settings(), keys=keys)
    assert state["reachable"] is True
    assert state["shards"] == 4
    assert state["agents"]["a"]["devices"] == 3
    assert state["agents"]["a"]["held"] == 2
    assert 0 <= state["agents"]["a"]["heartbeat_age_s"] < 5
    assert state["owners"][0]["agent"] == "a"
    assert state["owners"][0]["epoch"] == first.epoch
    assert state["free"] == [3]
    assert state["orphaned"] == [2]
    assert state["healthy"] is False
    text = to_text(state)
    assert "healthy: NO" in text
    assert "(free)" in text


def test_snapshot_when_redis_is_down() -> None:
    state = snapshot(conf.load({"redis_url": "redis://127.0.0.1:1/0"}), timeout=0.5)
    assert state == {"reachable": False, "error": state["error"], "healthy": False}
    assert "ConnectionError" in state["error"]


def test_cluster_status_command(need_redis: None) -> None:
    out = io.StringIO()
    call_command("cluster_status", "--redis-url", REDIS_URL, "--shards", "4", stdout=out)
    assert "shards:" in out.getvalue()


@pytest.mark.django_db
def test_enqueue_puts_a_new_command_on_its_shard_stream(
    need_redis: None, django_capture_on_commit_callbacks: object
) -> None:
    device = Device.objects.create(
        alias="pub-1", comm_type=CommType.TCP, ipaddress="127.0.0.1", ip_port=4371
    )
    keys = Keys()
    stream = keys.stream(shard_of(device.pk, 4))
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            row = enqueue(device, "DEVICE SET 1 1 5", settings=_settings(cluster=True))
        entries = client.xrange(stream)
        assert [fields["id"] for _, fields in entries] == [str(row.pk)]
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            enqueue(device, "DATA COUNT user", settings=_settings(cluster=False))
        assert len(client.xrange(stream)) == 1  # not clustered: nothing published
    finally:
        client.delete(stream, keys.ids(shard_of(device.pk, 4)))
        client.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """run_commcenter reconfigures the root logger and structlog: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "--agent-id", "x"], "needs the Redis backend"),
        (["--cluster", "--redis-url", REDIS_URL], "needs a stable --agent-id"),
        (["--cluster", "--redis-url", REDIS_URL, "--agent-id", "x", "--once"], "--once"),
        (["--cluster", "--redis-url", REDIS_URL, "--agent-id", "bad id!"], "agent_id"),
        (
            ["--cluster", "--redis-url", REDIS_URL, "--agent-id", "x", "--cluster-shards", "0"],
            "1..4096",
        ),
    ],
)
@pytest.mark.django_db
def test_run_commcenter_refuses_a_bad_cluster_setup(
    args: list[str], message: str, restore_logging: None
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("run_commcenter", *args)

"""/healthz: healthy and unhealthy states, memory (DB) and Redis heartbeats, DB unreachable."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from agent import persistence
from agent.backends import RedisHeartbeat
from agent.models import DeviceStatus
from tests.agent.factories import make_device

from .live_support import environment, get_json, monitor

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _monitor_settings(settings):
    settings.MONITOR = {}
    settings.ZKAGENT = {**settings.ZKAGENT, "backend": "memory"}


def _health(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


@pytest.mark.django_db
def test_healthy_with_a_fresh_status_row(client):
    online = make_device(alias="a")
    make_device(alias="b")  # no status yet: offline
    make_device(alias="c", enabled=False)
    persistence.save_device_status(online.pk, online=True, return_code=1, op="REAL_LOG")
    status, body = _health(client)  # no login needed
    assert status == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["agent"]["source"] == "database"
    assert checks["agent"]["age_seconds"] < 60
    assert checks["agent"]["max_age_seconds"] == 120 + 60 + 30  # throttle + reconnect + margin
    assert {k: checks["devices"][k] for k in ("online", "offline", "disabled")} == {
        "online": 1,
        "offline": 1,
        "disabled": 1,
    }


@pytest.mark.django_db
def test_unhealthy_when_the_agent_stopped_reporting(client, settings):
    device = make_device()
    assert _health(client)[0] == 503  # nothing reported yet
    assert "no device status" in _health(client)[1]["checks"]["agent"]["error"]
    persistence.save_device_status(device.pk, online=True, return_code=1, op="REAL_LOG")
    DeviceStatus.objects.update(updated_at=timezone.now() - timedelta(seconds=300))
    status, body = _health(client)
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["agent"]["ok"] is False
    assert body["checks"]["agent"]["age_seconds"] >= 300
    assert body["checks"]["devices"]["offline"] == 1  # its "online" row is stale
    settings.MONITOR = {"heartbeat_max_age": 600, "status_stale": 600}
    assert _health(client)[0] == 200  # thresholds are configurable
    settings.MONITOR = {"require_agent": "0"}
    assert _health(client)[0] == 200


@pytest.mark.django_db
def test_max_offline_threshold(client, settings):
    up, down = make_device(alias="up"), make_device(alias="down")
    persistence.save_device_status(up.pk, online=True, return_code=1, op="REAL_LOG")
    persistence.save_device_status(down.pk, online=False, return_code=-307, op="CONNECT")
    assert _health(client)[0] == 200  # by default offline panels alone do not fail
    settings.MONITOR = {"max_offline": 0}
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["devices"] == {
        "ok": False,
        "online": 1,
        "offline": 1,
        "disabled": 0,
        "max_offline": 0,
    }
    settings.MONITOR = {"max_offline": "x"}
    assert _health(client)[0] == 503  # a bad setting reads as unhealthy, with the reason
    assert "max_offline" in _health(client)[1]["error"]


def _redis_or_skip() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    finally:
        client.close()


@pytest.mark.redis
@pytest.mark.django_db
def test_redis_heartbeat_decides_when_the_agent_uses_redis(client, settings):
    _redis_or_skip()
    agent_id = f"health-{uuid.uuid4().hex[:8]}"
    settings.ZKAGENT = {**settings.ZKAGENT, "backend": "redis", "redis_url": REDIS_URL}
    settings.MONITOR = {"agent_ids": agent_id}
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["agent"]["source"] == "redis"
    assert body["checks"]["agent"]["error"] == f"no fresh heartbeat from {agent_id}"

    async def beat(ttl: float) -> None:
        heartbeat = RedisHeartbeat.from_url(REDIS_URL)
        try:
            await heartbeat.beat(agent_id, ttl, {"devices": 0})
        finally:
            await heartbeat.close()

    asyncio.run(beat(30.0))
    try:
        status, body = _health(client)
        assert status == 200, body
        agent = body["checks"]["agent"]
        assert agent["agents"][agent_id] < 5
        assert agent["max_age_seconds"] == 30.0  # ZKAGENT heartbeat_ttl_seconds
        settings.MONITOR = {"agent_ids": f"{agent_id},another-agent"}
        status, body = _health(client)
        assert status == 503
        assert body["checks"]["agent"]["error"] == "no fresh heartbeat from another-agent"
    finally:
        plain = redis.Redis.from_url(REDIS_URL)
        plain.delete(f"commcenter:agent:{agent_id}")
        plain.srem("commcenter:agents", agent_id)
        plain.close()


@pytest.mark.django_db
def test_redis_unreachable_is_unhealthy(client, settings):
    settings.ZKAGENT = {
        **settings.ZKAGENT,
        "backend": "redis",
        "redis_url": "redis://127.0.0.1:1/0",
    }
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["agent"]["ok"] is False
    assert "127.0.0.1:1" in body["checks"]["agent"]["error"]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-directory/commcenter.sqlite3",
        "postgres://postgres@127.0.0.1:1/unreachable",  # nobody listens on port 1
    ],
    ids=["sqlite-unopenable", "postgres-refused"],
)
def test_database_unreachable_is_503_from_the_running_server(tmp_path: Path, url: str):
    env = environment(tmp_path / "unused.sqlite3", DATABASE_URL=url)
    with monitor(env, tmp_path / "monitor.log") as base:
        status, body = get_json(base + "/healthz")
    assert status == 503
    assert body["status"] == "fail"
    database = body["checks"]["database"]
    assert database["ok"] is False
    assert "OperationalError" in database["error"]
    assert body["checks"]["agent"] == {
        "ok": False,
        "source": "database",
        "error": "database unreachable",
    }

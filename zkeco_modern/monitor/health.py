"""The health report: database reachable, agent alive by heartbeat age, device counts.

The agent's sign of life is read where it lives for an agent on another host: the Redis
heartbeat (`RedisHeartbeat.agents()`, its `beat_at`) when ZKAGENT's backend is Redis; with the
memory backend the heartbeat never leaves the agent's process, so the newest `DeviceStatus`
row (which the agent refreshes every `status_throttle_seconds` at least) stands for it.
Healthy means every check passed; `report()` never raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection
from django.db.models import Max
from django.utils import timezone

from agent.backends import BackendUnavailable, RedisHeartbeat
from agent.models import Device, DeviceStatus

from .conf import MonitorSettings
from .feed import device_state

REDIS_TIMEOUT = 2.0  # seconds: a health probe must answer before the balancer gives up


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail}


async def report(settings: MonitorSettings) -> tuple[bool, dict[str, Any]]:
    """(healthy, JSON body)."""
    database = await sync_to_async(check_database)()
    if database.ok:
        devices = await sync_to_async(check_devices)(settings)
    else:
        devices = Check(False, {"error": "database unreachable"})
    if settings.redis:
        agent = await check_agent_redis(settings)
    elif database.ok:
        agent = await sync_to_async(check_agent_database)(settings)
    else:
        agent = Check(False, {"source": "database", "error": "database unreachable"})
    healthy = database.ok and devices.ok and (agent.ok or not settings.require_agent)
    body = {
        "status": "ok" if healthy else "fail",
        "time": timezone.now().isoformat(),
        "checks": {"database": database.json(), "agent": agent.json(), "devices": devices.json()},
    }
    return healthy, body


def check_database() -> Check:
    """One round trip; the connection is dropped on failure so the next probe reconnects."""
    started = time.monotonic()
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        connection.close_if_unusable_or_obsolete()
        return Check(False, {"vendor": connection.vendor, "error": _first_line(exc)})
    return Check(
        True,
        {"vendor": connection.vendor, "latency_ms": round((time.monotonic() - started) * 1000, 1)},
    )


def check_devices(settings: MonitorSettings) -> Check:
    """Online/offline/disabled counts (offline: no status, offline status, or a stale one)."""
    now = timezone.now()
    counts = {"online": 0, "offline": 0, "disabled": 0}
    try:
        for device in Device.objects.select_related("status"):
            status: DeviceStatus | None = getattr(device, "status", None)
            state, _ = device_state(device, status, now=now, stale_after=settings.status_stale)
            counts[state] += 1
    except DatabaseError as exc:
        return Check(False, {"error": _first_line(exc)})
    limit = settings.max_offline
    return Check(limit is None or counts["offline"] <= limit, {**counts, "max_offline": limit})


def check_agent_database(settings: MonitorSettings) -> Check:
    """Age of the newest DeviceStatus row of an enabled device."""
    base = {"source": "database", "max_age_seconds": settings.heartbeat_max_age}
    try:
        newest = DeviceStatus.objects.filter(device__enabled=True).aggregate(at=Max("updated_at"))[
            "at"
        ]
    except DatabaseError as exc:
        return Check(False, {**base, "error": _first_line(exc)})
    if newest is None:
        return Check(False, {**base, "error": "no device status written by an agent yet"})
    age = (timezone.now() - newest).total_seconds()
    return Check(
        age <= settings.heartbeat_max_age,
        {**base, "age_seconds": round(age, 1), "last_seen": newest.isoformat()},
    )


async def check_agent_redis(settings: MonitorSettings) -> Check:
    """Ages of the agents beating in Redis; the required ones (or any one) must be fresh."""
    base: dict[str, Any] = {"source": "redis", "max_age_seconds": settings.heartbeat_max_age}
    heartbeat = RedisHeartbeat.from_url(
        settings.agent.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    try:
        agents = await heartbeat.agents()
    except BackendUnavailable as exc:
        return Check(False, {**base, "error": str(exc)})
    finally:
        await heartbeat.close()
    now = time.time()
    ages = {agent_id: round(now - float(info["beat_at"]), 1) for agent_id, info in agents.items()}
    fresh = {agent_id for agent_id, age in ages.items() if age <= settings.heartbeat_max_age}
    if settings.agent_ids:
        missing = sorted(set(settings.agent_ids) - fresh)
        ok = not missing
    else:
        missing = []
        ok = bool(fresh)
    detail: dict[str, Any] = {**base, "agents": ages}
    if ages:
        detail["age_seconds"] = min(ages.values())
        newest = max(float(info["beat_at"]) for info in agents.values())
        detail["last_seen"] = datetime.fromtimestamp(newest, UTC).isoformat()
    if missing:
        detail["error"] = f"no fresh heartbeat from {', '.join(missing)}"
    elif not ok:
        detail["error"] = "no agent heartbeat in Redis"
    return Check(ok, detail)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")

"""Settings of the monitor and the health endpoint, from ``settings.MONITOR`` or MONITOR_<KEY>.

Environment (each overrides the same key of ``settings.MONITOR``; all optional):

  MONITOR_HEARTBEAT_MAX_AGE   seconds; an agent whose last sign of life is older is dead.
                              Default: ZKAGENT heartbeat_ttl_seconds when the heartbeat is in
                              Redis; with the memory backend the only remote sign of life is
                              the DeviceStatus mirror, refreshed every status_throttle_seconds,
                              so status_throttle + reconnect + 30 s.
  MONITOR_STATUS_STALE        seconds after which a device shown online by an old DeviceStatus
                              row counts as offline (default: the heartbeat max age above)
  MONITOR_MAX_OFFLINE         health fails when more enabled devices are offline (default:
                              unset, offline panels alone do not fail the health check)
  MONITOR_REQUIRE_AGENT       "0" to stay healthy without a live agent (default "1")
  MONITOR_AGENT_IDS           comma list: these agents must all be alive (Redis heartbeat);
                              default: any live agent will do
  MONITOR_POLL_SECONDS        how often the event stream reads the database (default 1.0)
  MONITOR_STREAM_SECONDS      a stream ends after this long; the browser resumes it with
                              Last-Event-ID (default 600)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from agent import conf as agent_conf


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Validated monitor settings (seconds), with the agent settings they derive from."""

    agent: agent_conf.AgentSettings
    heartbeat_max_age: float
    status_stale: float
    max_offline: int | None
    require_agent: bool
    agent_ids: tuple[str, ...]
    poll_seconds: float
    stream_seconds: float

    @property
    def redis(self) -> bool:
        """Whether the agent's heartbeat and queue live in Redis (ZKAGENT backend)."""
        return self.agent.backend == "redis"


_KEYS = (
    "heartbeat_max_age",
    "status_stale",
    "max_offline",
    "require_agent",
    "agent_ids",
    "poll_seconds",
    "stream_seconds",
)


def load(overrides: dict[str, Any] | None = None) -> MonitorSettings:
    """Read and validate; ImproperlyConfigured names the bad key."""
    raw: dict[str, Any] = dict(getattr(django_settings, "MONITOR", {}) or {})
    for key in _KEYS:
        value = os.environ.get(f"MONITOR_{key.upper()}")
        if value is not None and value.strip() != "":
            raw[key] = value
    raw.update(overrides or {})
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ImproperlyConfigured(f"MONITOR: unknown key(s) {', '.join(unknown)}")
    agent = agent_conf.load()
    if agent.backend == "redis":
        derived_age = agent.heartbeat_ttl_seconds
    else:
        derived_age = agent.status_throttle_seconds + agent.reconnect_seconds + 30.0
    max_age = _seconds(raw, "heartbeat_max_age", derived_age)
    offline = raw.get("max_offline")
    return MonitorSettings(
        agent=agent,
        heartbeat_max_age=max_age,
        status_stale=_seconds(
            raw, "status_stale", agent.status_throttle_seconds + agent.reconnect_seconds + 30.0
        ),
        max_offline=None if offline in (None, "") else _count(offline, "max_offline"),
        require_agent=_flag(raw.get("require_agent", True)),
        agent_ids=_names(raw.get("agent_ids", ())),
        poll_seconds=_seconds(raw, "poll_seconds", 1.0),
        stream_seconds=_seconds(raw, "stream_seconds", 600.0),
    )


def _seconds(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"MONITOR {key}: expected seconds, got {value!r}") from None
    if not 0 < number < 10**7:
        raise ImproperlyConfigured(f"MONITOR {key}: must be positive, got {value!r}")
    return number


def _count(value: object, key: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ImproperlyConfigured(f"MONITOR {key}: expected a count, got {value!r}") from None
    if number < 0:
        raise ImproperlyConfigured(f"MONITOR {key}: must not be negative, got {value!r}")
    return number


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"MONITOR require_agent: expected 0/1, got {value!r}")


def _names(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return tuple(sorted({str(item).strip() for item in items if str(item).strip()}))

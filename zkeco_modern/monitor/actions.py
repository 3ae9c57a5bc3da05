"""The everyday commands of the monitor's buttons, queued through the agent's own path.

`command_text` turns a button (action, door, seconds) into legacy `devcmds` text; `queue`
stores it with `agent.commands.enqueue` (grammar check, de-duplication, the 50 s expiry of
door commands) as an immediate command, like the legacy monitor's buttons. The agent's
feeder moves pending rows into whichever queue backend it runs on (memory or Redis) within
half a second; when the monitor is configured for Redis (ZKAGENT backend) `push` also puts
the envelope into Redis at once, which wakes the agent's waiting session without the feeder
pass. Redis being down only costs that shortcut: the row is the durable truth.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from django.utils import timezone

from agent.adapters import envelope_of
from agent.backends import BackendUnavailable, RedisQueue
from agent.commands import enqueue
from agent.models import CommandStatus, Device, DeviceCommand
from zkpull.protocol.timecodec import encode_time

logger = logging.getLogger("monitor.actions")
MAX_OPEN_SECONDS: Final = 254  # 255 means "hold open" on the wire: that is normal-open's job
MONITOR_PRIORITY: Final = 10  # an operator at the door waits: before queued data syncs


class Action(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    NORMAL_OPEN_ON = "normal_open_on"
    NORMAL_OPEN_OFF = "normal_open_off"
    CANCEL_ALARM = "cancel_alarm"
    SYNC_TIME = "sync_time"


class ActionError(ValueError):
    """A button request that cannot become a command; the message is for the operator."""


def command_text(
    action: str, door: int | None, seconds: int | None, device: Device, *, now: datetime
) -> str:
    """The legacy text for *action*; ActionError when a parameter is missing or out of range."""
    try:
        kind = Action(action)
    except ValueError:
        raise ActionError(f"unknown action {action!r}") from None
    if kind is Action.SYNC_TIME:
        local = now.astimezone(ZoneInfo(device.timezone)).replace(tzinfo=None)
        return f"SET OPTION DateTime={encode_time(local)}"
    if kind is Action.CANCEL_ALARM:
        return f"CANCEL ALARM {_door(door, device, allow_all=True)}"
    number = _door(door, device, allow_all=False)
    if kind is Action.OPEN:
        if seconds is None or not 1 <= seconds <= MAX_OPEN_SECONDS:
            raise ActionError(f"open for 1..{MAX_OPEN_SECONDS} seconds")
        return f"DEVICE SET {number} 1 {seconds}"
    if kind is Action.CLOSE:
        return f"DEVICE SET {number} 1 0"
    return f"CONTROL NO {number} {1 if kind is Action.NORMAL_OPEN_ON else 0}"


def queue(
    device: Device, action: str, door: int | None = None, seconds: int | None = None
) -> DeviceCommand:
    """Enqueue the button's command for *device* (sync ORM; call off the event loop)."""
    text = command_text(action, door, seconds, device, now=timezone.now())
    return enqueue(device, text, immediate=True, priority=MONITOR_PRIORITY)


async def push(row: DeviceCommand, redis_url: str) -> bool:
    """Put a pending row into the agent's Redis queue now; False if not pushed (and why logged)."""
    if row.status != CommandStatus.PENDING:
        return False  # failed at once (-1006) or a finished duplicate: nothing to deliver
    queue_backend = RedisQueue.from_url(redis_url)
    try:
        return await queue_backend.put(envelope_of(row))
    except BackendUnavailable as exc:
        logger.warning(
            "command %s not pushed to Redis (the feeder will deliver it): %s", row.pk, exc
        )
        return False
    finally:
        await queue_backend.close()


def _door(door: int | None, device: Device, *, allow_all: bool) -> int:
    doors = device.lock_count or device.acpanel_type
    if door is None or not (0 if allow_all else 1) <= door <= min(doors, 4):
        low = 0 if allow_all else 1
        raise ActionError(f"door must be {low}..{min(doors, 4)} for {device.alias}")
    return door

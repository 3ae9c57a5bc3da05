"""Creating `DeviceCommand` rows: grammar check, de-duplication and default expiry.

Used by the web side (admin, management commands); the agent consumes rows through
`persistence`. Rules:
- The text is parsed first. An invalid command is still stored, as `failed` with -1006 and
  the parser's reason, and returned: the caller sees the legacy "unknown command" result
  instead of an exception, and the attempt is on record. It never reaches a panel.
- An identical pending command for the same device (same canonical text, see
  `grammar.to_text`) is returned instead of a new row. A new immediate request upgrades it
  to immediate, raises its priority and extends its expiry to the later of the two.
  A database constraint keeps this true under concurrent enqueues.
- Expiry: door/relay commands (DEVICE SET, CONTROL NO, CANCEL ALARM) and immediate ones
  expire `command_expiry_seconds` after commit by default (a door opened late is worse than
  not at all); other commands (data syncs) never expire unless *expires_in* is given.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import conf
from .grammar import CommandSyntaxError, Operation, is_control, parse_command, to_text
from .models import CommandStatus, Device, DeviceCommand
from .returncodes import AppReturnCode


def dedupe_key(op: Operation) -> str:
    """Identity of a command for de-duplication: SHA-256 of its canonical text."""
    return hashlib.sha256(to_text(op).encode("utf-8")).hexdigest()


def enqueue(
    device: Device | int,
    content: str,
    immediate: bool = False,
    priority: int = 0,
    expires_in: timedelta | None = None,
    *,
    now: datetime | None = None,
    settings: conf.AgentSettings | None = None,
) -> DeviceCommand:
    """Queue *content* for *device* and return its row (new, existing duplicate, or failed)."""
    device_id = _device_id(device)
    moment = now if now is not None else timezone.now()
    try:
        op = parse_command(content)
    except CommandSyntaxError as exc:
        return DeviceCommand.objects.create(
            device_id=device_id,
            content=content,
            immediate=immediate,
            priority=priority,
            commit_time=moment,
            over_time=moment,
            status=CommandStatus.FAILED,
            return_code=AppReturnCode.UNKNOWN_COMMAND,
            return_content=exc.reason,
        )
    key = dedupe_key(op)
    if expires_in is not None:
        expires_at: datetime | None = moment + expires_in
    elif immediate or is_control(op):
        agent = settings if settings is not None else conf.load()
        expires_at = moment + timedelta(seconds=agent.command_expiry_seconds)
    else:
        expires_at = None
    for _ in range(3):  # a concurrent enqueue or expiry can win the race; a retry sees it
        with transaction.atomic():
            _expire_stale_duplicates(device_id, key, moment)
            existing = (
                DeviceCommand.objects.select_for_update()
                .filter(device_id=device_id, dedupe_key=key, status=CommandStatus.PENDING)
                .first()
            )
            if existing is not None:
                return _merge(existing, immediate, priority, expires_at)
            try:
                with transaction.atomic():
                    row = DeviceCommand.objects.create(
                        device_id=device_id,
                        content=content,
                        immediate=immediate,
                        priority=priority,
                        commit_time=moment,
                        expires_at=expires_at,
                        dedupe_key=key,
                    )
            except IntegrityError:
                continue  # another process created the same pending command just now
            _publish_when_committed(row, settings)
            return row
    raise IntegrityError(f"could not enqueue {content!r} for device {device_id}: lost three races")


def cancel_pending(device: Device | int, *, now: datetime | None = None) -> int:
    """Cancel every pending command of *device* (legacy `ClearCmdCache`); returns how many."""
    device_id = _device_id(device)
    moment = now if now is not None else timezone.now()
    return DeviceCommand.objects.filter(device_id=device_id, status=CommandStatus.PENDING).update(
        status=CommandStatus.CANCELLED,
        over_time=moment,
        return_content="cancelled before it ran",
    )


def _publish_when_committed(row: DeviceCommand, settings: conf.AgentSettings | None) -> None:
    """Cluster mode: put the new command on its shard stream once the row is committed."""
    agent = settings if settings is not None else conf.load()
    if agent.cluster:
        from .cluster.publish import publish_command  # noqa: PLC0415 (Redis only when clustered)

        transaction.on_commit(lambda: publish_command(row, agent))


def _device_id(device: Device | int) -> int:
    if isinstance(device, Device):
        return device.pk
    if not Device.objects.filter(pk=device).exists():
        raise Device.DoesNotExist(f"no device with id {device}")
    return device


def _expire_stale_duplicates(device_id: int, key: str, now: datetime) -> None:
    # A pending twin past its expiry would otherwise swallow the new, fresh request.
    DeviceCommand.objects.filter(
        device_id=device_id,
        dedupe_key=key,
        status=CommandStatus.PENDING,
        expires_at__lte=now,
    ).update(
        status=CommandStatus.EXPIRED,
        over_time=now,
        return_code=AppReturnCode.TIMEOUT,
        return_content="expired before it could run",
    )


def _merge(
    existing: DeviceCommand, immediate: bool, priority: int, expires_at: datetime | None
) -> DeviceCommand:
    changed = []
    if immediate and not existing.immediate:
        existing.immediate = True
        changed.append("immediate")
    if priority > existing.priority:
        existing.priority = priority
        changed.append("priority")
    if (
        existing.expires_at is not None
        and expires_at is not None
        and expires_at > existing.expires_at
    ):
        existing.expires_at = expires_at
        changed.append("expires_at")
    if changed:
        existing.save(update_fields=changed)
    return existing

"""Command rows written under a fencing epoch, so a stale shard owner cannot write over a new one.

Every transition of a `DeviceCommand` in cluster mode is one conditional UPDATE that also
requires ``epoch IS NULL OR epoch <= mine`` and stamps the row with *mine*. A new owner
stamps every open row of its devices on acquisition (`take_over`), so from then on an old
owner that still tries to start or finish one of them changes nothing. Runs on the DB thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agent import persistence
from agent.grammar import CommandSyntaxError, is_control, parse_command
from agent.models import FINAL_STATUSES, CommandStatus, DeviceCommand
from agent.returncodes import EXPIRED, AppReturnCode

_OPEN = (CommandStatus.PENDING, CommandStatus.RUNNING)
UNKNOWN = "agent stopped while it ran; outcome unknown, not retried"


def _mine(epoch: int) -> Q:
    return Q(epoch__isnull=True) | Q(epoch__lte=epoch)


def take_over(device_ids: Iterable[int], epoch: int) -> tuple[int, int]:
    """On acquiring a shard: fence its open rows, then settle what an old owner left running.

    A control command found running may have reached the panel before its owner died:
    running it again could open a door twice, so it gets the final "outcome unknown" (-1005).
    Idempotent commands go back to pending. Returns (failed as unknown, requeued).
    """
    ids = list(device_ids)
    DeviceCommand.objects.filter(device_id__in=ids, status__in=_OPEN).filter(
        Q(epoch__isnull=True) | Q(epoch__lt=epoch)
    ).update(epoch=epoch)
    failed = requeued = 0
    running = DeviceCommand.objects.filter(
        device_id__in=ids, status=CommandStatus.RUNNING, epoch=epoch
    ).values_list("pk", "content")
    for pk, content in list(running):
        try:
            control = is_control(parse_command(content))
        except CommandSyntaxError:
            control = True
        if control:
            failed += record_result(pk, epoch, CommandStatus.FAILED, EXPIRED, UNKNOWN)
        else:
            requeued += requeue(
                pk, epoch, AppReturnCode.DISCONNECTED, "agent stopped while it ran; retrying"
            )
    return failed, requeued


def take_over_many(plan: list[tuple[list[int], int]]) -> tuple[int, int]:
    """`take_over` for several shards at once: (device ids, epoch) each; summed counts."""
    failed = requeued = 0
    for device_ids, epoch in plan:
        one_failed, one_requeued = take_over(device_ids, epoch)
        failed, requeued = failed + one_failed, requeued + one_requeued
    return failed, requeued


def mark_running(command_id: int, epoch: int, *, now: datetime | None = None) -> bool:
    """Pending -> running under *epoch*; False if not pending, expired, or fenced off."""
    moment = now if now is not None else timezone.now()
    started = (
        DeviceCommand.objects.filter(pk=command_id, status=CommandStatus.PENDING)
        .filter(_mine(epoch))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment))
        .update(
            status=CommandStatus.RUNNING,
            trans_time=moment,
            attempts=F("attempts") + 1,
            epoch=epoch,
        )
    )
    if not started:
        persistence.expire_due_commands(moment, command_id=command_id)
    return started == 1


def record_result(
    command_id: int,
    epoch: int,
    status: str,
    return_code: int,
    content: str = "",
    *,
    now: datetime | None = None,
) -> bool:
    """Record the one outcome under *epoch*; True if this call recorded it.

    Changes nothing if the row already has an outcome or a later owner fenced it.
    """
    final = CommandStatus(status)
    if final not in FINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final status")
    moment = now if now is not None else timezone.now()
    updated = (
        DeviceCommand.objects.filter(pk=command_id, status__in=_OPEN)
        .filter(_mine(epoch))
        .update(
            status=final,
            return_code=return_code,
            return_content=content,
            over_time=moment,
            epoch=epoch,
        )
    )
    return updated == 1


def requeue(command_id: int, epoch: int, return_code: int, content: str) -> bool:
    """Running -> pending for another attempt under *epoch*; False if not ours or not running.

    An identical command queued meanwhile wins: this one is cancelled (never two pending).
    """
    rows = DeviceCommand.objects.filter(pk=command_id, status=CommandStatus.RUNNING).filter(
        _mine(epoch)
    )
    try:
        with transaction.atomic():
            return (
                rows.update(
                    status=CommandStatus.PENDING,
                    return_code=return_code,
                    return_content=content,
                    epoch=epoch,
                )
                == 1
            )
    except IntegrityError:
        rows.update(
            status=CommandStatus.CANCELLED,
            return_code=return_code,
            return_content=f"{content}; superseded by an identical pending command",
            over_time=timezone.now(),
            epoch=epoch,
        )
        return False

"""The ports of a DeviceSession bound to the real parts: the DB thread and the backends.

Commands: the `DeviceCommand` rows are the durable truth (legacy `devcmds`). A feeder moves
pending rows into the queue backend; the backend gives ordered, acknowledged delivery (a
taken command stays in flight until acked, so an agent crash loses nothing); the row's
conditional status updates make sure a command starts once and gets exactly one outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from django.db import Error as DatabaseError
from django.utils import timezone

from . import persistence
from .backends.base import (
    BackendUnavailable,
    CommandEnvelope,
    CommandQueue,
    DeviceStatusRecord,
    Heartbeat,
)
from .dbthread import DbThread
from .grammar import CommandSyntaxError, is_control, parse_command
from .metrics import Metrics
from .models import CommandStatus, DeviceCommand
from .ports import Outcome, PendingCommand
from .returncodes import EXPIRED
from .schedule import backoff

T = TypeVar("T")

logger = logging.getLogger("commcenter.commands")
_REFRESH = 5.0  # seconds between unchanged status refreshes in the backend


class BackendGuard:
    """Log a backend outage once when it starts and once when it ends (not per call)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False

    def failed(self, exc: Exception) -> None:
        if not self.down:
            self.down = True
            logger.error("%s backend unavailable: %s", self.name, exc)

    def ok(self) -> None:
        if self.down:
            self.down = False
            logger.info("%s backend reachable again", self.name)


class QueueCommandPort:
    """CommandPort over a CommandQueue backend plus the DeviceCommand rows.

    A queue outage only delays commands: `next` waits and returns None, and an ack that
    fails leaves the entry in flight, to be redelivered and skipped by `start` later.
    """

    def __init__(self, queue: CommandQueue, db: DbThread) -> None:
        self.queue, self.db = queue, db
        self.guard = BackendGuard("command queue")

    async def next(self, device_id: int, timeout: float) -> PendingCommand | None:
        try:
            envelope = await self.queue.get(device_id, timeout)
        except BackendUnavailable as exc:
            self.guard.failed(exc)
            await asyncio.sleep(max(timeout, 0.0))
            return None
        self.guard.ok()
        if envelope is None:
            return None
        return PendingCommand(
            command_id=envelope.command_id,
            device_id=envelope.device_id,
            content=envelope.content,
            immediate=envelope.immediate,
            expires_at=envelope.expires_at,
            token=envelope,
        )

    async def start(self, command: PendingCommand) -> bool:
        try:
            started = await self.db.run(persistence.mark_command_running, command.command_id)
        except DatabaseError as exc:
            # The row is still pending: drop the queue entry so the feeder delivers it again
            # once the database answers (left in flight, it would wait for an agent restart).
            logger.warning("command %s not started, database error: %s", command.command_id, exc)
            await self._ack(command)
            return False
        if not started:  # already done, cancelled or expired: a stale queue entry
            await self._ack(command)
        return started

    async def finish(self, command: PendingCommand, outcome: Outcome) -> None:
        # The outcome must be recorded: through a database outage, retry until it is (the
        # queue entry stays in flight meanwhile, so a crash still cannot lose the command).
        won = await self._through_outages(
            f"outcome of command {command.command_id}",
            persistence.record_command_result,
            command.command_id,
            outcome.status,
            outcome.return_code,
            outcome.content,
        )
        if not won:
            logger.warning("command %s already had an outcome; kept the first", command.command_id)
        await self._ack(command)

    async def retry_later(self, command: PendingCommand) -> None:
        # Back to pending in the DB; the feeder queues it again on its next pass. Through a
        # database outage, retry: left "running", the command would have no outcome until
        # the next agent start.
        await self._through_outages(
            f"release of command {command.command_id}",
            persistence.release_command,
            command.command_id,
            -2,
            "link failed; will retry",
        )
        await self._ack(command)

    async def _through_outages(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """`db.run(fn, *args)`, retried with capped backoff while the database is down."""
        delays = backoff(base=0.5, cap=10.0)
        while True:
            try:
                return await self.db.run(fn, *args)
            except DatabaseError as exc:
                logger.warning("%s not written yet: %s", what, exc)
                await asyncio.sleep(next(delays))

    async def _ack(self, command: PendingCommand) -> None:
        if isinstance(command.token, CommandEnvelope):
            try:
                await self.queue.ack(command.token)
            except BackendUnavailable as exc:
                self.guard.failed(exc)


def recover_commands(device_ids: Iterable[int]) -> tuple[int, int]:
    """At start: commands a dead agent left running. Returns (failed, requeued).

    A control command may have reached the panel before the crash: running it again could
    open a door twice, so it gets a final "outcome unknown" (-1005). Idempotent commands
    (options, table syncs) go back to pending.
    """
    ids = list(device_ids)
    failed = 0
    for row in DeviceCommand.objects.filter(status=CommandStatus.RUNNING, device_id__in=ids):
        try:
            control = is_control(parse_command(row.content))
        except CommandSyntaxError:
            control = True
        if control and persistence.record_command_result(
            row.pk, "failed", EXPIRED, "agent stopped while it ran; outcome unknown, not retried"
        ):
            failed += 1
    return failed, persistence.recover_running_commands(ids)


def envelope_of(row: DeviceCommand) -> CommandEnvelope:
    """The queue envelope of a command row, as the feeder builds it (web side, cluster publish)."""
    return CommandEnvelope(
        command_id=row.pk,
        device_id=row.device_id,
        content=row.content,
        immediate=row.immediate,
        priority=row.priority,
        enqueued_at=row.commit_time.timestamp(),
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
    )


def pending_envelopes(device_ids: Iterable[int]) -> list[CommandEnvelope]:
    """Pending, unexpired commands of *device_ids* as queue envelopes (the feeder's pass)."""
    now = timezone.now()
    persistence.expire_due_commands(now)
    return [
        CommandEnvelope(
            command_id=row.command_id,
            device_id=row.device_id,
            content=row.content,
            immediate=row.immediate,
            priority=row.priority,
            enqueued_at=row.enqueued_at,
            expires_at=row.expires_at,
        )
        for row in persistence.pending_commands(device_ids, now=now)
    ]


class HeartbeatStatusPort:
    """StatusPort: every change to the heartbeat backend; the DB mirror on transitions only.

    The DB row is written when online/offline flips or the return code changes, and at most
    every *throttle* seconds otherwise, never on every poll (STYLE §4.7).
    """

    def __init__(
        self,
        heartbeat: Heartbeat,
        db: DbThread,
        metrics: Metrics,
        *,
        agent_id: str,
        throttle: float,
    ) -> None:
        self.heartbeat, self.db, self.metrics = heartbeat, db, metrics
        self.agent_id, self.throttle = agent_id, throttle
        self.online: dict[int, bool] = {}
        self._last: dict[int, tuple[bool, int, str]] = {}  # last state sent to the backend
        self._sent_at: dict[int, float] = {}
        self._db_state: dict[int, tuple[bool, int]] = {}  # last state written to the DB
        self._written_at: dict[int, float] = {}
        self._activity: dict[int, float] = {}
        self.guard = BackendGuard("heartbeat")
        # The DB status row is a mirror: an outage must not stop the panel being served.
        self.db_guard = BackendGuard("database (device status)")

    async def update(
        self, device_id: int, *, online: bool, return_code: int, op: str, detail: str = ""
    ) -> None:
        now = time.time()
        if online:
            self._activity[device_id] = now
        state = (online, return_code, op)
        if self._last.get(device_id) == state and now - self._sent_at.get(device_id, 0) < _REFRESH:
            return  # nothing new: spare the backend on every one-second poll
        self._last[device_id], self._sent_at[device_id] = state, now
        self.online[device_id] = online
        self.metrics.devices_online.set(sum(self.online.values()))
        activity = self._activity.get(device_id)
        record = DeviceStatusRecord(
            online=online,
            last_activity=activity,
            return_code=return_code,
            op=op,
            updated_at=now,
            detail=detail[:200],
        )
        try:
            await self.heartbeat.set_device_status(self.agent_id, device_id, record)
            self.guard.ok()
        except BackendUnavailable as exc:
            self.guard.failed(exc)
        key = (online, return_code)
        if (
            self._db_state.get(device_id) != key
            or now - self._written_at.get(device_id, 0) >= self.throttle
        ):
            try:
                await self.db.run(
                    persistence.save_device_status,
                    device_id,
                    online=online,
                    return_code=return_code,
                    op=op,
                    detail=detail,
                    last_activity=datetime.fromtimestamp(activity, UTC) if activity else None,
                )
            except DatabaseError as exc:
                self.db_guard.failed(exc)  # written again on the next update
                return
            self.db_guard.ok()
            self._db_state[device_id], self._written_at[device_id] = key, now

    async def save_facts(self, device_id: int, facts: Mapping[str, object]) -> None:
        try:
            await self.db.run(persistence.save_device_facts, device_id, facts)
        except DatabaseError as exc:
            self.db_guard.failed(exc)  # read and saved again on the next connect

    async def disable(self, device_id: int, reason: str) -> None:
        logger.error("device %s disabled: %s", device_id, reason)
        await self.db.run(persistence.disable_device, device_id, reason)

    def forget(self, device_id: int) -> None:
        for table in (self._last, self._sent_at, self._db_state, self._written_at, self._activity):
            table.pop(device_id, None)
        self.online.pop(device_id, None)

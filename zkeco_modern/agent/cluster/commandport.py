"""The sessions' CommandPort in cluster mode: the queue port, with every row write fenced."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import Error as DatabaseError

from agent.adapters import QueueCommandPort
from agent.backends.base import CommandQueue
from agent.dbthread import DbThread
from agent.ports import Outcome, PendingCommand

from . import fencing

logger = logging.getLogger("commcenter.cluster")


class ClusterCommandPort(QueueCommandPort):
    """Start, finish and retry under the epoch of the device's shard lease.

    A command starts only while this agent holds the shard; its outcome is written with the
    epoch it started under, so a takeover in between makes the late write a no-op.
    """

    def __init__(
        self, queue: CommandQueue, db: DbThread, epoch_of: Callable[[int], int | None]
    ) -> None:
        super().__init__(queue, db)
        self._epoch_of = epoch_of
        self._started: dict[int, int] = {}  # command id -> epoch it started under
        self.fenced_writes = 0  # outcomes refused because a newer owner took the row

    async def start(self, command: PendingCommand) -> bool:
        epoch = self._epoch_of(command.device_id)
        if epoch is None:
            return False  # the shard is going away: leave the entry for the next owner
        try:
            started = await self.db.run(fencing.mark_running, command.command_id, epoch)
        except DatabaseError as exc:
            logger.warning("command %s not started, database error: %s", command.command_id, exc)
            await self._ack(command)
            return False
        if started:
            self._started[command.command_id] = epoch
        else:
            await self._ack(command)
        return started

    async def finish(self, command: PendingCommand, outcome: Outcome) -> None:
        epoch = self._started.pop(command.command_id, None)
        if epoch is None:
            epoch = self._epoch_of(command.device_id)
        if epoch is None:
            return  # never started here and no longer ours: the next owner settles it
        won = await self._through_outages(
            f"outcome of command {command.command_id}",
            fencing.record_result,
            command.command_id,
            epoch,
            outcome.status,
            outcome.return_code,
            outcome.content,
        )
        if not won:
            self.fenced_writes += 1
            logger.warning(
                "command %s: outcome not recorded (already had one, or fenced by a newer owner)",
                command.command_id,
            )
        await self._ack(command)

    async def retry_later(self, command: PendingCommand) -> None:
        epoch = self._started.pop(command.command_id, None) or self._epoch_of(command.device_id)
        if epoch is not None:
            # Through a database outage, retry: left "running" the command would have no
            # outcome until the shard changes hands.
            await self._through_outages(
                f"release of command {command.command_id}",
                fencing.requeue,
                command.command_id,
                epoch,
                -2,
                "link failed; will retry",
            )
        await self._ack(command)

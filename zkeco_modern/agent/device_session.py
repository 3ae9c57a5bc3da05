"""DeviceSession: one panel's life, from connect to disconnect, forever.

Each cycle: poll the real-time log, run a scheduled download when its hour slot is due, and
spend the rest of the interval waiting for commands (so an "open door" runs within
milliseconds, not at the next tick). Error families map to policies in one place, `run()`:

- AuthenticationError: the password is wrong; retrying cannot help. Status -14, stop until
  the device row changes (the supervisor then starts a new session).
- TransportError / ProtocolError: reconnect with capped exponential backoff and jitter.
- DeviceError during a poll: counted as an I/O error; after `io_error_threshold` in a row the
  session reconnects (the legacy rule: 20).
Availability is logged once per transition, at INFO, without tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from zkpull import (
    AuthenticationError,
    DeviceError,
    DoorStatus,
    ProtocolError,
    RtEvent,
    RtRecord,
    TransportError,
)

from .deviceconfig import DeviceConfig
from .legacy_driver import LegacyDriverAdapter, return_code_for
from .metrics import Metrics
from .ports import CommandPort, Outcome, PendingCommand, StatusPort
from .returncodes import DISABLED, DISCONNECTED, EXPIRED
from .schedule import DownloadSchedule, backoff, jittered
from .writer import PersistenceWriter, WriteJob

logger = logging.getLogger("commcenter.session")
RT_RING_SIZE = 30  # pending real-time records a panel keeps (fact sheet §4.3)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Per-session knobs, all in seconds unless named otherwise."""

    interval: float = 1.0
    download_hours: frozenset[int] = frozenset({0})
    reconnect_base: float = 1.0
    reconnect_cap: float = 60.0
    io_error_threshold: int = 20
    batch_size: int = 1000
    command_retries: int = 3


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that a library swallowed on its way out.

    Python 3.11's `asyncio.wait_for` returns the result instead of raising when the inner
    call finishes just as the task is cancelled (fixed in 3.12), and redis-py uses it: the
    request to stop would be lost and the loop would run on, so loops check between steps.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class DeviceDisabledError(Exception):
    """The panel does not match its device row (legacy: wrong panel type); it was disabled."""


class DeviceSession:
    """Serves one panel through a LegacyDriverAdapter until cancelled."""

    def __init__(
        self,
        config: DeviceConfig,
        driver: LegacyDriverAdapter,
        *,
        settings: SessionSettings,
        writer: PersistenceWriter,
        commands: CommandPort,
        status: StatusPort,
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.driver = driver
        self.settings = settings
        self._writer, self._commands, self._status, self._metrics = (
            writer,
            commands,
            status,
            metrics,
        )
        self._clock = clock
        self._rng = rng or random.Random()
        self._schedule = DownloadSchedule(settings.download_hours, ZoneInfo(config.timezone))
        self._online: bool | None = None
        self._io_errors = 0
        self._door_state: tuple[object, ...] | None = None
        # Link failures per idempotent command in this run: the queue redelivers a released
        # command without its attempt count, and without a bound one that always breaks the
        # link (say, a read that always times out) would never get its one outcome.
        self._command_failures: dict[int, int] = {}
        self._label = config.alias
        self.cycles = 0
        # A failed poll may have lost a reply the panel had already taken out of its ring:
        # those events are only in its transaction table now, so download at the next cycle.
        self._catch_up = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve, reconnect; returns only when retrying cannot help."""
        delays = backoff(base=self.settings.reconnect_base, cap=self.settings.reconnect_cap)
        try:
            while True:
                raise_if_cancelled()
                try:
                    await self._connect()
                    delays = backoff(
                        base=self.settings.reconnect_base, cap=self.settings.reconnect_cap
                    )
                    await self._serve(forever=True)
                except AuthenticationError as exc:
                    await self._set_offline(
                        exc.code, "CONNECT", "wrong communication password; not retrying"
                    )
                    return
                except DeviceDisabledError:
                    return  # the supervisor drops disabled devices on its next reload
                except (TransportError, ProtocolError, DeviceError) as exc:
                    await self._connection_failed(exc)
                except Exception:  # the one broad catch: keep the panel served whatever the bug
                    logger.exception("unexpected error serving %s", self._label)
                    self._metrics.unexpected_errors_total.labels("session").inc()
                    await self._set_offline(DISCONNECTED, "CONNECT", "internal error")
                await self.driver.close()
                await asyncio.sleep(jittered(next(delays), self._rng))
        finally:
            await self._shutdown()

    async def run_once(self) -> None:
        """`--once`: connect, one cycle, disconnect. Errors are logged, not raised."""
        try:
            await self._connect()
            await self._serve(forever=False)
        except AuthenticationError as exc:
            await self._set_offline(exc.code, "CONNECT", "wrong communication password")
        except DeviceDisabledError:
            pass
        except (TransportError, ProtocolError, DeviceError) as exc:
            await self._connection_failed(exc)
        finally:
            await self._shutdown()

    # -- connect --------------------------------------------------------------------------------
    async def _connect(self) -> None:
        await self._status.update(self.config.id, online=False, return_code=1001, op="CONNECT")
        facts = await self.driver.connect()
        self._metrics.device_connects_total.labels(self._label, "ok").inc()
        self._io_errors = 0
        await self._status.save_facts(self.config.id, facts)
        expected = self.config.acpanel_type
        locks = facts.get("lock_count")
        if expected in (1, 2, 4) and isinstance(locks, int) and locks and locks != expected:
            reason = f"panel reports {locks} doors, device is configured for {expected}"
            await self._status.disable(self.config.id, reason)
            await self._set_offline(DISABLED, "DISABLED", reason)
            raise DeviceDisabledError(reason)
        await self._set_online("CONNECT", 1)
        if self.config.sync_time:
            await self.driver.set_time(self._clock().astimezone(ZoneInfo(self.config.timezone)))
        await self.download(new_only=True)
        self._schedule.mark_done(self._clock())

    async def _connection_failed(self, exc: Exception) -> None:
        code = return_code_for(exc)
        result = type(exc).__name__
        self._metrics.device_connects_total.labels(self._label, result).inc()
        if isinstance(exc, ProtocolError):
            self._metrics.protocol_errors_total.labels(self._label, result).inc()
        self._metrics.reconnects_total.labels(self._label).inc()
        await self._set_offline(code, "CONNECT", str(exc))

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                await self.driver.disconnect()
        if self._online:
            await self._set_offline(DISCONNECTED, "DISCONNECT", "agent stopping")

    # -- cycle ----------------------------------------------------------------------------------
    async def _serve(self, *, forever: bool) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            raise_if_cancelled()
            ring_full = await self._poll()
            # A full ring may have overflowed (the panel drops its oldest real-time records
            # when polled too slowly): the transaction table still has them, fetch them now
            # rather than at the next scheduled hour.
            # Likewise after a failed poll, once the panel answers again (_io_errors back to 0).
            catch_up = self._catch_up and self._io_errors == 0
            if ring_full or catch_up or self._schedule.due(self._clock()):
                await self.download(new_only=True)
            self.cycles += 1
            if not forever:
                command = await self._commands.next(self.config.id, timeout=0)
                if command is not None:
                    await self._execute(command)
                return
            # Lag: how far this cycle ran past the start of the next one. Measured before the
            # schedule skips ahead, so a slow cycle shows (measured after, it would read 0).
            planned = next_tick + self.settings.interval
            now = loop.time()
            self._metrics.cycle_lag_seconds.observe(max(0.0, now - planned))
            next_tick = max(planned, now)
            while (remaining := next_tick - loop.time()) > 0:
                command = await self._commands.next(self.config.id, timeout=remaining)
                raise_if_cancelled()
                if command is None:
                    break
                await self._execute(command)

    async def _poll(self) -> bool:
        """One real-time poll; True when it brought a whole ring's worth of events."""
        started = time.perf_counter()
        records: list[RtRecord] = []
        try:
            # Legacy firmware hands out one event per request and a status record once the
            # ring is empty: keep asking until it says "nothing pending" (ring size bounds it).
            for _ in range(RT_RING_SIZE):
                batch = await self.driver.get_rtlog()
                records.extend(batch)
                if not batch or any(isinstance(r, DoorStatus) for r in batch):
                    break
        except (DeviceError, TransportError) as exc:
            self._io_errors += 1
            self._catch_up = True
            await self._set_offline(return_code_for(exc), "REAL_LOG", str(exc))
            if not self.driver.connected or self._io_errors >= self.settings.io_error_threshold:
                raise
            if not records:
                return False
        finally:
            self._metrics.poll_duration_seconds.labels(self._label).observe(
                time.perf_counter() - started
            )
        self._io_errors = 0
        await self._set_online("REAL_LOG", 1)
        received = self._clock()
        events = [r for r in records if isinstance(r, RtEvent)]
        lines: list[tuple[datetime, object]] = [(received, r) for r in events]
        for record in records:
            if isinstance(record, DoorStatus):
                state = (record.sensors, record.alarms, record.relay)
                if state != self._door_state:
                    self._door_state = state
                    lines.append((received, record))
        if events:
            self._metrics.events_received_total.labels(self._label).inc(len(events))
            await self._writer.submit(WriteJob("events", self.config.id, events, source="rt"))
        if lines:
            self._metrics.rtlog_lines_total.labels(self._label).inc(len(lines))
            await self._writer.submit(WriteJob("realtime", self.config.id, lines))
        return len(events) >= RT_RING_SIZE

    async def download(self, *, new_only: bool) -> int:
        """Pull transactions, store them, then move the panel's pointer: never before."""
        await self._status.update(self.config.id, online=True, return_code=1000, op="DOWN_NEWLOG")
        started = time.perf_counter()
        if new_only:
            self._catch_up = False  # this download reads everything not yet committed
        jobs: list[WriteJob] = []
        batch: list[RtEvent] = []
        async for event in self.driver.iter_transactions(new_only=new_only):
            batch.append(event)
            if len(batch) >= self.settings.batch_size:
                jobs.append(
                    await self._writer.submit(WriteJob("events", self.config.id, batch, "tx"))
                )
                batch = []
        if batch:
            jobs.append(await self._writer.submit(WriteJob("events", self.config.id, batch, "tx")))
        await asyncio.gather(*(job.done for job in jobs))
        total = sum(len(job.records) for job in jobs)
        if new_only:
            await self.driver.commit_new_records()
        self._metrics.download_records_total.labels(self._label).inc(total)
        self._metrics.download_duration_seconds.labels(self._label).observe(
            time.perf_counter() - started
        )
        if total:
            logger.info("%s: downloaded %d transactions", self._label, total)
        await self._set_online("DOWN_NEWLOG", 1)
        return total

    # -- commands -------------------------------------------------------------------------------
    async def _execute(self, command: PendingCommand) -> None:
        if command.expires_at is not None and command.expires_at < time.time():
            # A door opened late is worse than not at all.
            await self._finish(command, Outcome("expired", EXPIRED, "expired before it could run"))
            return
        if not await self._commands.start(command):
            return
        try:
            outcome = await self.driver.execute(command.content, download=self.download)
        except (TransportError, ProtocolError) as exc:
            # A corrupted reply is as inconclusive as a lost one: retry what is harmless to
            # repeat, record the rest as failed (it may or may not have run on the panel).
            failures = self._command_failures.get(command.command_id, 0) + 1
            attempts = max(command.attempts + 1, failures)
            if (
                self.driver.is_idempotent(command.content)
                and attempts < self.settings.command_retries
            ):
                self._command_failures[command.command_id] = failures
                await self._commands.retry_later(command)
            else:
                self._command_failures.pop(command.command_id, None)
                await self._finish(command, Outcome("failed", return_code_for(exc), str(exc)))
            raise
        except Exception as exc:
            # Whatever went wrong, the command already started must get its one outcome;
            # left "running" it would wait for the next agent start.
            await self._finish(command, Outcome("failed", DISCONNECTED, f"internal error: {exc}"))
            raise
        self._command_failures.pop(command.command_id, None)
        await self._finish(command, outcome)

    async def _finish(self, command: PendingCommand, outcome: Outcome) -> None:
        await self._commands.finish(command, outcome)
        verb = " ".join(command.content.split()[:2]) or "?"
        self._metrics.commands_total.labels(self._label, verb, outcome.status).inc()

    # -- status ---------------------------------------------------------------------------------
    async def _set_online(self, op: str, code: int) -> None:
        if self._online is not True:
            logger.info("%s is online (%s)", self._label, self.driver.describe())
            self._metrics.device_up.labels(self._label).set(1)
        self._online = True
        await self._status.update(self.config.id, online=True, return_code=code, op=op)

    async def _set_offline(self, code: int, op: str, reason: str) -> None:
        if self._online is not False:
            # A driver failure is an ERROR (once per transition); our own stop is not.
            level = logging.INFO if op == "DISCONNECT" else logging.ERROR
            logger.log(level, "%s is offline: %s (return code %s)", self._label, reason, code)
            self._metrics.device_up.labels(self._label).set(0)
        self._online = False
        await self._status.update(
            self.config.id, online=False, return_code=code, op=op, detail=reason
        )

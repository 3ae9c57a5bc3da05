"""ModernCommCenter: the agent process. Replaces the legacy DataCommCenter's main loop.

It loads the panels from the database, runs one DeviceSession per enabled panel as its own
asyncio task (a slow or dead panel never delays another), picks up added, edited, disabled
and removed devices without a restart, feeds queued commands to the sessions, beats the
heartbeat, and on stop disconnects every panel and flushes every buffered event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from django.db import Error as DatabaseError
from django.db import transaction

from zkpull import SerialBus

from . import persistence
from .adapters import (
    BackendGuard,
    HeartbeatStatusPort,
    QueueCommandPort,
    pending_envelopes,
    recover_commands,
)
from .backends import Backends
from .backends.base import BackendUnavailable
from .conf import AgentSettings
from .dbthread import DbThread
from .device_session import DeviceSession, SessionSettings, raise_if_cancelled
from .deviceconfig import DeviceConfig, load_device_configs
from .legacy_driver import LegacyDriverAdapter
from .metrics import Metrics, snapshot
from .records import lines_from_records
from .schedule import backoff
from .writer import PersistenceWriter, WriteJob

if TYPE_CHECKING:
    from .cluster.coordinator import Coordinator

logger = logging.getLogger("commcenter")
T = TypeVar("T")
FEED_INTERVAL = 0.5  # seconds between passes moving pending command rows into the queue


@dataclass
class _Running:
    config: DeviceConfig
    session: DeviceSession
    task: asyncio.Task[None]


@dataclass
class RunOptions:
    """What `run_commcenter` passes besides the settings."""

    only: Sequence[str] | None = None
    once: bool = False
    metrics_log_interval: float | None = None  # seconds; None = no periodic counter lines
    agent_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")


class ModernCommCenter:
    """Supervises the sessions of every panel until `stop()`."""

    def __init__(
        self,
        settings: AgentSettings,
        backends: Backends,
        metrics: Metrics,
        options: RunOptions | None = None,
        *,
        session_factory: Callable[..., DeviceSession] = DeviceSession,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.metrics = metrics
        self.options = options or RunOptions()
        self.db = DbThread()
        # A job is one poll's events (often one) or one download batch: bound the queue so the
        # buffered events stay near buffer_limit; beyond it sessions wait (back-pressure).
        self.writer = PersistenceWriter(
            self._store,
            metrics,
            max_jobs=max(100, settings.buffer_limit // 10),
            store_many=self._store_many,
        )
        self.commands = QueueCommandPort(backends.queue, self.db)
        self.status = HeartbeatStatusPort(
            backends.heartbeat,
            self.db,
            metrics,
            agent_id=self.options.agent_id,
            throttle=settings.status_throttle_seconds,
        )
        self.db_guard = BackendGuard("database (command feed)")
        self.sessions: dict[int, _Running] = {}
        self._retiring: dict[int, asyncio.Task[None]] = {}
        self._once_ids: list[
            int
        ] = []  # the devices of a --once run  # cancelled, still disconnecting
        self._session_factory = session_factory
        self._buses: dict[str, SerialBus] = {}
        self._zones: dict[int, str] = {}
        self._stopping = asyncio.Event()
        self.failure: BaseException | None = None  # why the agent stopped itself, if it did
        self._last_cycle = 0.0
        # Cluster mode (agent.cluster.node.ClusterNode.attach): serve only held shards' devices.
        self.cluster: Coordinator | None = None
        self._configs: list[DeviceConfig] = []

    def stop(self) -> None:
        """Ask the agent to finish (signal handlers call this)."""
        self._stopping.set()

    async def run(self) -> None:
        """Serve every panel until `stop()` (or one cycle each with `--once`)."""
        writer_task = asyncio.create_task(self.writer.run(), name="persistence-writer")
        try:
            # Restarted during a database outage, the agent waits for it instead of exiting.
            loaded = await self._until_db(self._load)
            if loaded is None:
                return  # stopped while waiting for the database
            configs = loaded
            served = [c.id for c in configs if c.enabled]
            failed = requeued = recovered = 0
            if self.cluster is not None:
                await self.cluster.check_config()  # recovery runs per shard as it is taken
                served = []
            else:
                counts = await self._until_db(partial(self.db.run, recover_commands, served))
                if counts is None:
                    return
                failed, requeued = counts
            try:
                for device_id in served:
                    recovered += await self.backends.queue.recover(device_id)
            except BackendUnavailable as exc:
                self.commands.guard.failed(exc)  # entries stay in flight; recovered next start
            if failed or requeued or recovered:
                logger.info(
                    "recovered commands: %d failed as unknown, %d requeued, %d redelivered",
                    failed,
                    requeued,
                    recovered,
                )
            if self.options.once:
                await self._run_once(configs)
            else:
                await self._run_forever(configs)
        finally:
            await self.writer.stop()
            await writer_task  # flush everything buffered before leaving
            if self.cluster is not None:  # sessions stopped, events stored: release the shards
                await self.cluster.shutdown()
            await self.backends.close()
            await asyncio.to_thread(self.db.close)
            logger.info("agent stopped; %s", _format(snapshot(self.metrics)))

    # -- modes ------------------------------------------------------------------------------------
    async def _run_once(self, configs: list[DeviceConfig]) -> None:
        self._once_ids = [c.id for c in configs if c.enabled]
        await self._feed()
        sessions = [self._make_session(c) for c in configs if c.enabled]
        await asyncio.gather(*(s.run_once() for s in sessions))
        await self._beat()

    async def _run_forever(self, configs: list[DeviceConfig]) -> None:
        self._reconcile(configs)
        helpers = [
            asyncio.create_task(self._every(FEED_INTERVAL, self._feed), name="command-feeder"),
            asyncio.create_task(
                self._every(self.settings.device_reload_seconds, self._reload), name="device-reload"
            ),
            asyncio.create_task(
                self._every(max(1.0, self.settings.heartbeat_ttl_seconds / 3), self._beat),
                name="heartbeat",
            ),
        ]
        if self.cluster is not None:
            coordination = asyncio.create_task(self.cluster.run(self), name="cluster")
            coordination.add_done_callback(self._cluster_ended)
            helpers.append(coordination)
        if self.options.metrics_log_interval:
            helpers.append(
                asyncio.create_task(
                    self._every(self.options.metrics_log_interval, self._log_metrics),
                    name="metrics-log",
                )
            )
        try:
            await self._stopping.wait()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._stop_sessions(list(self.sessions))

    def _cluster_ended(self, task: asyncio.Task[None]) -> None:
        # Without the coordinator nobody renews the leases: other agents would take the shards
        # while these sessions still hold the panels. Stop everything (systemd restarts us).
        if task.cancelled() or self._stopping.is_set():
            return
        error = task.exception()
        logger.critical(
            "cluster coordination stopped (%r): stopping the agent, no panel may be served "
            "without its shard's lease",
            error,
        )
        self.failure = error or RuntimeError("cluster coordination stopped")
        self._stopping.set()

    # -- devices ----------------------------------------------------------------------------------
    async def _load(self) -> list[DeviceConfig]:
        configs, rejected = await self.db.run(
            load_device_configs, self.settings, only=self.options.only
        )
        for device_id, reason in rejected.items():
            logger.error("device %s skipped: %s", device_id, reason)
        if not configs:
            logger.warning("no panels to serve (add devices in the admin, or check --device)")
        for config in configs:
            self._zones[config.id] = config.timezone
        self._configs = configs
        return configs

    async def _until_db(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """*call* retried with backoff through database errors (logged once); None if stopped."""
        delays = backoff(base=0.5, cap=max(0.5, self.settings.reconnect_seconds))
        while not self._stopping.is_set():
            try:
                result = await call()
            except DatabaseError as exc:
                self.db_guard.failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), next(delays))
                continue
            self.db_guard.ok()
            return result
        return None

    async def _reload(self) -> None:
        try:
            configs = await self._load()
        except DatabaseError as exc:  # keep serving the panels we have; logged once
            self.db_guard.failed(exc)
            return
        self.db_guard.ok()
        self._reconcile(configs)

    def _reconcile(self, configs: list[DeviceConfig]) -> None:
        serves = self.cluster.serves if self.cluster is not None else None
        wanted = {c.id: c for c in configs if c.enabled and (serves is None or serves(c.id))}
        gone = [
            i
            for i, r in self.sessions.items()
            if i not in wanted or wanted[i].fingerprint != r.config.fingerprint
        ]
        for device_id in gone:
            # Cancel now (a task started later would find nothing left to cancel); the old
            # session must be gone before a new one connects to the same panel.
            running = self.sessions.pop(device_id)
            running.task.cancel()
            self._retiring[device_id] = running.task
            running.task.add_done_callback(partial(self._retired, device_id))
            logger.info(
                "device %s changed or removed; restarting its session", running.config.alias
            )
        for device_id, config in wanted.items():
            if device_id not in self.sessions and device_id not in self._retiring:
                session = self._make_session(config)
                task = asyncio.create_task(session.run(), name=f"session-{config.alias}")
                self.sessions[device_id] = _Running(config, session, task)

    def _make_session(self, config: DeviceConfig) -> DeviceSession:
        rs485 = config.is_rs485
        timeout = (
            self.settings.rs485_timeout_seconds if rs485 else self.settings.tcp_timeout_seconds
        )
        driver = LegacyDriverAdapter.for_device(config, timeout=timeout, buses=self._buses)
        settings = SessionSettings(
            interval=self.settings.interval,
            download_hours=self.settings.download_hours,
            reconnect_base=min(1.0, self.settings.reconnect_seconds),
            reconnect_cap=self.settings.reconnect_seconds,
            io_error_threshold=self.settings.io_error_threshold,
            batch_size=self.settings.batch_size,
        )
        return self._session_factory(
            config,
            driver,
            settings=settings,
            writer=self.writer,
            commands=self.commands,
            status=self.status,
            metrics=self.metrics,
        )

    # -- cluster hooks (agent.cluster.coordinator.Host) -------------------------------------------
    def device_ids(self) -> list[int]:
        """Every configured device, served here or not."""
        return [c.id for c in self._configs]

    def refresh(self) -> None:
        """Start and stop sessions after the set of served devices changed."""
        self._reconcile(self._configs)

    async def release_devices(self, device_ids: list[int]) -> None:
        """Stop these sessions (each panel gets its DISCONNECT) and store their events.

        A session that does not finish within a few seconds has its link closed hard: the
        panel must be free before the shard's lease can pass to another agent.
        """
        running = [self.sessions.pop(d) for d in device_ids if d in self.sessions]
        for item in running:
            item.task.cancel()
            self.status.forget(item.config.id)
        tasks = [r.task for r in running] + [
            t for d, t in self._retiring.items() if d in set(device_ids)
        ]
        if not tasks:
            return
        # Self-fencing starts at half the lease: the hard close must come well before its end.
        grace = 4.0 if self.cluster is None else min(4.0, 0.3 * self.cluster.lease_seconds)
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for item in running:
            if item.task in pending:
                await item.session.driver.close()
        if pending:
            await asyncio.wait(pending, timeout=10.0)
        try:  # a barrier: once this empty job is stored, every earlier job of theirs is too
            await self.writer.write(WriteJob("events", device_ids[0], [], source="rt"))
        except Exception:  # the device was removed meanwhile: nothing of it left to store
            logger.debug("flush barrier for device %s failed", device_ids[0], exc_info=True)

    def _retired(self, device_id: int, _task: asyncio.Task[None]) -> None:
        self._retiring.pop(device_id, None)
        self.status.forget(device_id)

    async def _stop_sessions(self, device_ids: list[int]) -> None:
        tasks = []
        for device_id in device_ids:
            running = self.sessions.pop(device_id, None)
            if running is not None:
                running.task.cancel()
                tasks.append(running.task)
                self.status.forget(device_id)
        await asyncio.gather(*tasks, *self._retiring.values(), return_exceptions=True)

    # -- periodic helpers -------------------------------------------------------------------------
    async def _every(self, seconds: float, job: Callable[[], object]) -> None:
        while True:
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:  # a helper must not die: log, count, try again next time
                logger.exception("periodic task %s failed", getattr(job, "__name__", job))
                self.metrics.unexpected_errors_total.labels("supervisor").inc()
            raise_if_cancelled()  # redis-py can swallow the stop request (Python 3.11)
            await asyncio.sleep(seconds)

    async def _feed(self) -> None:
        device_ids = self._once_ids if self.options.once else list(self.sessions)
        if not device_ids:
            return
        try:
            envelopes = await self.db.run(pending_envelopes, device_ids)
        except DatabaseError as exc:  # an outage, logged once: commands wait in their rows
            self.db_guard.failed(exc)
            return
        self.db_guard.ok()
        try:
            for envelope in envelopes:
                await self.backends.queue.put(envelope)
            for device_id in device_ids:
                self.metrics.queue_depth.labels(self._alias(device_id)).set(
                    await self.backends.queue.depth(device_id)
                )
        except BackendUnavailable as exc:  # an outage, logged once: the rows wait in the DB
            self.commands.guard.failed(exc)
            return
        self.commands.guard.ok()

    async def _beat(self) -> None:
        try:
            await self.backends.heartbeat.beat(
                self.options.agent_id, self.settings.heartbeat_ttl_seconds, self._info()
            )
        except BackendUnavailable as exc:  # an outage, logged once, not a bug per beat
            self.status.guard.failed(exc)
            return
        self.status.guard.ok()

    def _info(self) -> dict[str, object]:
        cycles = sum(r.session.cycles for r in self.sessions.values())
        return {
            "last_cycle": time.time(),
            "devices": len(self.sessions),
            "cycles": cycles,
            "pid": os.getpid(),
        }

    async def _log_metrics(self) -> None:
        # Summing every labelled series takes ~0.4 s at 2,000 panels: on the event loop that
        # stalled every panel's cycle once a minute; in a thread the loop keeps running.
        values = await asyncio.to_thread(snapshot, self.metrics)
        logger.info("counters: %s", _format(values))

    def _alias(self, device_id: int) -> str:
        running = self.sessions.get(device_id)
        return running.config.alias if running else str(device_id)

    # -- persistence ------------------------------------------------------------------------------
    async def _store(self, job: WriteJob) -> int:
        return (await self._store_many([job]))[0]

    async def _store_many(self, jobs: list[WriteJob]) -> list[int]:
        results = await self.db.run(self._write_jobs, jobs)
        counts = []
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, persistence.WriteCounts):
                alias = self._alias(job.device_id)
                self.metrics.event_logs.labels(alias, job.source).inc(result.stored)
                self.metrics.events_duplicate_total.labels(alias).inc(result.duplicates)
                if result.quarantined:
                    self.metrics.count_quarantined(
                        alias, result.quarantine_reasons, result.quarantined
                    )
                counts.append(result.stored)
            else:
                counts.append(result)
        return counts

    def _write_jobs(self, jobs: list[WriteJob]) -> list[persistence.WriteCounts | int]:
        """All jobs in one transaction (DB thread): a failure rolls them all back, to be retried."""
        results: list[persistence.WriteCounts | int] = []
        with transaction.atomic():
            for job in jobs:
                zone = self._zones.get(job.device_id)
                if job.kind == "events":
                    results.append(
                        persistence.write_events_detailed(
                            job.device_id,
                            job.records,
                            job.source,
                            tz_name=zone,
                            batch_size=self.settings.batch_size,
                        )
                    )
                else:
                    lines = lines_from_records(job.records)
                    results.append(
                        persistence.write_realtime_lines(job.device_id, lines, tz_name=zone)
                    )
        return results


def _format(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in values.items())

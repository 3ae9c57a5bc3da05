"""The single persistence writer: a bounded queue of write jobs drained by one task.

Producers block when the queue is full (back-pressure instead of loss: every event is still
in the panel's transaction table until its "new records" pointer is committed). A database
error keeps the job and retries with capped backoff, forever, as the legacy service did;
nothing is dropped. The outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import Error as DatabaseError

from .metrics import Metrics
from .schedule import backoff

logger = logging.getLogger("commcenter.persistence")


@dataclass
class WriteJob:
    """Records of one device to store; `done` resolves with the number stored."""

    kind: str  # "events" or "realtime"
    device_id: int
    records: Sequence[Any]
    source: str = ""
    done: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Store = Callable[[WriteJob], Awaitable[int]]
StoreMany = Callable[[list[WriteJob]], Awaitable[list[int]]]  # all jobs in one transaction
# Called with the jobs of each committed transaction, on the event loop: must not block or
# raise (an exception is logged and counted, never retried). The legacy writer nudges on it.
AfterStored = Callable[[Sequence[WriteJob]], None]


class PersistenceWriter:
    """Owns the write queue. `run()` until `stop()`; stop drains what is queued first."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        max_jobs: int = 1000,
        retry_base: float = 0.5,
        retry_cap: float = 10.0,
        store_many: StoreMany | None = None,
        max_batch: int = 200,
    ) -> None:
        self._store = store
        self._store_many = store_many
        self._max_batch = max_batch
        self._metrics = metrics
        self._queue: asyncio.Queue[WriteJob | None] = asyncio.Queue(maxsize=max_jobs)
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._buffered = 0
        self.outage = False
        self.after_stored: list[AfterStored] = []  # hooks run after every commit

    async def submit(self, job: WriteJob) -> WriteJob:
        """Queue *job* (waits while the queue is full); await `job.done` to know it is stored."""
        self._buffered += len(job.records)
        self._metrics.persistence_buffered_events.set(self._buffered)
        try:
            await self._queue.put(job)
        except BaseException:  # cancelled while the queue was full: the job was never queued
            self._buffered -= len(job.records)
            self._metrics.persistence_buffered_events.set(self._buffered)
            raise
        return job

    async def write(self, job: WriteJob) -> int:
        """Queue *job* and wait until it is committed."""
        await self.submit(job)
        return await job.done

    async def stop(self) -> None:
        """Ask `run()` to finish once everything queued so far is stored."""
        await self._queue.put(None)

    async def run(self) -> None:
        while (job := await self._queue.get()) is not None:
            jobs, stop = [job], False
            # Whatever queued up meanwhile goes in the same transaction: one commit for many
            # polls instead of two per poll, which is what a fleet of panels needs.
            while len(jobs) < self._max_batch and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            await self._store_with_retry(jobs)
            self._buffered -= sum(len(j.records) for j in jobs)
            self._metrics.persistence_buffered_events.set(self._buffered)
            if stop:
                return

    async def _store_with_retry(self, jobs: list[WriteJob]) -> None:
        delays = backoff(base=self._retry_base, cap=self._retry_cap)
        while True:
            started = time.perf_counter()
            try:
                stored = await self._store_jobs(jobs)
            except DatabaseError as exc:
                self._metrics.persistence_retries_total.inc()
                if not self.outage:
                    self.outage = True
                    logger.error("database unavailable, buffering events and retrying: %s", exc)  # noqa: TRY400 an outage is expected; no traceback
                await asyncio.sleep(next(delays))
                continue
            except Exception as exc:  # a bug, or a removed device: isolate the job it came from
                if len(jobs) > 1:
                    for job in jobs:
                        await self._store_with_retry([job])
                    return
                logger.exception("persistence job failed for device %s", jobs[0].device_id)
                self._metrics.unexpected_errors_total.labels("persistence").inc()
                if not jobs[0].done.done():
                    jobs[0].done.set_exception(exc)
                return
            if self.outage:
                self.outage = False
                logger.info("database reachable again")
            self._metrics.persistence_batch_seconds.observe(time.perf_counter() - started)
            for job, count in zip(jobs, stored, strict=True):
                if not job.done.done():
                    job.done.set_result(count)
            self._run_after_stored(jobs)
            return

    def _run_after_stored(self, jobs: Sequence[WriteJob]) -> None:
        for hook in self.after_stored:
            try:
                hook(jobs)
            except Exception:  # a hook's bug must not stop or repeat our own writes
                logger.exception("after-stored hook %r failed", hook)
                self._metrics.unexpected_errors_total.labels("persistence").inc()

    async def _store_jobs(self, jobs: list[WriteJob]) -> list[int]:
        if self._store_many is not None and len(jobs) > 1:
            return await self._store_many(jobs)
        return [await self._store(job) for job in jobs]

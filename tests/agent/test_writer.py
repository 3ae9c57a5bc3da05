"""PersistenceWriter: jobs that queued up together share one store call; failures isolate."""

from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError

from agent.metrics import Metrics
from agent.writer import PersistenceWriter, WriteJob


async def test_jobs_queued_together_are_stored_in_one_call() -> None:
    calls: list[int] = []

    async def one(job: WriteJob) -> int:
        calls.append(1)
        return len(job.records)

    async def many(jobs: list[WriteJob]) -> list[int]:
        calls.append(len(jobs))
        return [len(job.records) for job in jobs]

    writer = PersistenceWriter(one, Metrics(), store_many=many)
    jobs = [await writer.submit(WriteJob("events", 1, [object()] * n)) for n in (1, 2, 3)]
    await writer.stop()
    await writer.run()
    assert calls == [3]
    assert [job.done.result() for job in jobs] == [1, 2, 3]


async def test_a_failing_job_is_isolated_and_database_errors_are_retried() -> None:
    outages = iter([OperationalError("down")] * 2)

    async def one(job: WriteJob) -> int:
        if job.device_id == 666:
            raise LookupError("device removed")
        return len(job.records)

    async def many(jobs: list[WriteJob]) -> list[int]:
        if (error := next(outages, None)) is not None:
            raise error
        return [await one(job) for job in jobs]

    metrics = Metrics()
    writer = PersistenceWriter(one, metrics, store_many=many, retry_base=0.01, retry_cap=0.01)
    good = await writer.submit(WriteJob("events", 1, [object()]))
    bad = await writer.submit(WriteJob("events", 666, [object()]))
    later = await writer.submit(WriteJob("events", 2, [object()] * 2))
    await writer.stop()
    async with asyncio.timeout(5):
        await writer.run()
    assert good.done.result() == 1
    assert later.done.result() == 2
    with pytest.raises(LookupError):
        bad.done.result()
    assert metrics.persistence_retries_total._value.get() == 2


async def test_a_submit_cancelled_while_the_queue_is_full_is_not_counted_as_buffered() -> None:
    async def one(job: WriteJob) -> int:
        return len(job.records)

    metrics = Metrics()
    writer = PersistenceWriter(one, metrics, max_jobs=1)
    await writer.submit(WriteJob("events", 1, [object()] * 2))
    waiting = asyncio.create_task(writer.submit(WriteJob("events", 1, [object()] * 5)))
    await asyncio.sleep(0.01)
    assert metrics.persistence_buffered_events._value.get() == 7  # the waiting job counts
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert metrics.persistence_buffered_events._value.get() == 2

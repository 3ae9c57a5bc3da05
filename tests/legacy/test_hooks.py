"""The agent-side wiring: the after-stored hook and the run_commcenter legacy options."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from agent.metrics import Metrics
from agent.writer import PersistenceWriter, WriteJob
from legacy.integration import LegacyHooks
from legacy.shadow import ShadowSessionFactory


async def test_hooks_see_each_committed_job_once_and_only_after_the_commit() -> None:
    failures = 2
    committed: list[int] = []
    seen: list[tuple[int, bool]] = []

    async def store(job: WriteJob) -> int:
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("server closed the connection")
        committed.append(job.device_id)
        return len(job.records)

    writer = PersistenceWriter(store, Metrics(), retry_base=0.01, retry_cap=0.02)
    writer.after_stored.append(
        lambda jobs: seen.extend((j.device_id, j.device_id in committed) for j in jobs)
    )
    task = asyncio.create_task(writer.run())
    job = await writer.submit(WriteJob("events", 7, [object()], "rt"))
    assert await asyncio.wait_for(job.done, 10) == 1
    await writer.stop()
    await task
    assert seen == [(7, True)]  # once, after the commit, not for the two failed attempts


async def test_a_raising_hook_is_logged_and_counted() -> None:
    async def store(job: WriteJob) -> int:
        return len(job.records)

    def broken(jobs: Sequence[WriteJob]) -> None:
        raise RuntimeError("bug")

    metrics = Metrics()
    writer = PersistenceWriter(store, metrics)
    writer.after_stored.append(broken)
    task = asyncio.create_task(writer.run())
    first = await writer.submit(WriteJob("events", 1, [object()], "rt"))
    second = await writer.submit(WriteJob("events", 1, [object()], "rt"))
    assert await asyncio.wait_for(first.done, 10) == 1
    assert await asyncio.wait_for(second.done, 10) == 1
    await writer.stop()
    await task
    assert metrics.unexpected_errors_total.labels("persistence")._value.get() >= 1


def test_legacy_writer_is_refused_in_shadow_mode() -> None:
    with pytest.raises(CommandError, match="cannot run in shadow mode"):
        call_command("run_commcenter", "--shadow", "--legacy-writer", "--once")


def test_shadow_options_build_a_shadow_session_factory() -> None:
    hooks = LegacyHooks.from_options(shadow=True, rtlog=False, legacy_writer=False)
    assert isinstance(hooks.shadow, ShadowSessionFactory)
    assert hooks.shadow.rtlog is False
    assert hooks.writer is None
    assert hooks.center_kwargs() == {"session_factory": hooks.shadow}
    assert LegacyHooks.from_options(shadow=False, legacy_writer=False).center_kwargs() == {}

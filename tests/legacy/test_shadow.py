"""Shadow mode: the agent reads a panel but leaves the pointer, clock and doors to ZKECO."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from agent.device_session import DeviceSession
from agent.legacy_driver import LegacyDriverAdapter
from agent.ports import Outcome
from legacy.shadow import REFUSED, ShadowSessionFactory
from tests.agent.e2e_support import utc_clock, wait_for
from tests.agent.test_session import FAST, FakeStore, Parts, device_config, memory_client, pending
from zkpull.simulator import FakePanel, PanelConfig

pytestmark = pytest.mark.timeout(30)


def _shadow_session(
    parts: Parts, panel: FakePanel, *, rtlog: bool = True, doors: int = 4
) -> DeviceSession:
    factory = ShadowSessionFactory(rtlog=rtlog)
    config = device_config(sync_time=True, acpanel_type=doors)
    return factory(
        config,
        LegacyDriverAdapter(config, memory_client(panel)),
        settings=dataclasses.replace(FAST, interval=0.05),
        writer=parts.writer,
        commands=parts.commands,
        status=parts.status,
        metrics=parts.metrics,
    )


async def test_shadow_download_stores_events_but_leaves_the_pointer() -> None:
    panel = FakePanel(PanelConfig(seed=2, transactions=50), clock=utc_clock)
    store = FakeStore(panel)
    parts = Parts(store)
    writer = asyncio.create_task(parts.writer.run())
    session = _shadow_session(parts, panel)
    async with asyncio.timeout(10):
        await session.run_once()
    await parts.writer.stop()
    await writer
    assert store.stored("tx") == 50
    assert panel.read_pointer == 0  # ZKECO's NewRecord download still gets all 50
    assert panel.pending_pointer is None or panel.read_pointer == 0
    assert session.driver.counters.commits_skipped == 1  # type: ignore[attr-defined]


async def test_shadow_never_sets_the_clock_and_refuses_commands() -> None:
    panel = FakePanel(PanelConfig(model="C3-200"), clock=utc_clock)
    panel.set_time(utc_clock() - timedelta(hours=3))  # wrong by three hours
    parts = Parts()
    writer = asyncio.create_task(parts.writer.run())
    session = _shadow_session(parts, panel, doors=2)
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 1, 5.0, "the first cycle")
    await parts.commands.queue.put(pending(1, "DEVICE SET 1 1 5"))
    await parts.commands.queue.put(pending(2, "DATA QUERY transaction * NewRecord"))
    await wait_for(lambda: len(parts.commands.finished) == 2, 5.0, "two outcomes")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await parts.writer.stop()
    await writer
    assert dict(parts.commands.finished) == {
        1: Outcome("failed", -1002, REFUSED),
        2: Outcome("failed", -1002, REFUSED),
    }
    assert not panel.doors.door_unlocked(1)
    assert abs((utc_clock() - panel.now()) - timedelta(hours=3)) < timedelta(seconds=5)
    assert panel.read_pointer == 0


async def test_shadow_without_rtlog_sends_no_rtlog_request() -> None:
    panel = FakePanel(PanelConfig(seed=3, transactions=0, events_per_second=50), clock=utc_clock)
    parts = Parts()
    writer = asyncio.create_task(parts.writer.run())
    session = _shadow_session(parts, panel, rtlog=False)
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 5, 5.0, "five cycles")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await parts.writer.stop()
    await writer
    assert parts.store.stored("rt") == 0
    assert parts.metrics.events_received_total.labels("p1")._value.get() == 0

"""Regression tests for the bugs the chaos test found (see docs/reliability.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from django.db import OperationalError

from agent.adapters import HeartbeatStatusPort, QueueCommandPort
from agent.backends import MemoryHeartbeat, build_backends
from agent.device_session import SessionSettings
from agent.legacy_driver import LegacyDriverAdapter
from agent.metrics import Metrics
from agent.modern_comm_center import ModernCommCenter
from agent.ports import PendingCommand
from faultproxy import Direction, FaultProxy
from tests.agent.e2e_support import agent_settings, utc_clock, wait_for
from tests.agent.test_session import Parts, device_config, memory_client
from zkpull import ChecksumError, ConnectionClosed, PanelClient
from zkpull.simulator import FakePanel, PanelConfig, Simulator

pytestmark = pytest.mark.timeout(60)


class DownDb:
    """A DbThread stand-in whose database is unreachable."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise OperationalError("connection refused")


async def test_a_link_the_peer_closed_between_requests_is_a_transport_error() -> None:
    """Was RuntimeError("not connected"), which the session treated as an internal bug."""
    sim = Simulator([PanelConfig(seed=1)], clock=utc_clock)
    await sim.start()
    try:
        async with FaultProxy("127.0.0.1", 0, "127.0.0.1", sim.ports[0]) as proxy:
            client = PanelClient.tcp("127.0.0.1", proxy.port, timeout=2.0)
            await client.connect()
            await client.get_rtlog()
            proxy.reset_connections()
            await wait_for(lambda: not client.transport.is_open, 10, "the reset noticed")
            with pytest.raises(ConnectionClosed, match="closed by the peer"):
                await client.get_rtlog()
            assert not client.connected
            await client.connect()  # and the client can reconnect as usual
            await client.get_rtlog()
            await client.close()
    finally:
        await sim.stop()


async def test_a_corrupted_reply_to_a_command_still_records_one_outcome() -> None:
    """A ProtocolError during a command used to leave it "running" until the next agent start."""
    parts = Parts()
    panel = FakePanel(PanelConfig(seed=2), clock=utc_clock)
    session = parts.session(device_config(), memory_client(panel))
    command = PendingCommand(
        command_id=7, device_id=1, content="DEVICE SET 1 1 5", immediate=True, expires_at=None
    )
    await session.driver.connect()
    panel.faults.set("corrupt-next", 1)  # the very next reply: the command's
    with pytest.raises(ChecksumError):
        await session._execute(command)
    await session.driver.close()
    [(command_id, outcome)] = parts.commands.finished
    assert command_id == 7
    assert outcome.status == "failed"
    assert outcome.return_code == -9  # checksum error
    assert parts.commands.retried == []  # a door command is never retried


async def test_device_status_mirror_survives_a_database_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The DB status row is a mirror: an outage used to raise into the session and drop the panel."""
    caplog.set_level(logging.INFO, logger="commcenter.commands")
    db = DownDb()
    port = HeartbeatStatusPort(MemoryHeartbeat(), db, Metrics(), agent_id="t", throttle=0)  # type: ignore[arg-type]
    for code in (1, -2, 1, -2):
        await port.update(1, online=code > 0, return_code=code, op="REAL_LOG")
    await port.save_facts(1, {"sn": "x"})
    assert db.calls == 5
    unavailable = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(unavailable) == 1  # logged once, not per call


async def test_release_for_retry_waits_out_a_database_outage() -> None:
    """retry_later used to raise on a DB error and leave the command "running"."""
    calls: list[str] = []

    class FlakyDb:
        async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(fn.__name__)
            if len(calls) < 3:
                raise OperationalError("connection refused")
            return True

    queue = build_backends("memory").queue
    port = QueueCommandPort(queue, FlakyDb())  # type: ignore[arg-type]
    command = PendingCommand(
        command_id=1, device_id=1, content="DATA COUNT user", immediate=False, expires_at=None
    )
    await asyncio.wait_for(port.retry_later(command), 30)
    assert calls == ["release_command"] * 3


async def test_agent_waits_for_the_database_instead_of_exiting() -> None:
    center = ModernCommCenter(
        agent_settings(reconnect_seconds=0.2), build_backends("memory"), Metrics()
    )
    attempts = 0

    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OperationalError("connection refused")
        return 42

    assert await asyncio.wait_for(center._until_db(flaky), 30) == 42
    assert not center.db_guard.down
    center.db = DownDb()  # type: ignore[assignment]
    await center._reload()  # logged, not raised: the panels already served go on
    assert getattr(center.db_guard, "down")  # noqa: B009 (mypy narrowed it to False above)
    center.stop()  # asked to stop while the database is still down: gives up, returns None
    always_down = DownDb()
    assert await asyncio.wait_for(center._until_db(lambda: always_down.run(None)), 5) is None


async def test_events_of_a_lost_poll_reply_are_fetched_at_once_not_at_the_scheduled_hour() -> None:
    """Found by the soak: a real-time reply lost in transit (timeout, link kept) took its
    events out of the panel's ring; they waited in the transaction table for the next
    reconnect or scheduled download (hours). Now a download follows the next good poll."""
    sim = Simulator([PanelConfig(seed=4)], clock=utc_clock)  # session firmware: link survives
    await sim.start()
    parts = Parts()
    writer = asyncio.create_task(parts.writer.run())
    proxy = FaultProxy("127.0.0.1", 0, "127.0.0.1", sim.ports[0])
    await proxy.start()
    config = device_config(port=proxy.port)
    settings = SessionSettings(interval=0.1, reconnect_base=0.1, reconnect_cap=0.2)
    session = parts.session(
        config, LegacyDriverAdapter.for_device(config, timeout=0.3).client, settings
    )
    task = asyncio.create_task(session.run())
    try:
        await wait_for(lambda: session.cycles >= 3, 10, "three cycles")
        panel = sim.panels[0]
        proxy.stall(1.5, Direction.CLIENT)  # replies held past the timeout, then dropped as stale
        made = [panel.generate_event() for _ in range(3)]
        await wait_for(lambda: panel.pending_rt == 0, 10, "the panel handing the events out")
        keys = {(e.time, e.pin, e.card, e.door, e.event_type) for e in made if e is not None}

        def stored() -> set[tuple[object, ...]]:
            return {
                (r.time, r.pin, r.card, r.door, r.event_type)
                for job in parts.store.jobs
                if job.kind == "events"
                for r in job.records
            }

        await wait_for(lambda: keys <= stored(), 15, "the three events stored")
        assert parts.metrics.reconnects_total.labels("p1")._value.get() == 0  # no reconnect
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await parts.writer.stop()
        await writer
        await proxy.stop()
        await sim.stop()

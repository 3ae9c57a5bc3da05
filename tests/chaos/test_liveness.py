"""Liveness (issue 4, guarantee 3) over real sockets, with a FaultProxy between agent and panel.

- a panel that stops answering (blackhole) is detected within a few intervals, and logged
  once per transition however many reconnects fail;
- reconnects back off exponentially up to the cap (with jitter), not at a fixed rate;
- one blackholed panel does not slow the other panels' cycles;
- a database outage is back-pressure (bounded buffers), not growth, and loses nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.device_session import DeviceSession, SessionSettings
from agent.legacy_driver import LegacyDriverAdapter
from agent.metrics import Metrics
from agent.writer import PersistenceWriter, WriteJob
from faultproxy import FaultProxy
from tests.agent.e2e_support import utc_clock, wait_for
from tests.agent.test_session import FakeStatus, FakeStore, Parts, device_config, stop
from zkpull.simulator import PanelConfig, Simulator

pytestmark = pytest.mark.timeout(60)

SETTINGS = SessionSettings(
    interval=0.1, reconnect_base=0.1, reconnect_cap=0.8, io_error_threshold=3, batch_size=100
)


class TimedStatus(FakeStatus):
    """FakeStatus that also notes when each connection attempt started."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[float] = []
        self.offline_at: float | None = None

    async def update(
        self, device_id: int, *, online: bool, return_code: int, op: str, detail: str = ""
    ) -> None:
        if (op, return_code) == ("CONNECT", 1001):
            self.attempts.append(time.monotonic())
        elif not online and self.offline_at is None:
            self.offline_at = time.monotonic()
        await super().update(  # type: ignore[no-untyped-call]
            device_id, online=online, return_code=return_code, op=op, detail=detail
        )


class Rig:
    """N simulated panels, each behind its own FaultProxy, and a session per panel."""

    def __init__(self, count: int) -> None:
        self.simulator = Simulator(
            [PanelConfig(index=i, seed=3, events_per_second=2.0) for i in range(count)],
            clock=utc_clock,
        )
        self.proxies: list[FaultProxy] = []
        self.parts = Parts()
        self.statuses: list[TimedStatus] = []
        self.sessions: list[DeviceSession] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, settings: SessionSettings = SETTINGS, timeout: float = 0.3) -> None:
        await self.simulator.start()
        self._writer = asyncio.create_task(self.parts.writer.run())
        for i, port in enumerate(self.simulator.ports):
            proxy = FaultProxy("127.0.0.1", 0, "127.0.0.1", port)
            await proxy.start()
            self.proxies.append(proxy)
            config = device_config(id=i + 1, alias=f"p{i + 1}", port=proxy.port)
            status = TimedStatus()
            session = DeviceSession(
                config,
                LegacyDriverAdapter.for_device(config, timeout=timeout),
                settings=settings,
                writer=self.parts.writer,
                commands=self.parts.commands,
                status=status,
                metrics=self.parts.metrics,
                rng=random.Random(i),
            )
            self.statuses.append(status)
            self.sessions.append(session)
            self.tasks.append(asyncio.create_task(session.run()))

    async def close(self) -> None:
        for task in self.tasks:
            if not task.done():
                await stop(task)
        await self.parts.writer.stop()
        await self._writer
        for proxy in self.proxies:
            await proxy.stop()
        await self.simulator.stop()


@pytest.fixture
async def rig(request: Any) -> AsyncIterator[Rig]:
    made = Rig(getattr(request, "param", 1))
    yield made
    await made.close()


async def test_blackholed_panel_is_detected_quickly_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="commcenter.session")
    await rig.start()
    session, status, proxy = rig.sessions[0], rig.statuses[0], rig.proxies[0]
    await wait_for(lambda: session.cycles >= 3, 10, "three good cycles")
    status.offline_at = None
    attempts_before = len(status.attempts)
    blackholed = time.monotonic()
    proxy.set_blackhole(True)
    await wait_for(lambda: status.offline_at is not None, 10, "the panel reported offline")
    offline_at: float | None = getattr(status, "offline_at")  # noqa: B009 set by another task
    assert offline_at is not None
    detected = offline_at - blackholed
    # One reply timeout (0.3 s) plus at most a cycle (0.1 s); 3 s leaves room for a loaded box.
    assert detected < 3.0, f"detected after {detected:.2f} s"
    await wait_for(
        lambda: len(status.attempts) >= attempts_before + 3, 20, "three failed reconnects"
    )
    proxy.set_blackhole(False)
    cycles = session.cycles
    await wait_for(lambda: session.cycles >= cycles + 3, 20, "serving again")
    messages = [r.getMessage() for r in caplog.records if r.name == "commcenter.session"]
    assert sum("is offline" in m for m in messages) == 1, messages
    assert sum("is online" in m for m in messages) == 2, messages  # first connect + recovery


async def test_reconnects_back_off_exponentially_to_the_cap(rig: Rig) -> None:
    await rig.start()
    session, status, proxy = rig.sessions[0], rig.statuses[0], rig.proxies[0]
    await wait_for(lambda: session.cycles >= 2, 10, "two good cycles")
    await proxy.set_down(True)  # refused: every attempt fails at once
    down_at = time.monotonic()
    await asyncio.sleep(4.0)
    attempts = [t for t in status.attempts if t >= down_at]
    await proxy.set_down(False)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # base 0.1, cap 0.8, ±20 % jitter: 0.1, 0.2, 0.4, 0.8, 0.8 ... ≈ 7 attempts in 4 s; a
    # fixed 0.1 s retry would make 40. Lower bounds only: a loaded machine is slower, never faster.
    assert 2 <= len(attempts) <= 12, attempts
    expected = [min(0.1 * 2**i, 0.8) for i in range(len(gaps))]
    for gap, want in zip(gaps, expected, strict=True):
        assert gap >= want * 0.8 - 0.01, (gaps, expected)
    assert all(gap <= 0.8 * 1.2 + 1.5 for gap in gaps), gaps  # capped (generous slack)
    cycles = session.cycles
    await wait_for(lambda: session.cycles > cycles + 2, 20, "serving again")


@pytest.mark.parametrize("rig", [5], indirect=True)
async def test_one_blackholed_panel_does_not_slow_the_others(rig: Rig) -> None:
    await rig.start()
    await wait_for(lambda: all(s.cycles >= 3 for s in rig.sessions), 15, "all panels cycling")

    async def healthy_cycles(seconds: float) -> list[int]:
        before = [s.cycles for s in rig.sessions[1:]]
        await asyncio.sleep(seconds)
        return [s.cycles - b for s, b in zip(rig.sessions[1:], before, strict=True)]

    baseline = await healthy_cycles(3.0)
    rig.proxies[0].set_blackhole(True)
    stuck_before = rig.sessions[0].cycles
    during = await healthy_cycles(3.0)
    rig.proxies[0].set_blackhole(False)
    assert rig.sessions[0].cycles - stuck_before <= 2  # the blackholed one really stalled
    # Each healthy panel keeps (nearly) its pace: the lost panel's timeouts cost it nothing.
    for base, now in zip(baseline, during, strict=True):
        assert now >= 0.5 * base, (baseline, during)
    assert rig.parts.metrics.events_received_total.labels("p2")._value.get() > 0


async def test_database_outage_is_back_pressure_not_growth() -> None:
    store = FakeStore()
    store.failing = True  # the database is down
    metrics = Metrics()
    writer = PersistenceWriter(
        store, metrics, max_jobs=10, max_batch=5, retry_base=0.01, retry_cap=0.05
    )
    running = asyncio.create_task(writer.run())
    submitted = 0

    async def produce() -> None:
        nonlocal submitted
        while True:
            await writer.submit(WriteJob("events", 1, [object()]))
            submitted += 1

    producer = asyncio.create_task(produce())
    await asyncio.sleep(1.0)
    # The writer holds one batch (5) and the queue 10 more: the producer waits, memory does not grow.
    assert submitted <= 10 + 5 + 1, submitted
    assert not producer.done()
    assert store.calls > 3  # retrying all along
    blocked_at = submitted
    await asyncio.sleep(0.5)
    assert submitted == blocked_at
    store.failing = False  # the database is back: everything buffered is stored, in order
    await wait_for(lambda: submitted > blocked_at + 20, 10, "the producer moving again")
    producer.cancel()
    await asyncio.gather(producer, return_exceptions=True)
    await writer.stop()
    await running
    assert len(store.jobs) == submitted or len(store.jobs) == submitted + 1
    assert metrics.persistence_buffered_events._value.get() <= 1

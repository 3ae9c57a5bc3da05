"""DeviceSession against a FakePanel: availability, error policies, the download pointer, commands.

Most tests use fake ports (status, commands) and a PersistenceWriter over a fake store, with
the panel over `MemoryTransport(panel.connection().receive)`; reconnect behaviour runs over
loopback TCP (the simulator's `delay`/`refuse` faults act on real sockets). Tests that need
the database are marked django_db(transaction=True): the agent's ORM work runs on a DbThread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import OperationalError

from agent import persistence
from agent.adapters import HeartbeatStatusPort, QueueCommandPort
from agent.backends import CommandEnvelope, MemoryCommandQueue, MemoryHeartbeat, build_backends
from agent.dbthread import DbThread
from agent.device_session import DeviceSession, SessionSettings
from agent.deviceconfig import DeviceConfig, TransportKind
from agent.legacy_driver import LegacyDriverAdapter
from agent.metrics import Metrics
from agent.models import Device, DeviceEventLog, DeviceStatus
from agent.modern_comm_center import ModernCommCenter
from agent.ports import Outcome, PendingCommand
from agent.writer import PersistenceWriter, WriteJob
from zkpull import PanelClient
from zkpull.simulator import FakePanel, PanelConfig, Simulator
from zkpull.transport.memory import MemoryTransport

from .e2e_support import agent_settings, orm, utc_clock, wait_for
from .factories import make_device

pytestmark = pytest.mark.timeout(30)

FAST = SessionSettings(
    interval=0.05, reconnect_base=0.02, reconnect_cap=0.05, io_error_threshold=20, batch_size=40
)


# -- fakes ----------------------------------------------------------------------------------------
class FakeStatus:
    """StatusPort that records every update."""

    def __init__(self) -> None:
        self.updates: list[tuple[bool, int, str]] = []
        self.facts: list[dict[str, object]] = []
        self.disabled: list[str] = []

    async def update(self, device_id, *, online, return_code, op, detail=""):
        self.updates.append((online, return_code, op))

    async def save_facts(self, device_id, facts):
        self.facts.append(dict(facts))

    async def disable(self, device_id, reason):
        self.disabled.append(reason)

    def failures(self, op: str) -> int:
        """Failed *op* updates (not the "connecting" 1001 that precedes every attempt)."""
        return sum(1 for online, c, o in self.updates if o == op and not online and c != 1001)

    def connects(self) -> int:
        return sum(1 for _, code, op in self.updates if (op, code) == ("CONNECT", 1001))


class FakeCommands:
    """CommandPort over an asyncio.Queue; records what happened to each command."""

    def __init__(self, *commands: PendingCommand) -> None:
        self.queue: asyncio.Queue[PendingCommand] = asyncio.Queue()
        for command in commands:
            self.queue.put_nowait(command)
        self.started: list[int] = []
        self.finished: list[tuple[int, Outcome]] = []
        self.retried: list[int] = []

    async def next(self, device_id, timeout):
        if timeout <= 0:
            return None if self.queue.empty() else self.queue.get_nowait()
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def start(self, command):
        self.started.append(command.command_id)
        return True

    async def finish(self, command, outcome):
        self.finished.append((command.command_id, outcome))

    async def retry_later(self, command):
        self.retried.append(command.command_id)


class FakeStore:
    """The writer's store: fails with OperationalError while `failing`, then records jobs."""

    def __init__(self, panel: FakePanel | None = None, *, fail: int = 0) -> None:
        self.panel = panel
        self.fail = fail
        self.failing = False
        self.calls = 0
        self.jobs: list[WriteJob] = []
        self.pointer_at_call: list[int] = []

    async def __call__(self, job: WriteJob) -> int:
        self.calls += 1
        if self.panel is not None:
            self.pointer_at_call.append(self.panel.read_pointer)
        if self.failing or self.fail > 0:
            self.fail -= 1
            raise OperationalError("could not connect to server: Connection refused")
        self.jobs.append(job)
        return len(job.records)

    def stored(self, source: str) -> int:
        return sum(len(j.records) for j in self.jobs if j.kind == "events" and j.source == source)


def device_config(**fields: Any) -> DeviceConfig:
    values: dict[str, Any] = {
        "id": 1,
        "alias": "p1",
        "sn": "",
        "enabled": True,
        "transport": TransportKind.TCP,
        "host": "127.0.0.1",
        "port": 4370,
        "serial_port": None,
        "baudrate": None,
        "address": 1,
        "password": "",
        "timezone": "UTC",
        "sync_time": False,
        "acpanel_type": 4,
    }
    values.update(fields)
    return DeviceConfig(**values)


def memory_client(panel: FakePanel, password: str = "") -> PanelClient:
    return PanelClient(MemoryTransport(panel.connection().receive, timeout=0.2), password=password)


class Parts:
    """A session's collaborators; `session()` builds one around a client."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.metrics = Metrics()
        self.store = store or FakeStore()
        self.writer = PersistenceWriter(self.store, self.metrics, retry_base=0.02, retry_cap=0.05)
        self.status = FakeStatus()
        self.commands = FakeCommands()

    def session(
        self,
        config: DeviceConfig,
        client: PanelClient,
        settings: SessionSettings = FAST,
        **options: Any,
    ) -> DeviceSession:
        return DeviceSession(
            config,
            LegacyDriverAdapter(config, client),
            settings=settings,
            writer=self.writer,
            commands=self.commands,
            status=self.status,
            metrics=self.metrics,
            **options,
        )


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    made = Parts()
    task = asyncio.create_task(made.writer.run())
    yield made
    await made.writer.stop()
    await task


async def writer_parts(store: FakeStore) -> tuple[Parts, asyncio.Task[None]]:
    made = Parts(store)
    return made, asyncio.create_task(made.writer.run())


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator([PanelConfig(seed=11, transactions=5)], clock=utc_clock)
    await sim.start()
    yield sim
    await sim.stop()


def tcp_session(parts: Parts, sim: Simulator, settings: SessionSettings, timeout: float):
    config = device_config(port=sim.ports[0])
    return parts.session(
        config, LegacyDriverAdapter.for_device(config, timeout=timeout).client, settings
    )


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- availability ---------------------------------------------------------------------------------
async def test_status_transitions_are_logged_once_each(parts, simulator, caplog):
    caplog.set_level(logging.INFO, logger="commcenter.session")
    panel = simulator.panels[0]
    panel.faults.set("refuse", "stop")
    session = tcp_session(parts, simulator, FAST, timeout=0.3)
    task = asyncio.create_task(session.run())
    await wait_for(lambda: parts.status.failures("CONNECT") >= 4, 5.0, "four failed connects")
    panel.faults.clear("refuse")
    await simulator.settle()
    await wait_for(lambda: session.cycles >= 5, 5.0, "five cycles after recovery")
    messages = [r.getMessage() for r in caplog.records if r.name == "commcenter.session"]
    await stop(task)

    assert sum("is offline" in m for m in messages) == 1, messages
    assert sum("is online" in m for m in messages) == 1, messages
    assert messages.index(next(m for m in messages if "is offline" in m)) < messages.index(
        next(m for m in messages if "is online" in m)
    )
    assert parts.metrics.reconnects_total.labels("p1")._value.get() >= 4
    assert parts.metrics.device_up.labels("p1")._value.get() == 0  # stopped: offline again
    assert parts.status.updates[-1] == (False, -1001, "DISCONNECT")


async def test_wrong_password_stops_retrying(parts, caplog):
    caplog.set_level(logging.INFO, logger="commcenter.session")
    panel = FakePanel(PanelConfig(password="1234"), clock=utc_clock)  # noqa: S106 simulated
    session = parts.session(device_config(password="0000"), memory_client(panel, "0000"))  # noqa: S106
    async with asyncio.timeout(2):
        await session.run()  # returns: retrying cannot help
    assert parts.status.connects() == 1
    assert (False, -14, "CONNECT") in parts.status.updates
    offline = [r.getMessage() for r in caplog.records if "is offline" in r.getMessage()]
    assert len(offline) == 1
    assert "wrong communication password" in offline[0]
    assert "1234" not in caplog.text
    assert "0000" not in caplog.text


@pytest.mark.parametrize("threshold", [1, 3])
async def test_io_error_threshold_then_reconnect(parts, simulator, threshold):
    settings = dataclasses.replace(FAST, io_error_threshold=threshold)
    session = tcp_session(parts, simulator, settings, timeout=0.15)
    panel = simulator.panels[0]  # session firmware: a timed-out request leaves the link usable
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 3, 5.0, "three good cycles")
    before = len(parts.status.updates)
    panel.faults.set("delay", 0.3)  # every reply later than the timeout
    await wait_for(lambda: parts.status.connects() >= 2, 5.0, "a reconnect")
    panel.faults.clear("delay")
    await wait_for(lambda: parts.status.updates[-1][0], 5.0, "back online")
    await stop(task)

    during = parts.status.updates[before:]
    first_reconnect = during.index((False, 1001, "CONNECT"))
    poll_errors = [u for u in during[:first_reconnect] if u[2] == "REAL_LOG" and not u[0]]
    assert len(poll_errors) == threshold
    assert all(code == -2 for _, code, _ in poll_errors)  # -2: command has no response
    assert parts.metrics.reconnects_total.labels("p1")._value.get() >= 1


# -- the download pointer -------------------------------------------------------------------------
async def test_pointer_moves_only_after_the_writer_stored_the_events():
    panel = FakePanel(PanelConfig(seed=2, transactions=100), clock=utc_clock)
    store = FakeStore(panel, fail=3)
    made, writer = await writer_parts(store)
    session = made.session(device_config(), memory_client(panel))
    async with asyncio.timeout(5):
        await session.run_once()
    await made.writer.stop()
    await writer

    assert store.stored("tx") == 100
    assert made.metrics.persistence_retries_total._value.get() == 3
    assert store.pointer_at_call[:4] == [0, 0, 0, 0]  # three failures and the success
    assert panel.read_pointer == 100  # committed once stored
    assert panel.pending_pointer is None


async def test_pointer_stays_put_for_as_long_as_the_database_is_down():
    panel = FakePanel(PanelConfig(seed=2, transactions=60), clock=utc_clock)
    store = FakeStore(panel)
    store.failing = True
    made, writer = await writer_parts(store)
    session = made.session(device_config(), memory_client(panel))
    run = asyncio.create_task(session.run_once())
    await wait_for(lambda: store.calls >= 5, 3.0, "several failed writes")
    assert not run.done()
    assert panel.read_pointer == 0
    store.failing = False
    async with asyncio.timeout(3):
        await run
    await made.writer.stop()
    await writer
    assert panel.read_pointer == 60
    assert store.stored("tx") == 60


@pytest.mark.django_db(transaction=True)
async def test_pointer_is_committed_after_the_rows_are_in_the_database():
    device = await orm(make_device, alias="pointer")
    panel = FakePanel(PanelConfig(seed=4, transactions=120), clock=utc_clock)
    db = DbThread()
    failures = iter([OperationalError("server closed the connection unexpectedly")] * 2)

    async def store(job: WriteJob) -> int:
        error = next(failures, None)
        if error is not None:
            raise error
        if job.kind != "events":  # real-time lines are not what this test is about
            return len(job.records)
        counts = await db.run(
            persistence.write_events_detailed, device.pk, job.records, job.source, tz_name="UTC"
        )
        return counts.stored

    made, writer = await writer_parts(FakeStore())
    made.writer._store = store
    session = made.session(device_config(id=device.pk), memory_client(panel))
    rows_at_commit: list[int] = []
    commit = session.driver.commit_new_records

    async def spying_commit() -> None:
        rows_at_commit.append(
            await db.run(lambda: DeviceEventLog.objects.filter(device_id=device.pk).count())
        )
        await commit()

    session.driver.commit_new_records = spying_commit  # type: ignore[method-assign]
    try:
        async with asyncio.timeout(5):
            await session.run_once()
        await made.writer.stop()
        await writer
    finally:
        await asyncio.to_thread(db.close)
    assert rows_at_commit == [120]
    assert panel.read_pointer == 120
    assert made.metrics.persistence_retries_total._value.get() == 2


# -- configuration mismatches ---------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_wrong_panel_type_disables_the_device():
    device = await orm(make_device, alias="two-door", acpanel_type=2)
    panel = FakePanel(PanelConfig(model="C3-400", transactions=10), clock=utc_clock)
    metrics = Metrics()
    db = DbThread()
    status = HeartbeatStatusPort(MemoryHeartbeat(), db, metrics, agent_id="t", throttle=60.0)
    store = FakeStore()
    writer = PersistenceWriter(store, metrics)
    config = device_config(id=device.pk, alias="two-door", acpanel_type=2)
    session = DeviceSession(
        config,
        LegacyDriverAdapter(config, memory_client(panel)),
        settings=FAST,
        writer=writer,
        commands=FakeCommands(),
        status=status,
        metrics=metrics,
    )
    try:
        async with asyncio.timeout(3):
            await session.run()  # returns: the supervisor drops it on its next reload
    finally:
        await asyncio.to_thread(db.close)

    row = await orm(lambda: Device.objects.select_related("status").get(pk=device.pk))
    assert row.enabled is False
    assert row.lock_count == 4  # the facts were still recorded
    assert row.status.last_return_code == -1002
    assert "4 doors" in row.status.detail
    assert store.jobs == []  # nothing downloaded from a panel that is not the configured one
    assert await orm(lambda: DeviceStatus.objects.filter(online=True).count()) == 0


# -- commands and the schedule --------------------------------------------------------------------
def pending(command_id: int, content: str, *, expires_in: float | None = 30.0) -> PendingCommand:
    expires = None if expires_in is None else time.time() + expires_in
    return PendingCommand(command_id, 1, content, immediate=True, expires_at=expires)


async def test_expired_command_is_recorded_and_not_run(parts):
    panel = FakePanel(PanelConfig(), clock=utc_clock)
    parts.commands = FakeCommands(pending(7, "DEVICE SET 1 1 5", expires_in=-1.0))
    session = parts.session(device_config(), memory_client(panel))
    async with asyncio.timeout(3):
        await session.run_once()
    assert parts.commands.finished == [
        (7, Outcome("expired", -1005, "expired before it could run"))
    ]
    assert parts.commands.started == []
    assert not panel.doors.door_unlocked(1)


async def test_option_get_never_stores_the_panels_comm_password(parts):
    panel = FakePanel(PanelConfig(password="s3cr3t"), clock=utc_clock)  # noqa: S106 simulated
    parts.commands = FakeCommands(pending(8, "OPTION GET LockCount,ComPwd"))
    session = parts.session(device_config(password="s3cr3t"), memory_client(panel, "s3cr3t"))  # noqa: S106
    async with asyncio.timeout(3):
        await session.run_once()
    [(command_id, outcome)] = parts.commands.finished
    assert command_id == 8
    assert outcome.status == "done"
    assert "LockCount=4" in outcome.content
    assert "s3cr3t" not in outcome.content
    assert "ComPwd=***" in outcome.content


async def test_commands_run_between_polls_without_waiting_for_a_tick(parts):
    panel = FakePanel(PanelConfig(model="C3-200"), clock=utc_clock)
    slow = dataclasses.replace(FAST, interval=5.0)
    session = parts.session(device_config(acpanel_type=2), memory_client(panel), slow)
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 1, 3.0, "the first cycle")
    started = time.monotonic()
    await parts.commands.queue.put(pending(1, "DEVICE SET 1 1 5"))
    await parts.commands.queue.put(pending(2, "DEVICE SET 4 1 5"))  # a C3-200 has 2 doors
    await parts.commands.queue.put(pending(3, "NO SUCH COMMAND"))
    await wait_for(lambda: len(parts.commands.finished) == 3, 3.0, "three outcomes")
    took = time.monotonic() - started
    await stop(task)

    outcomes = dict(parts.commands.finished)
    assert outcomes[1] == Outcome("done", 0, "")
    assert (outcomes[2].status, outcomes[2].return_code) == ("failed", -11)  # the panel said no
    assert (outcomes[3].status, outcomes[3].return_code) == ("failed", -1006)
    assert took < 1.0  # well inside the 5 s interval
    assert panel.doors.door_unlocked(1)
    assert session.cycles == 1


@pytest.mark.parametrize(
    ("content", "retried"), [("DEVICE SET 1 1 5", False), ("DATA COUNT user", True)]
)
async def test_link_failure_during_a_command(parts, content, retried):
    panel = FakePanel(PanelConfig(), clock=utc_clock)
    session = parts.session(device_config(), memory_client(panel))
    parts.commands = FakeCommands(pending(5, content))
    session._commands = parts.commands
    real_execute = session.driver.execute

    async def execute(text: str, **kwargs: Any) -> Outcome:
        panel.faults.set("drop", 1)  # the request is never answered
        return await real_execute(text, **kwargs)

    session.driver.execute = execute  # type: ignore[method-assign]
    async with asyncio.timeout(3):
        await session.run_once()
    if retried:  # idempotent: back to the queue for another attempt
        assert parts.commands.retried == [5]
        assert parts.commands.finished == []
    else:  # a door command is never repeated blindly
        assert parts.commands.retried == []
        ((command_id, outcome),) = parts.commands.finished
        assert (command_id, outcome.status, outcome.return_code) == (5, "failed", -2)
    assert not panel.doors.door_unlocked(1)
    assert parts.metrics.reconnects_total.labels("p1")._value.get() == 1


async def test_an_idempotent_command_that_always_breaks_the_link_ends_failed(parts):
    # The queue redelivers a released command without its attempt count: the session's own
    # count bounds the retries, so the command still gets its one outcome.
    panel = FakePanel(PanelConfig(), clock=utc_clock)
    session = parts.session(device_config(), memory_client(panel))
    parts.commands = FakeCommands(pending(6, "DATA COUNT user"))
    session._commands = parts.commands
    real_execute = session.driver.execute

    async def execute(text: str, **kwargs: Any) -> Outcome:
        panel.faults.set("drop", 1)
        return await real_execute(text, **kwargs)

    session.driver.execute = execute  # type: ignore[method-assign]
    for _ in range(FAST.command_retries):
        session.driver.client = memory_client(panel)  # a new link, as a reconnect makes
        async with asyncio.timeout(3):
            await session.run_once()
        if (
            parts.commands.retried
            and parts.commands.retried[-1] == 6
            and not parts.commands.finished
        ):
            await parts.commands.queue.put(pending(6, "DATA COUNT user"))  # redelivered
    assert parts.commands.retried == [6] * (FAST.command_retries - 1)
    ((command_id, outcome),) = parts.commands.finished
    assert (command_id, outcome.status) == (6, "failed")


async def test_scheduled_download_runs_once_in_its_local_hour(parts):
    panel = FakePanel(PanelConfig(seed=9, transactions=30), clock=utc_clock)
    now = [datetime(2024, 3, 5, 14, 50, tzinfo=UTC)]  # 23:50 in Tokyo
    settings = dataclasses.replace(FAST, download_hours=frozenset({0}))
    session = parts.session(
        device_config(timezone="Asia/Tokyo"), memory_client(panel), settings, clock=lambda: now[0]
    )
    downloads = parts.metrics.download_duration_seconds.labels("p1")
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 3, 3.0, "three cycles")
    assert downloads._sum.get() > 0
    on_connect = _count(downloads)
    assert on_connect == 1
    now[0] = datetime(2024, 3, 5, 15, 0, 5, tzinfo=UTC)  # 00:00:05 in Tokyo: slot due
    cycles = session.cycles
    await wait_for(lambda: session.cycles >= cycles + 5, 3.0, "five more cycles")
    await stop(task)
    assert _count(downloads) == 2  # once in the slot, not once per cycle


def _count(histogram: Any) -> int:
    return int(
        next(
            s.value
            for metric in histogram.collect()
            for s in metric.samples
            if s.name.endswith("_count")
        )
    )


# -- the command port -----------------------------------------------------------------------------
class BrokenDb:
    async def run(self, fn, *args, **kwargs):
        raise OperationalError("the database system is shutting down")


async def test_a_database_error_when_starting_a_command_leaves_it_to_be_redelivered():
    queue = MemoryCommandQueue()
    envelope = CommandEnvelope(command_id=9, device_id=1, content="DEVICE SET 1 1 5")
    assert await queue.put(envelope)
    port = QueueCommandPort(queue, BrokenDb())  # type: ignore[arg-type]
    command = await port.next(1, timeout=0)
    assert command is not None
    assert await port.start(command) is False  # not run; the row stays pending
    assert await queue.in_flight(1) == []
    assert await queue.put(envelope)  # the feeder's next pass delivers it again


# -- cancellation ---------------------------------------------------------------------------------
class SwallowingCommands(FakeCommands):
    """A queue call that eats the cancellation, as Python 3.11's asyncio.wait_for (used by
    redis-py) does when the inner call finishes just as the task is cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.swallowed = 0

    async def next(self, device_id, timeout):
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            self.swallowed += 1


async def test_a_swallowed_cancellation_still_stops_the_session(parts):
    panel = FakePanel(PanelConfig(), clock=utc_clock)
    parts.commands = SwallowingCommands()
    session = parts.session(device_config(), memory_client(panel))
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 2, 3.0, "two cycles")
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the session ran on after its cancellation was swallowed"
    assert task.cancelled()
    assert parts.commands.swallowed == 1
    assert parts.status.updates[-1] == (False, -1001, "DISCONNECT")


async def test_a_swallowed_cancellation_still_stops_a_periodic_helper():
    center = ModernCommCenter(agent_settings(), build_backends("memory"), Metrics())
    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)

    task = asyncio.create_task(center._every(0.01, job))
    await wait_for(lambda: calls >= 2, 2.0, "two runs")
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    center.db.close()
    assert done, "the helper ran on after its cancellation was swallowed"
    assert task.cancelled()


async def test_a_full_ring_triggers_a_catch_up_download(parts):
    panel = FakePanel(PanelConfig(seed=5, transactions=0), clock=utc_clock)
    session = parts.session(device_config(), memory_client(panel))
    downloads = parts.metrics.download_duration_seconds.labels("p1")
    task = asyncio.create_task(session.run())
    await wait_for(lambda: session.cycles >= 2, 3.0, "two cycles")
    assert _count(downloads) == 1  # the one after connecting
    for n in range(40):  # more than the 30-record ring holds: the oldest 10 drop off it
        panel.emit(0, door=1, pin=100 + n, card=5000 + n, verify=4, inout=0)
    cycles = session.cycles
    await wait_for(lambda: session.cycles >= cycles + 3, 3.0, "three more cycles")
    await stop(task)
    assert _count(downloads) == 2  # the catch-up, without waiting for a scheduled hour
    pins = {e.pin for job in parts.store.jobs if job.kind == "events" for e in job.records}
    assert {100 + n for n in range(40)} <= pins


class DyingCoordinator:
    """A cluster coordinator whose loops fail: nobody renews the shard leases any more."""

    lease_seconds = 15.0

    async def check_config(self) -> None:
        return None

    async def run(self, host: object) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("coordination broke")

    async def shutdown(self) -> None:
        return None

    def serves(self, device_id: int) -> bool:
        return True


@pytest.mark.django_db(transaction=True)
async def test_the_agent_stops_itself_when_cluster_coordination_dies():
    # Sessions must not outlive the leases: other agents would take the panels meanwhile.
    center = ModernCommCenter(agent_settings(), build_backends("memory"), Metrics())
    center.cluster = DyingCoordinator()  # type: ignore[assignment]
    async with asyncio.timeout(10):
        await center.run()  # returns without stop(): the agent stopped itself
    assert isinstance(center.failure, RuntimeError)
    assert center.sessions == {}

"""Hypothesis state machine: the command path from `DeviceCommand` row to panel and back.

Real parts throughout: `commands.enqueue` writes the rows, the feeder's `pending_envelopes`
fills the queue backend (MemoryCommandQueue, or RedisQueue on the real Redis), a
DeviceSession takes commands through `QueueCommandPort` (persistence `mark_command_running`
/ `record_command_result` / `release_command`) and runs them on a FakePanel through the
LegacyDriverAdapter. Time is virtual: the clocks of persistence, the feeder and the session
are one test clock, so expiry is exercised without sleeping.

Rules: enqueue (control and other commands, immediate or queued, with or without expiry,
and invalid text), feed, an agent cycle that delivers and runs one command, a delivery that
is claimed and then abandoned, link faults (a dropped link, a late reply), the agent killed
before or after the panel acted on a request, the restart with `recover_commands` and the
backend's `recover`, time passing.

Invariants: a command gets at most one recorded outcome and a final status never changes;
a control command is executed by the panel at most once and never after its expiry; after a
final restart and drain every command has exactly one outcome, and every queued command that
cannot expire is done (a crash lost none).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone as django_timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from agent import adapters, commands, conf, device_session, persistence
from agent.adapters import QueueCommandPort, pending_envelopes, recover_commands
from agent.backends import CommandQueue, MemoryCommandQueue, RedisQueue
from agent.dbthread import DbThread
from agent.device_session import DeviceSession, SessionSettings
from agent.deviceconfig import DeviceConfig, TransportKind
from agent.legacy_driver import LegacyDriverAdapter
from agent.metrics import Metrics
from agent.models import CommandStatus, Device, DeviceCommand, DeviceEventLog
from agent.writer import PersistenceWriter, WriteJob
from zkpull import PanelClient
from zkpull.simulator import FakePanel, PanelConfig
from zkpull.transport.memory import MemoryTransport

from .backends.support import REDIS_URL, redis_client_or_skip
from .e2e_support import utc_clock

pytestmark = [pytest.mark.timeout(150), pytest.mark.django_db(transaction=True)]

SETTINGS = SessionSettings(interval=0.01, reconnect_base=0.01, reconnect_cap=0.02)
AGENT = conf.AgentSettings()  # control and immediate commands expire after 50 s
FINAL = {CommandStatus.DONE, CommandStatus.FAILED, CommandStatus.EXPIRED, CommandStatus.CANCELLED}


class AgentKilled(BaseException):  # the event it stands for
    """Raised inside the agent's I/O to stop it dead, as SIGKILL would.

    A BaseException, like KeyboardInterrupt: the agent's `except Exception` safety nets must
    not get to record anything on the way out (SIGKILL gives them no chance either).
    """


class VirtualClock:
    """One clock for persistence (timezone.now), the feeder and the session (time.time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


class _TimezoneShim:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    def __getattr__(self, name: str) -> Any:
        return getattr(django_timezone, name)


class _TimeShim:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.time()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class PanelLink(MemoryTransport):
    """Memory transport to a FakePanel; a fresh panel connection per link; planned faults."""

    def __init__(self, panel: FakePanel) -> None:
        super().__init__(self._respond, timeout=0.05)  # answers are immediate
        self.panel = panel
        self.connection = panel.connection()
        self.requests = 0
        self.plan: list[tuple[int, str]] = []
        self.late = b""
        self.withhold = 0
        self.at_command = ""  # an action for the next request that carries a queued command

    async def open(self) -> None:
        if not self.is_open:
            self.connection = self.panel.connection()
            self.late = b""
        await super().open()

    def schedule(self, after: int, action: str) -> None:
        self.plan.append((self.requests + after, action))

    def _respond(self, data: bytes) -> bytes:
        self.requests += 1
        due = [action for at, action in self.plan if at <= self.requests]
        self.plan = [(at, action) for at, action in self.plan if at > self.requests]
        if len(data) > 2 and data[2] in _COMMAND_REQUESTS and self.at_command:
            due.append(self.at_command)  # aimed at the request that runs a queued command
            self.at_command = ""
        if "kill-before" in due:
            raise AgentKilled  # the request never reached the panel
        if "drop" in due:
            self.panel.faults.set("drop", 1)
        if "late" in due:
            self.withhold += 1
        reply = self.connection.receive(data)
        if "kill-after" in due:
            raise AgentKilled  # the panel acted; its answer is lost with the agent
        if self.withhold:
            self.withhold -= 1
            self.late += reply
            return b""
        reply, self.late = self.late + reply, b""
        return reply


# CONTROL_DEVICE, SETPARAM and GETDATACOUNT: the requests of the rules' commands (GETPARAM
# is left out: every connect sends one).
_COMMAND_REQUESTS = frozenset({0x05, 0x03, 0x0A})


class NullStatus:
    async def update(self, device_id: int, **_: object) -> None:
        return None

    async def save_facts(self, device_id: int, facts: object) -> None:
        return None

    async def disable(self, device_id: int, reason: str) -> None:
        raise AssertionError(f"device disabled: {reason}")


@dataclass
class Cmd:
    """What the test knows about one row."""

    kind: str  # control | other | invalid
    content: str
    expires_at: float | None  # epoch seconds
    output: tuple[int, int, int] | None = None  # (number, kind, seconds) a control drives


class Journal:
    """Counts calls that must happen at most once per command (wrapping persistence)."""

    def __init__(self) -> None:
        self.outcomes: Counter[int] = Counter()
        self.starts: Counter[int] = Counter()


class QueueMachine(RuleBasedStateMachine):
    backend = "memory"
    clock: VirtualClock
    journal: Journal

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = DbThread()
        self.cmds: dict[int, Cmd] = {}
        self.finals: dict[int, str] = {}
        self.executed: Counter[tuple[int, int, int]] = Counter()
        self.late_executions: list[str] = []
        self.serial = 0
        self.prefix = f"test:{uuid.uuid4().hex}:commcenter:"
        self.queue: CommandQueue | None = None
        self.writer_task: asyncio.Task[None] | None = None
        self.device_id = 0  # set by the initialize rule
        self.clock.offset = 0.0
        self.journal.outcomes.clear()
        self.journal.starts.clear()

    @initialize()
    def start(self) -> None:
        self.panel = FakePanel(PanelConfig(model="C3-400", seed=self.serial), clock=utc_clock)
        control = self.panel.control

        def watched(operation: int, p1: int, p2: int, p3: int) -> bool:
            if operation == 1:  # OUTPUT: the only control the rules send
                self.executed[(p1, p2, p3)] += 1
                for cmd in self.cmds.values():
                    expired = cmd.expires_at is not None and self.clock.time() >= cmd.expires_at
                    if cmd.output == (p1, p2, p3) and expired:
                        self.late_executions.append(cmd.content)
            return control(operation, p1, p2, p3)

        self.panel.control = watched  # type: ignore[method-assign]
        alias = f"q-{uuid.uuid4().hex[:12]}"
        self.device_id = self._run(
            self.db.run(lambda: Device.objects.create(alias=alias, ipaddress="127.0.0.1").pk)
        )
        self._start_agent(recover=False)

    # -- the agent's life -------------------------------------------------------------------------
    def _start_agent(self, *, recover: bool = True) -> None:
        if self.backend == "memory":
            self.queue = MemoryCommandQueue()  # in-process: a restart starts empty
        else:
            self.queue = RedisQueue.from_url(REDIS_URL, prefix=self.prefix)  # survives
        if recover:  # what ModernCommCenter.run does first
            self._run(self.db.run(recover_commands, [self.device_id]))
            self._run(self.queue.recover(self.device_id))
        self.metrics = Metrics()

        async def no_store(job: WriteJob) -> int:
            return len(job.records)

        self.writer = PersistenceWriter(no_store, self.metrics)
        self.writer_task = self.loop.create_task(self.writer.run())
        self.link = PanelLink(self.panel)
        config = DeviceConfig(
            id=self.device_id,
            alias="q",
            sn="",
            enabled=True,
            transport=TransportKind.TCP,
            host="127.0.0.1",
            port=4370,
            serial_port=None,
            baudrate=None,
            address=1,
            password="",
            timezone="UTC",
            sync_time=False,
            acpanel_type=4,
        )
        self.port = QueueCommandPort(self.queue, self.db)
        self.session = DeviceSession(
            config,
            LegacyDriverAdapter(config, PanelClient(self.link)),
            settings=SETTINGS,
            writer=self.writer,
            commands=self.port,
            status=NullStatus(),
            metrics=self.metrics,
        )

    def _kill_agent(self) -> None:
        """SIGKILL, then a new process: nothing is acked, recorded or flushed on the way out."""
        assert self.writer_task is not None
        assert self.queue is not None
        self.writer_task.cancel()
        self._run(asyncio.gather(self.writer_task, return_exceptions=True))
        self._run(self.session.driver.close())
        self._run(self.queue.close())
        self._start_agent()

    def _run(self, awaitable: Any) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(30):
                return await awaitable

        return self.loop.run_until_complete(bounded())

    # -- rules ------------------------------------------------------------------------------------
    @rule(
        kind=st.sampled_from(["control", "control", "other", "other", "invalid", "aux"]),
        immediate=st.booleans(),
        expires_in=st.sampled_from([None, None, 5, 30, 120]),
    )
    def enqueue(self, kind: str, immediate: bool, expires_in: int | None) -> None:
        self._enqueue(kind, immediate, expires_in)

    def _enqueue(self, kind: str, immediate: bool, expires_in: int | None) -> None:
        self.serial += 1
        n = self.serial
        output = None
        if kind == "control":  # a distinct (door, seconds) per command: executions are countable
            output = (1 + n // 250 % 4, 1, 1 + n % 250)
            content = f"DEVICE SET {output[0]} 1 {output[2]}"
        elif kind == "aux":  # aux output 9: a C3-400 has 4, the panel refuses it
            output = (9, 2, 1 + n % 250)
            content = f"DEVICE SET 9 2 {output[2]}"
            kind = "control"
        elif kind == "other":
            texts = ("OPTION GET LockCount", "DATA COUNT user", f"SET OPTION Door1Drivertime={n}")
            content = texts[n % 3]
        else:
            content = "DEVICE SET 9 9 9"
        now = self.clock.now()
        expiry = timedelta(seconds=expires_in) if expires_in is not None else None
        row = self._run(
            self.db.run(
                commands.enqueue,
                self.device_id,
                content,
                immediate,
                0,
                expiry,
                now=now,
                settings=AGENT,
            )
        )
        expires_at = row.expires_at.timestamp() if row.expires_at else None
        known = self.cmds.get(row.pk)
        if known is not None:  # an identical pending command: the row was merged
            known.expires_at = expires_at
            return
        self.cmds[row.pk] = Cmd(kind, content, expires_at, output)

    @rule(kind=st.sampled_from(["control", "other"]), immediate=st.booleans())
    def enqueue_without_expiry(self, kind: str, immediate: bool) -> None:
        self._enqueue(kind, immediate, None)

    @rule()
    def feed(self) -> None:
        self._feed()

    def _feed(self) -> None:
        assert self.queue is not None
        envelopes = self._run(self.db.run(pending_envelopes, [self.device_id]))
        for envelope in envelopes:
            self._run(self.queue.put(envelope))

    @rule(feed_first=st.booleans())
    def agent_cycle(self, feed_first: bool) -> None:
        """One cycle: connect, download, poll, then deliver and run one command."""
        if feed_first:  # the feeder runs beside the sessions, every few seconds
            self._feed()
        try:
            self._run(self.session.run_once())
        except AgentKilled:
            self._kill_agent()

    @rule()
    def claimed_then_abandoned(self) -> None:
        """The agent takes a command and dies before starting it."""
        command = self._run(self.port.next(self.device_id, 0))
        if command is not None:
            self._kill_agent()

    @rule(
        action=st.sampled_from(["drop", "late", "kill-before", "kill-after"]),
        after=st.integers(1, 8),
    )
    def link_fault(self, action: str, after: int) -> None:
        self.link.schedule(after, action)

    @rule(action=st.sampled_from(["drop", "late", "kill-before", "kill-after"]))
    def fault_when_a_command_runs(self, action: str) -> None:
        self.link.at_command = action

    @rule(action=st.sampled_from(["kill-before", "kill-after", "late"]))
    def cycle_interrupted_while_a_command_runs(self, action: str) -> None:
        """The riskiest moment: the agent dies (or the reply is lost) as a command runs."""
        self.link.at_command = action
        self.agent_cycle(feed_first=True)

    @rule()
    def agent_killed_between_cycles(self) -> None:
        self._kill_agent()

    @rule(seconds=st.sampled_from([1, 10, 40, 70, 200]))
    def time_passes(self, seconds: int) -> None:
        self.clock.offset += seconds

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def one_outcome_each_and_controls_once(self) -> None:
        twice = [pk for pk, n in self.journal.outcomes.items() if n > 1]
        assert not twice, f"commands with two recorded outcomes: {twice}"
        for pk, cmd in self.cmds.items():
            if cmd.kind == "control":
                assert self.journal.starts[pk] <= 1, f"control {cmd.content} started twice"
                assert cmd.output is not None
                assert self.executed[cmd.output] <= 1, f"{cmd.content} executed twice"
        assert not self.late_executions, f"executed after expiry: {self.late_executions}"
        for pk, status in self._statuses().items():
            if pk in self.finals:
                assert status == self.finals[pk], f"command {pk}: {self.finals[pk]} -> {status}"
            elif status in FINAL:
                self.finals[pk] = status

    def teardown(self) -> None:
        try:
            if self.device_id and self.queue is not None:
                self._drain()
        finally:
            if self.writer_task is not None and not self.writer_task.done():
                self.writer_task.cancel()
                self.loop.run_until_complete(
                    asyncio.gather(self.writer_task, return_exceptions=True)
                )
            if self.queue is not None:
                self.loop.run_until_complete(self.queue.close())
            if self.backend == "redis":
                self.loop.run_until_complete(self._delete_keys())
            if self.device_id:
                self.loop.run_until_complete(self.db.run(self._delete_rows))
            self.db.close()
            self.loop.close()

    def _drain(self) -> None:
        """Faults end, the agent restarts, and runs until nothing is pending."""
        self.link.plan.clear()
        self._kill_agent()
        for _ in range(3 * len(self.cmds) + 3):
            self._feed()
            self._run(self.session.run_once())
            if not self._pending_anywhere():
                break
        self.one_outcome_each_and_controls_once()
        statuses = self._statuses()
        open_ = {pk: s for pk, s in statuses.items() if s not in FINAL}
        assert not open_, f"commands without an outcome: {open_}"
        for pk, cmd in self.cmds.items():
            assert self.journal.outcomes[pk] <= 1
            if cmd.kind == "other" and cmd.expires_at is None:
                # Queued, never expiring, idempotent: done (or cancelled for a twin that ran).
                assert statuses[pk] in (CommandStatus.DONE, CommandStatus.CANCELLED), (
                    f"{cmd.content}: {statuses[pk]}"
                )
            if cmd.kind == "invalid":
                assert statuses[pk] == CommandStatus.FAILED

    # -- helpers ----------------------------------------------------------------------------------
    def _statuses(self) -> dict[int, str]:
        def read() -> dict[int, str]:
            rows = DeviceCommand.objects.filter(device_id=self.device_id)
            return dict(rows.values_list("pk", "status"))

        return dict(self._run(self.db.run(read)))

    def _pending_anywhere(self) -> bool:
        assert self.queue is not None
        statuses = self._statuses()
        depth = self._run(self.queue.depth(self.device_id))
        return depth > 0 or any(s == CommandStatus.PENDING for s in statuses.values())

    async def _delete_keys(self) -> None:
        client = await redis_client_or_skip()
        try:
            keys = [key async for key in client.scan_iter(match=self.prefix + "*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    def _delete_rows(self) -> None:
        DeviceCommand.objects.filter(device_id=self.device_id).delete()
        DeviceEventLog.objects.filter(device_id=self.device_id).delete()
        Device.objects.filter(pk=self.device_id).delete()


class RedisQueueMachine(QueueMachine):
    backend = "redis"


@pytest.fixture
def virtual_time(monkeypatch: pytest.MonkeyPatch) -> tuple[VirtualClock, Journal]:
    """Point every clock of the command path at one virtual clock; journal the outcomes."""
    clock = VirtualClock()
    journal = Journal()
    monkeypatch.setattr(persistence, "timezone", _TimezoneShim(clock))
    monkeypatch.setattr(adapters, "timezone", _TimezoneShim(clock))
    monkeypatch.setattr(device_session, "time", _TimeShim(clock))
    record, start = persistence.record_command_result, persistence.mark_command_running

    def recording(command_id: int, *args: Any, **kwargs: Any) -> bool:
        won = record(command_id, *args, **kwargs)
        journal.outcomes[command_id] += int(won)
        return won

    def starting(command_id: int, *args: Any, **kwargs: Any) -> bool:
        won = start(command_id, *args, **kwargs)
        journal.starts[command_id] += int(won)
        return won

    monkeypatch.setattr(persistence, "record_command_result", recording)
    monkeypatch.setattr(persistence, "mark_command_running", starting)
    return clock, journal


STATEFUL = settings(
    max_examples=25,
    stateful_step_count=24,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# A factory function, not the class: see the note in test_session_statemachine.py
# (CPython 3.11's AST recursion-depth bug, python/cpython#106905).
def new_queue_machine() -> QueueMachine:
    return QueueMachine()


def new_redis_queue_machine() -> RedisQueueMachine:
    return RedisQueueMachine()


def test_command_queue_state_machine_memory(virtual_time: tuple[VirtualClock, Journal]) -> None:
    QueueMachine.clock, QueueMachine.journal = virtual_time
    run_state_machine_as_test(new_queue_machine, settings=STATEFUL)


@pytest.mark.redis
def test_command_queue_state_machine_redis(virtual_time: tuple[VirtualClock, Journal]) -> None:
    async def check() -> None:
        client = await redis_client_or_skip()  # skips locally, fails under CI
        await client.aclose()

    asyncio.run(check())
    RedisQueueMachine.clock, RedisQueueMachine.journal = virtual_time
    run_state_machine_as_test(new_redis_queue_machine, settings=STATEFUL)

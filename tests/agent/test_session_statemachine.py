"""Hypothesis state machine: a DeviceSession against a simulated panel, through faults.

The panel is a FakePanel over the memory transport (a fresh panel connection per link, as a
TCP reconnect would give); events go through the agent's real write path (PersistenceWriter
-> persistence.write_events_detailed on a DbThread) into the test database. Rules: the panel
generates events, an agent cycle runs (`run_once`: connect, download new records, commit the
pointer, poll the real-time log), faults hit the next requests (a dropped link, a corrupted
CRC, garbage, a truncated reply, a reply that comes too late, a panel reboot that loses its
real-time ring), the database refuses writes for a while, and the agent is killed (its
buffered events lost, mid-cycle or between cycles) and restarted from what was persisted.

Invariants: after every step the panel's read pointer never passes an event the database
does not hold, and no event is stored twice; after a final clean sync the database holds
exactly the events the panel stored, each once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC
from typing import Any

import pytest
from django.db import OperationalError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agent import persistence
from agent.dbthread import DbThread
from agent.device_session import DeviceSession, SessionSettings
from agent.deviceconfig import DeviceConfig, TransportKind
from agent.groundtruth import stored_events
from agent.legacy_driver import LegacyDriverAdapter
from agent.metrics import Metrics
from agent.models import Device, DeviceEventLog
from agent.writer import PersistenceWriter, WriteJob
from zkpull import PanelClient
from zkpull.protocol.timecodec import decode_time
from zkpull.simulator import FakePanel, PanelConfig
from zkpull.simulator.model import Firmware
from zkpull.transport.memory import MemoryTransport

from .e2e_support import utc_clock

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]

SETTINGS = SessionSettings(
    interval=0.01, reconnect_base=0.01, reconnect_cap=0.02, io_error_threshold=3, batch_size=7
)
PANEL_FAULTS = ("drop", "corrupt-next", "garbage", "truncate")
Key = tuple[Any, ...]


class AgentKilled(BaseException):  # the event it stands for
    """Raised inside the agent's I/O to stop it dead, as SIGKILL would.

    A BaseException, like KeyboardInterrupt: the agent's `except Exception` safety nets must
    not get to record anything on the way out (SIGKILL gives them no chance either).
    """


class PanelLink(MemoryTransport):
    """Memory transport to a FakePanel that can misbehave after the n-th request from now.

    `late`: the panel answers, but after the client's timeout (the reply turns up in front of
    the next one, as a late TCP segment would). `kill`: the agent dies at that request.
    """

    def __init__(self, panel: FakePanel) -> None:
        super().__init__(self._respond, timeout=0.05)  # answers are immediate: 50 ms is plenty
        self.panel = panel
        self.connection = panel.connection()
        self.requests = 0
        self.plan: list[tuple[int, str]] = []
        self.withhold = 0
        self.late = b""

    async def open(self) -> None:
        if not self.is_open:  # a new link reaches a new panel connection
            self.connection = self.panel.connection()
            self.late = b""
        await super().open()

    def schedule(self, after: int, action: str) -> None:
        self.plan.append((self.requests + after, action))

    def _respond(self, data: bytes) -> bytes:
        self.requests += 1
        due = [action for at, action in self.plan if at <= self.requests]
        self.plan = [(at, action) for at, action in self.plan if at > self.requests]
        for action in due:
            if action == "kill":
                raise AgentKilled
            if action == "reboot":
                self.panel.reboot()
            elif action == "late":
                self.withhold += 1
            else:
                self.panel.faults.set(action, 1)
        reply = self.connection.receive(data)
        if self.withhold:
            self.withhold -= 1
            self.late += reply
            return b""
        reply, self.late = self.late + reply, b""
        return reply


class NoCommands:
    async def next(self, device_id: int, timeout: float) -> None:
        return None


class NullStatus:
    async def update(self, device_id: int, **_: object) -> None:
        return None

    async def save_facts(self, device_id: int, facts: object) -> None:
        return None

    async def disable(self, device_id: int, reason: str) -> None:
        raise AssertionError(f"device disabled: {reason}")


class FlakyStore:
    """The writer's store: the real persistence path, refusing the next `fail` calls."""

    def __init__(self, db: DbThread, device_id: int) -> None:
        self.db, self.device_id = db, device_id
        self.fail = 0

    async def __call__(self, job: WriteJob) -> int:
        if self.fail > 0:
            self.fail -= 1
            raise OperationalError("could not connect to server: Connection refused")
        if job.kind != "events":
            return len(job.records)  # DeviceRealtimeLog lines are not under test here
        counts = await self.db.run(
            persistence.write_events_detailed,
            self.device_id,
            job.records,
            job.source,
            tz_name="UTC",
        )
        return counts.stored


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = DbThread()
        self.writer_task: asyncio.Task[None] | None = None

    # -- set-up and the agent's life -------------------------------------------------------------
    @initialize(
        session_firmware=st.booleans(),
        preloaded=st.integers(0, 25),
        seed=st.integers(0, 1000),
    )
    def start(self, session_firmware: bool, preloaded: int, seed: int) -> None:
        firmware = Firmware.SESSION if session_firmware else Firmware.SESSIONLESS
        self.panel = FakePanel(
            PanelConfig(seed=seed, transactions=preloaded, firmware=firmware), clock=utc_clock
        )
        self.device_id = self._run(
            self.db.run(lambda: Device.objects.create(alias=f"sm-{seed}", ipaddress="127.0.0.1").pk)
        )
        self.store = FlakyStore(self.db, self.device_id)
        self.restarts = 0
        self._start_agent()

    def _start_agent(self) -> None:
        """A new agent process: new writer, client and session; the DB and panel persist."""
        self.metrics = Metrics()
        self.writer = PersistenceWriter(self.store, self.metrics, retry_base=0.001, retry_cap=0.005)
        self.writer_task = self.loop.create_task(self.writer.run())
        self.link = PanelLink(self.panel)
        config = DeviceConfig(
            id=self.device_id,
            alias="sm",
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
        self.session = DeviceSession(
            config,
            LegacyDriverAdapter(config, PanelClient(self.link)),
            settings=SETTINGS,
            writer=self.writer,
            commands=NoCommands(),  # type: ignore[arg-type]
            status=NullStatus(),
            metrics=self.metrics,
        )

    def _kill_agent(self) -> None:
        """SIGKILL: whatever the writer still buffers is gone; nothing is flushed."""
        assert self.writer_task is not None
        self.writer_task.cancel()
        self._run(asyncio.gather(self.writer_task, return_exceptions=True))
        self._run(self.session.driver.close())
        self.restarts += 1
        self._start_agent()

    def _run(self, awaitable: Any) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(30):  # a hang is a failure, not a stuck suite
                return await awaitable

        return self.loop.run_until_complete(bounded())

    # -- rules ------------------------------------------------------------------------------------
    @rule(count=st.integers(1, 40))
    def panel_generates_events(self, count: int) -> None:
        for _ in range(count):
            self.panel.generate_event()

    @rule()
    def agent_cycle(self) -> None:
        try:
            self._run(self.session.run_once())  # errors are the session's to handle and log
        except AgentKilled:
            self._kill_agent()

    @rule(fault=st.sampled_from(PANEL_FAULTS), after=st.integers(1, 12))
    def fault_on_a_later_request(self, fault: str, after: int) -> None:
        self.link.schedule(after, fault)

    @rule(after=st.integers(1, 12))
    def reply_comes_too_late(self, after: int) -> None:
        self.link.schedule(after, "late")

    @rule(after=st.integers(0, 12))
    def panel_reboots(self, after: int) -> None:
        if after == 0:
            self.panel.reboot()  # between cycles; its real-time ring is lost either way
        else:
            self.link.schedule(after, "reboot")

    @rule(failures=st.integers(1, 4))
    def database_refuses_writes(self, failures: int) -> None:
        self.store.fail += failures

    @rule()
    def agent_killed_between_cycles(self) -> None:
        self._kill_agent()

    @precondition(lambda self: not any(a == "kill" for _, a in self.link.plan))
    @rule(after=st.integers(1, 15))
    def agent_killed_mid_cycle(self, after: int) -> None:
        self.link.schedule(after, "kill")

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def pointer_never_passes_unstored_events(self) -> None:
        stored = self._stored()
        duplicated = [key for key, n in stored.items() if n > 1]
        assert not duplicated, f"stored twice: {duplicated}"
        behind = self._panel_events(until=self.panel.read_pointer)
        missing = [key for key in behind if key not in stored]
        assert not missing, f"pointer at {self.panel.read_pointer} passed unstored {missing}"

    def teardown(self) -> None:
        try:
            if getattr(self, "panel", None) is not None:
                self._final_clean_sync()
        finally:
            if self.writer_task is not None and not self.writer_task.done():
                self.writer_task.cancel()
                self.loop.run_until_complete(
                    asyncio.gather(self.writer_task, return_exceptions=True)
                )
            if getattr(self, "device_id", None) is not None:
                self.loop.run_until_complete(self.db.run(self._delete_rows))
            self.db.close()
            self.loop.close()

    def _final_clean_sync(self) -> None:
        # The faults end, the agent restarts once more and syncs; then the books must balance.
        self.link.plan.clear()
        self.panel.faults.clear()
        self.store.fail = 0
        self._kill_agent()
        self._run(self.session.run_once())
        self._run(self.writer.stop())
        assert self.writer_task is not None
        self._run(self.writer_task)
        stored = self._stored()
        expected = Counter(self._panel_events())
        assert self.panel.read_pointer == self.panel.transactions.end_seq, "not all committed"
        assert stored == expected, (
            f"missing {sorted(set(expected) - set(stored))}, "
            f"unexpected {sorted(set(stored) - set(expected))}, "
            f"duplicated {[k for k, n in stored.items() if n > 1]}"
        )

    # -- helpers ----------------------------------------------------------------------------------
    def _stored(self) -> Counter[Key]:
        return Counter(self._run(self.db.run(stored_events, [self.device_id])))

    def _panel_events(self, until: int | None = None) -> list[Key]:
        """The panel's stored transactions (those before sequence *until*), keyed like the DB."""
        log = self.panel.transactions
        keys = []
        for seq, (card, pin, _verified, door, event, inout, packed) in enumerate(
            log.rows(), start=log.first_seq
        ):
            if until is not None and seq >= until:
                break
            when = decode_time(packed).replace(tzinfo=UTC).replace(tzinfo=None).isoformat()
            keys.append((self.device_id, when, pin, card, door, event, inout))
        return keys

    def _delete_rows(self) -> None:
        DeviceEventLog.objects.filter(device_id=self.device_id).delete()
        Device.objects.filter(pk=self.device_id).delete()


# A factory function, not the class: Hypothesis digests its argument with inspect.getsource,
# which ast.parses the whole module for a class; CPython 3.11's AST builder keeps its recursion
# count in shared state and, with the agent's threads running, can fail with "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905). A function needs no parse.
def new_session_machine() -> SessionMachine:
    return SessionMachine()


def test_device_session_state_machine() -> None:
    run_state_machine_as_test(
        new_session_machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

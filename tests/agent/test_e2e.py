"""End to end: ModernCommCenter ↔ simulated panels over loopback TCP, checked against the
simulator's ground-truth file: every event a panel stored is in DeviceEventLog exactly once.

Runs on SQLite by default and on PostgreSQL under `DATABASE_URL=postgres://...` (scripts/test).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agent.backends import build_backends
from agent.commands import enqueue
from agent.models import CommandStatus, Device, DeviceCommand, DeviceEventLog, DeviceStatus
from agent.modern_comm_center import RunOptions
from zkpull import EventType
from zkpull.protocol.constants import Command
from zkpull.simulator import connection as sim_connection
from zkpull.simulator import make_configs

from .backends.support import REDIS_URL, redis_prefix
from .e2e_support import Rig, exact, register, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

PASSWORD = "4321"  # noqa: S105 a simulated panel's comm password


def spy(monkeypatch: pytest.MonkeyPatch, command: int) -> list[str]:
    """Serials of the panels that received *command* (wraps the simulator's handler)."""
    seen: list[str] = []
    original = sim_connection._HANDLERS[command]

    def handler(conn: sim_connection.PanelConnection, payload: bytes) -> tuple[int, bytes]:
        seen.append(conn.panel.serial)
        return original(conn, payload)

    monkeypatch.setitem(sim_connection._HANDLERS, command, handler)
    return seen


def fleet(**overrides):
    """Three C3-400s, session / session-less / session, 5 events/s, 300 preloaded each;
    panel 2 has a comm password, panel 3 a big transaction table (big-data download)."""
    values = {"firmware": "mixed", "seed": 7, "events_per_second": 5.0, "transactions": 300}
    values.update(overrides)
    configs = make_configs(3, **values)
    configs[1] = dataclasses.replace(configs[1], password=PASSWORD)
    configs[2] = dataclasses.replace(configs[2], transactions=2000)
    return configs


def command_row(pk: int) -> DeviceCommand:
    return DeviceCommand.objects.get(pk=pk)


async def command_final(rig: Rig, pk: int, timeout: float = 5.0) -> DeviceCommand:
    async def final() -> bool:
        row = await rig.orm(command_row, pk)
        return row.status not in (CommandStatus.PENDING, CommandStatus.RUNNING)

    await wait_for(final, timeout, f"command {pk} to finish")
    return await rig.orm(command_row, pk)


def status_of(device_id: int) -> DeviceStatus | None:
    return DeviceStatus.objects.filter(device_id=device_id).first()


async def online(rig: Rig, *device_ids: int, timeout: float = 5.0) -> None:
    assert rig.center is not None
    await wait_for(
        lambda: all(rig.center.status.online.get(d) for d in device_ids),
        timeout,
        f"devices {device_ids} online",
    )


# -- the main run ---------------------------------------------------------------------------------
async def test_every_generated_event_is_stored_exactly_once(tmp_path, monkeypatch):
    chunks = spy(monkeypatch, Command.READ_DATA)  # the big-data download path
    async with Rig(tmp_path, fleet()) as rig:
        devices = await rig.register(passwords=["", PASSWORD, ""])
        rig.start_agent()
        await online(rig, *devices)
        await asyncio.sleep(4.0)
        await rig.drain()
        await rig.stop_agent()
        report = await rig.compare()

    assert report.ok, exact(report)
    assert report.expected >= 2600 + 3 * 10  # preloads plus what was generated while running
    assert report.stored == report.expected
    assert chunks.count(rig.panels[2].serial) >= 2, "2,000 transactions must come as big data"
    metrics = rig.metrics
    assert metrics is not None
    for alias in ("sim-1", "sim-2", "sim-3"):
        assert metrics.event_logs.labels(alias, "rt")._value.get() > 0
        assert metrics.event_logs.labels(alias, "tx")._value.get() >= 300
    assert metrics.unexpected_errors_total.labels("session")._value.get() == 0
    facts = await rig.orm(
        lambda: list(Device.objects.order_by("pk").values_list("fw_version", "sn"))
    )
    assert facts[0][0].startswith("AC Ver 5")
    assert facts[1][0].startswith("AC Ver 4")
    assert [sn for _, sn in facts] == [panel.serial for panel in rig.panels]


async def test_restart_re_downloads_without_duplicates(tmp_path):
    async with Rig(tmp_path, fleet(transactions=50)) as rig:
        devices = await rig.register(passwords=["", PASSWORD, ""])
        rig.start_agent()
        await online(rig, *devices)
        await asyncio.sleep(1.5)  # events arrive through the RT log; the pointer stays put
        await rig.stop_agent()
        first = rig.metrics
        # The second agent re-downloads everything after the pointer: all of it stored already.
        rig.start_agent()
        await online(rig, *devices)
        await asyncio.sleep(0.6)
        await rig.drain()
        await rig.stop_agent()
        report = await rig.compare()

    assert report.ok, exact(report)
    assert first is not None
    assert rig.metrics is not None
    again = sum(rig.metrics.events_duplicate_total.labels(f"sim-{n}")._value.get() for n in (1, 2))
    assert again > 0, "the restart must have re-downloaded events stored by the first agent"


# -- faults ---------------------------------------------------------------------------------------
async def test_reboot_loses_the_ring_and_the_download_recovers_it(tmp_path):
    async with Rig(tmp_path, fleet(transactions=50)) as rig:
        devices = await rig.register(passwords=["", PASSWORD, ""])
        rig.start_agent()
        await online(rig, *devices)
        await asyncio.sleep(0.5)
        panel = rig.panels[0]
        # Events the agent has not polled yet, then a reboot: the ring is gone, the table is not.
        lost = [panel.emit(EventType.EXIT_BUTTON_OPEN, door=d) for d in (1, 2, 3)]
        panel.faults.set("reboot")
        assert panel.pending_rt == 1  # only its own "device started" (206)
        await asyncio.sleep(1.5)
        await rig.drain()
        await rig.stop_agent()
        report = await rig.compare()
        rows = await rig.orm(
            lambda: list(
                DeviceEventLog.objects.filter(
                    device_id=devices[0], event_type=EventType.EXIT_BUTTON_OPEN
                ).values_list("event_point_id", "source")
            )
        )

    assert report.ok, exact(report)
    assert {(e.door, "tx") for e in lost} <= set(rows)
    assert panel.stats.reboots == 1
    assert rig.metrics is not None
    assert rig.metrics.reconnects_total.labels("sim-1")._value.get() >= 1


@pytest.mark.parametrize("fault", ["drop", "corrupt-next"])
async def test_link_faults_reconnect_and_stay_exact(tmp_path, fault):
    async with Rig(tmp_path, fleet(transactions=50)) as rig:
        devices = await rig.register(passwords=["", PASSWORD, ""])
        rig.start_agent()
        await online(rig, *devices)
        await asyncio.sleep(0.5)
        for panel in rig.panels[:2]:  # a session and a session-less panel
            panel.emit(EventType.EXIT_BUTTON_OPEN, door=1)  # in the reply that gets spoiled
            panel.faults.set(fault, 1)
        await asyncio.sleep(1.5)
        await rig.drain()
        await rig.stop_agent()
        report = await rig.compare()

    assert report.ok, exact(report)
    metrics = rig.metrics
    assert metrics is not None
    for alias in ("sim-1", "sim-2"):
        assert metrics.reconnects_total.labels(alias)._value.get() >= 1, alias
        assert metrics.device_connects_total.labels(alias, "ok")._value.get() >= 2, alias
    if fault == "corrupt-next":
        assert metrics.protocol_errors_total.labels("sim-1", "ChecksumError")._value.get() >= 1
    assert metrics.reconnects_total.labels("sim-3")._value.get() == 0  # untouched panel


# -- commands -------------------------------------------------------------------------------------
async def test_open_door_command_runs_and_its_event_is_stored(tmp_path):
    configs = fleet(events_per_second=0.0, transactions=10)[:1]
    async with Rig(tmp_path, configs) as rig:
        (device,) = await rig.register()
        rig.start_agent()
        await online(rig, device)
        panel = rig.panels[0]
        assert not panel.doors.door_unlocked(1)
        started = time.monotonic()
        command = await rig.orm(enqueue, device, "DEVICE SET 1 1 5", immediate=True)
        done = await command_final(rig, command.pk)
        took = time.monotonic() - started
        assert panel.doors.door_unlocked(1)
        await wait_for(
            lambda: rig.orm(
                lambda: DeviceEventLog.objects.filter(
                    device_id=device, event_type=EventType.REMOTE_OPENING, event_point_id=1
                ).exists()
            ),
            3.0,
            "the remote-opening event",
        )
        await rig.stop_agent()

    assert (done.status, done.return_code) == (CommandStatus.DONE, 0)
    assert done.trans_time is not None
    assert done.over_time is not None
    assert took < 2.0  # feeder pass (0.5 s) + one command wait, not a poll cycle per step
    assert rig.metrics is not None
    assert rig.metrics.commands_total.labels("sim-1", "DEVICE SET", "done")._value.get() == 1


async def test_invalid_commands_fail_with_1006_and_never_reach_the_panel(tmp_path, monkeypatch):
    controls = spy(monkeypatch, Command.CONTROL_DEVICE)
    configs = fleet(events_per_second=0.0, transactions=0)[:1]
    async with Rig(tmp_path, configs) as rig:
        (device,) = await rig.register()
        rig.start_agent()
        await online(rig, device)
        # Through enqueue: refused at once, stored as failed.
        refused = await rig.orm(enqueue, device, "OPEN_DOOR 1", immediate=True)
        # A row written by something else (the legacy web side): the agent's parser refuses it.
        foreign = await rig.orm(
            lambda: DeviceCommand.objects.create(
                device_id=device, content="DEVICE SET 1 banana", immediate=True
            )
        )
        failed = await command_final(rig, foreign.pk)
        await asyncio.sleep(0.6)  # another feeder pass: nothing is retried
        await rig.stop_agent()
        refused = await rig.orm(command_row, refused.pk)

    for row in (refused, failed):
        assert (row.status, row.return_code) == (CommandStatus.FAILED, -1006), row.content
        assert row.return_content
    assert controls == []
    assert not rig.panels[0].doors.door_unlocked(1)


async def test_expired_command_is_not_executed(tmp_path, monkeypatch):
    controls = spy(monkeypatch, Command.CONTROL_DEVICE)
    configs = fleet(events_per_second=0.0, transactions=0)[:1]
    async with Rig(tmp_path, configs) as rig:
        (device,) = await rig.register()
        rig.start_agent()
        await online(rig, device)
        late = await rig.orm(
            enqueue,
            device,
            "DEVICE SET 1 1 5",
            immediate=True,
            now=timezone.now() - timedelta(seconds=90),  # expiry 30 s after commit: passed
        )
        row = await command_final(rig, late.pk)
        await rig.stop_agent()
        opened = await rig.orm(
            lambda: DeviceEventLog.objects.filter(event_type=EventType.REMOTE_OPENING).count()
        )

    assert (row.status, row.return_code) == (CommandStatus.EXPIRED, -1005)
    assert controls == []
    assert not rig.panels[0].doors.door_unlocked(1)
    assert opened == 0


async def test_commands_left_running_by_a_crashed_agent(tmp_path, monkeypatch):
    controls = spy(monkeypatch, Command.CONTROL_DEVICE)
    configs = fleet(events_per_second=0.0, transactions=0)[:1]
    async with Rig(tmp_path, configs) as rig:
        (device,) = await rig.register()

        def crashed() -> tuple[int, int]:
            moment = timezone.now() - timedelta(seconds=5)
            door = DeviceCommand.objects.create(
                device_id=device,
                content="DEVICE SET 1 1 5",
                immediate=True,
                status=CommandStatus.RUNNING,
                trans_time=moment,
                attempts=1,
            )
            count = DeviceCommand.objects.create(
                device_id=device,
                content="DATA COUNT user",
                status=CommandStatus.RUNNING,
                trans_time=moment,
                attempts=1,
            )
            return door.pk, count.pk

        door, count = await rig.orm(crashed)
        rig.start_agent()
        await online(rig, device)
        counted = await command_final(rig, count)
        await asyncio.sleep(0.6)
        await rig.stop_agent()
        door_row = await rig.orm(command_row, door)

    # The door command may have reached the panel before the crash: recorded, not repeated.
    assert (door_row.status, door_row.return_code) == (CommandStatus.FAILED, -1005)
    assert "outcome unknown" in door_row.return_content
    assert controls == []
    assert not rig.panels[0].doors.door_unlocked(1)
    # An idempotent one simply runs again.
    assert (counted.status, counted.return_code) == (CommandStatus.DONE, 20)


# -- devices --------------------------------------------------------------------------------------
async def test_devices_added_disabled_and_removed_while_running(tmp_path):
    configs = make_configs(3, seed=3, events_per_second=2.0, transactions=20)
    configs[2] = dataclasses.replace(configs[2], events_per_second=0.0, transactions=0)
    async with Rig(tmp_path, configs) as rig:
        ports = rig.simulator.ports
        devices = await rig.orm(register, ports[:1])
        rig.start_agent()
        center = rig.center
        assert center is not None
        await online(rig, devices[0])
        assert set(center.sessions) == {devices[0]}

        # Added in the admin: served within device_reload_seconds (0.3 s), no restart.
        devices += await rig.orm(register, ports[1:], first=2)
        rig.devices = devices
        await online(rig, devices[1], devices[2], timeout=3.0)

        # Changed (here: sync_time): the old session is gone before the new one connects.
        before = rig.panels[1].stats.connections
        await rig.orm(lambda: Device.objects.filter(pk=devices[1]).update(sync_time=False))
        await wait_for(
            lambda: (
                devices[1] in center.sessions and not center.sessions[devices[1]].config.sync_time
            ),
            3.0,
            "session 2 to restart",
        )
        await online(rig, devices[1])
        assert rig.panels[1].stats.connections == before + 1
        assert len(rig.panels[1]._connections) == 1

        # Disabled: its session stops and its panel is left alone.
        await rig.orm(lambda: Device.objects.filter(pk=devices[0]).update(enabled=False))
        await wait_for(lambda: devices[0] not in center.sessions, 3.0, "session 1 to stop")
        await wait_for(lambda: not rig.panels[0]._connections, 3.0, "panel 1 to be released")
        requests = rig.panels[0].stats.requests
        # Removed (a panel without events: DeviceEventLog protects the rows it has).
        await rig.orm(lambda: Device.objects.filter(pk=devices[2]).delete())
        await wait_for(lambda: devices[2] not in center.sessions, 3.0, "session 3 to stop")
        await wait_for(lambda: not rig.panels[2]._connections, 3.0, "panel 3 to be released")
        await asyncio.sleep(0.5)
        await rig.drain()
        await rig.stop_agent()
        report = await rig.compare(devices=devices[1:2], ports=ports[1:2])

    assert rig.panels[0].stats.requests == requests
    assert report.ok, exact(report)
    assert rig.metrics is not None
    assert rig.metrics.unexpected_errors_total.labels("persistence")._value.get() == 0


async def test_wrong_password_marks_that_device_only(tmp_path):
    configs = make_configs(2, seed=5, password=PASSWORD, events_per_second=2.0, transactions=20)
    async with Rig(tmp_path, configs) as rig:
        good, bad = await rig.register(passwords=[PASSWORD, "9999"])
        rig.start_agent()
        await online(rig, good)
        await wait_for(
            lambda: rig.orm(
                lambda: (s := status_of(bad)) is not None and s.last_return_code == -14
            ),
            3.0,
            "status -14",
        )
        await asyncio.sleep(1.0)  # a wrong password is not retried
        attempts = rig.panels[1].stats.connections
        await rig.drain()
        await rig.stop_agent()
        statuses = await rig.orm(lambda: {d: status_of(d) for d in (good, bad)})
        report = await rig.compare(devices=[good], ports=rig.simulator.ports[:1])

    assert attempts == 1
    assert statuses[bad].online is False
    assert statuses[bad].last_return_code == -14
    assert statuses[good].last_return_code != -14
    assert report.ok, exact(report)


# -- Redis ----------------------------------------------------------------------------------------
@pytest.mark.redis
async def test_redis_backends_end_to_end(tmp_path):
    async with redis_prefix() as prefix, Rig(tmp_path, fleet(transactions=100)) as rig:
        devices = await rig.register(passwords=["", PASSWORD, ""])
        backends = build_backends("redis", REDIS_URL, prefix=prefix)
        rig.start_agent(backends=backends, options=RunOptions(agent_id="e2e-redis"))
        await online(rig, *devices)
        command = await rig.orm(enqueue, devices[0], "DEVICE SET 2 1 5", immediate=True)
        done = await command_final(rig, command.pk)
        await asyncio.sleep(1.5)
        reader = build_backends("redis", REDIS_URL, prefix=prefix)
        try:
            running = {d: await reader.heartbeat.device_status(d) for d in devices}
            agents = await reader.heartbeat.agents()
            await rig.drain()
            await rig.stop_agent()
            stopped = {d: await reader.heartbeat.device_status(d) for d in devices}
            depth = await reader.queue.depth(devices[0])
            in_flight = await reader.queue.in_flight(devices[0])
        finally:
            await reader.close()
        report = await rig.compare()

    assert report.ok, exact(report)
    assert (done.status, done.return_code) == (CommandStatus.DONE, 0)
    assert rig.panels[0].doors.door_unlocked(2)
    assert (depth, in_flight) == (0, [])  # acknowledged, nothing left behind
    assert "e2e-redis" in agents
    assert agents["e2e-redis"]["last_cycle"] > 0
    for device in devices:
        assert running[device] is not None, running
        assert running[device].online, running
        assert stopped[device] is not None, stopped
        assert not stopped[device].online, stopped
        assert stopped[device].return_code == -1001

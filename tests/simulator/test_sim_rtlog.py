"""Real-time log: CONTROL reactions, ring behaviour per firmware, status records, key/value log."""

from __future__ import annotations

import pytest

from zkpull.protocol.constants import Command, ControlOperation, Dialect, OutputType
from zkpull.protocol.params import encode_control, output_control
from zkpull.protocol.rtlog import DoorStatus, RtEvent, decode_rtlog, decode_rtlog_kv
from zkpull.simulator import FakePanel, Firmware, PanelConfig, Simulator

from .simhelpers import T0, MemClient, TcpClient, clock


def connected(firmware: Firmware = Firmware.SESSION, **config: object) -> MemClient:
    client = MemClient(FakePanel(PanelConfig(firmware=firmware, **config), clock=clock()))  # type: ignore[arg-type]
    dialect = Dialect.SESSION if firmware is Firmware.SESSION else Dialect.SESSIONLESS
    assert client.connect(dialect).is_ok
    return client


def rt(client: MemClient) -> list[RtEvent | DoorStatus]:
    reply = client.request(Command.GET_REALTIME_LOG)
    assert reply.is_ok
    return decode_rtlog(reply.payload)


def only_event(client: MemClient) -> RtEvent:
    records = rt(client)
    assert len(records) == 1
    assert isinstance(records[0], RtEvent)
    return records[0]


def test_open_door_for_n_seconds_logs_remote_opening_and_relocks() -> None:
    client = connected()
    assert client.request(Command.CONTROL_DEVICE, output_control(2, OutputType.DOOR, 5)).is_ok
    event = only_event(client)
    assert (event.event_type, event.door, event.verified, event.inout, event.card, event.pin) == (
        8,
        2,
        200,
        2,
        0,
        0,
    )
    assert event.time == T0
    assert client.panel.doors.door_unlocked(2)
    client.panel.clock.advance(4)  # type: ignore[attr-defined]
    assert client.panel.doors.door_unlocked(2)
    client.panel.clock.advance(1)  # type: ignore[attr-defined]
    assert not client.panel.doors.door_unlocked(2)


@pytest.mark.parametrize(
    ("payload", "event_type", "door"),
    [
        (output_control(1, OutputType.DOOR, 0), 9, 1),
        (output_control(3, OutputType.DOOR, 255), 205, 3),
        (output_control(2, OutputType.AUX, 100), 12, 2),
        (output_control(2, OutputType.AUX, 0), 13, 2),
        (encode_control(ControlOperation.NORMAL_OPEN, 2, 1), 11, 2),
        (encode_control(ControlOperation.NORMAL_OPEN, 2, 0), 10, 2),
        (encode_control(ControlOperation.CANCEL_ALARM), 7, 0),
    ],
)
def test_control_events(payload: bytes, event_type: int, door: int) -> None:
    client = connected()
    assert client.request(Command.CONTROL_DEVICE, payload).is_ok
    event = only_event(client)
    assert (event.event_type, event.door, event.verified, event.inout) == (event_type, door, 200, 2)
    assert client.panel.transactions.rows().__next__()[4] == event_type  # stored as well


def test_hold_open_and_normal_open_keep_the_lock_open_until_closed() -> None:
    client = connected()
    client.request(Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 255))
    client.request(Command.CONTROL_DEVICE, encode_control(ControlOperation.NORMAL_OPEN, 2, 1))
    client.panel.clock.advance(86_400)  # type: ignore[attr-defined]
    assert client.panel.doors.door_unlocked(1)
    assert client.panel.doors.door_unlocked(2)
    client.request(Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 0))
    assert not client.panel.doors.door_unlocked(1)


@pytest.mark.parametrize(
    "payload",
    [
        output_control(5, OutputType.DOOR, 5),
        bytes((1, 0, 1, 5, 0)),
        output_control(5, OutputType.AUX, 5),
        bytes((1, 1, 3, 5, 0)),
        bytes((9, 0, 0, 0, 0)),
        bytes((4, 1, 2, 0, 0)),
        b"\x01",
    ],
)
def test_invalid_control_is_minus_11(payload: bytes) -> None:
    client = connected(model="C3-400")
    assert client.request(Command.CONTROL_DEVICE, payload).error_code == -11
    assert client.panel.stats.events == 0


def test_cancel_alarm_clears_alarm_bits() -> None:
    client = connected()
    client.panel.emit(28, door=1)
    client.panel.emit(102, door=2)
    assert client.panel.door_status().alarms == (2, 1, 0, 0)
    client.request(Command.CONTROL_DEVICE, encode_control(ControlOperation.CANCEL_ALARM))
    assert client.panel.door_status().alarms == (0, 0, 0, 0)


def test_restart_replies_then_reboots_and_drops_connections() -> None:
    panel = FakePanel(clock=clock())
    other = MemClient(panel)
    other.connect()
    client = MemClient(panel)
    client.connect()
    panel.emit(0, door=1, pin=5, card=6, verify=4, inout=0)
    assert client.request(Command.CONTROL_DEVICE, encode_control(ControlOperation.RESTART)).is_ok
    assert client.conn.closed
    assert other.conn.closed
    fresh = MemClient(panel)
    fresh.connect()  # clears the ring again: 206 survives in the transaction table
    assert [row[4] for row in panel.transactions.rows()] == [0, 206]
    assert list(panel.transactions.rows())[1][3] == 0  # device start is logged on door 0


def test_connect_clears_the_ring() -> None:
    panel = FakePanel(clock=clock())
    panel.emit(202, door=1)
    assert panel.pending_rt == 1
    MemClient(panel).connect()
    assert panel.pending_rt == 0
    assert len(panel.transactions) == 1


def test_sessionless_firmware_returns_one_event_per_poll() -> None:
    client = connected(Firmware.SESSIONLESS)
    for door in (1, 2, 3):
        client.panel.emit(202, door=door)
    assert [only_event(client).door for _ in range(3)] == [1, 2, 3]
    assert isinstance(rt(client)[0], DoorStatus)


def test_session_firmware_returns_all_pending_and_the_ring_keeps_30() -> None:
    client = connected()
    for n in range(35):
        client.panel.emit(0, door=1, pin=n, card=1000 + n, verify=4, inout=0)
    records = rt(client)
    assert len(records) == 30
    assert [r.pin for r in records if isinstance(r, RtEvent)] == list(
        range(5, 35)
    )  # oldest dropped
    assert isinstance(rt(client)[0], DoorStatus)


@pytest.mark.parametrize(
    ("firmware", "byte8"), [(Firmware.SESSIONLESS, 200), (Firmware.SESSION, 0)]
)
def test_status_record_when_nothing_is_pending(firmware: Firmware, byte8: int) -> None:
    client = connected(firmware, model="C3-200")
    client.panel.emit(200, door=2)  # door 2 opened
    client.panel.emit(102, door=1)  # door 1 forced: alarm
    client.connect(
        Dialect.SESSION if firmware is Firmware.SESSION else Dialect.SESSIONLESS
    )  # clears the ring
    (status,) = rt(client)
    assert isinstance(status, DoorStatus)
    assert status.sensors == (1, 2, 0, 0)
    assert status.alarms == (1, 0, 0, 0)
    assert status.verified == byte8
    assert status.time == T0


def test_kv_rtlog_firmware() -> None:
    client = connected(Firmware.SESSIONLESS, kv_rtlog=True)
    assert client.request(Command.GET_REALTIME_LOG).payload == bytes(360)
    (status,) = decode_rtlog_kv(client.request(Command.GET_REALTIME_LOG_KV).payload)
    assert isinstance(status, DoorStatus)
    assert status.sensors == (1, 1, 1, 1)
    client.request(Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 5))
    client.panel.emit(0, door=3, pin=42, card=4242, verify=4, inout=1)
    records = decode_rtlog_kv(client.request(Command.GET_REALTIME_LOG_KV).payload)
    assert [(r.event_type, r.door, r.index) for r in records if isinstance(r, RtEvent)] == [
        (8, 1, 1),
        (0, 3, 2),
    ]
    status = decode_rtlog_kv(client.request(Command.GET_REALTIME_LOG_KV).payload)[0]
    assert isinstance(status, DoorStatus)
    assert status.relay == 1  # door 1's lock relay is still open


def test_kv_rtlog_is_unknown_elsewhere() -> None:
    assert connected().request(Command.GET_REALTIME_LOG_KV).error_code == -13


async def test_tcp_control_then_rtlog() -> None:
    async with Simulator([PanelConfig()], clock=clock()) as sim:
        client = await TcpClient.open(sim.ports[0])
        await client.connect()
        await client.request(Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 0))
        records = decode_rtlog((await client.request(Command.GET_REALTIME_LOG)).payload)
        assert [(r.event_type, r.door) for r in records if isinstance(r, RtEvent)] == [(9, 1)]
        await client.close()


def test_cancel_alarm_naming_a_door_logs_it_there() -> None:
    client = connected()
    client.panel.emit(102, door=3)
    client.connect()
    client.request(Command.CONTROL_DEVICE, encode_control(ControlOperation.CANCEL_ALARM, 3))
    event = only_event(client)
    assert (event.event_type, event.door) == (7, 3)
    assert client.panel.door_status().alarms == (0, 0, 0, 0)

"""PanelClient against the simulator over real loopback TCP: every typed command, both
dialects, with a comm password, 100,000 transactions through the big-data path, and each
fault the simulator can inject, mapped to the error family the caller's policy needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from zkpull import (
    AuthenticationError,
    ChecksumError,
    ConnectError,
    ConnectionClosed,
    DeviceError,
    Dialect,
    DoorStatus,
    FrameError,
    PanelClient,
    ProtocolError,
    RtEvent,
    TransportError,
    TransportTimeout,
)
from zkpull.simulator import ManualClock, Simulator, make_configs

T0 = datetime(2026, 12, 3, 12, 0, 0)  # noqa: DTZ001 panel local time is naive
KEY = "4711"


@pytest.fixture(params=["session", "sessionless"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    configs = make_configs(
        1, model="C3-400", firmware=request.param, password=KEY, transactions=50, users=5
    )
    async with Simulator(configs, clock=ManualClock(T0)) as simulator:
        yield simulator


def client_for(sim: Simulator, **options: object) -> PanelClient:
    return PanelClient.tcp(
        "127.0.0.1", sim.ports[0], timeout=options.pop("timeout", 2.0), password=KEY, **options
    )  # type: ignore[arg-type]


async def test_every_typed_command(sim: Simulator) -> None:
    panel = sim.panels[0]
    async with client_for(sim) as client:
        expected = Dialect.SESSION if panel.session_firmware else Dialect.SESSIONLESS
        assert client.dialect is expected
        info = await client.get_info()
        assert (info.serial_number, info.device_name, info.lock_count, info.aux_out_count) == (
            panel.serial,
            "C3-400",
            4,
            4,
        )
        assert info.time == T0

        await client.set_params({"Door1Drivertime": 7, "Door2Detectortime": 30})
        assert await client.get_params(["Door1Drivertime", "Door2Detectortime"]) == {
            "Door1Drivertime": "7",
            "Door2Detectortime": "30",
        }
        await client.set_time(T0 + timedelta(hours=1))
        assert await client.get_time() == T0 + timedelta(hours=1)

        await client.open_door(1, 5)
        assert panel.doors.door_unlocked(1)
        await client.close_door(1)
        assert not panel.doors.door_unlocked(1)
        await client.hold_door(2)
        await client.set_aux_output(1, 10)
        assert panel.doors.aux_active(1)
        await client.set_normal_open(3, True)
        await client.set_normal_open(3, False)
        await client.cancel_alarm(0)
        events: list[RtEvent] = []
        for _ in range(20):
            batch = await client.get_rtlog()
            events += [r for r in batch if isinstance(r, RtEvent)]
            if any(isinstance(r, DoorStatus) for r in batch):
                break
        assert [(e.event_type, e.door) for e in events] == [
            (8, 1),
            (9, 1),
            (205, 2),
            (12, 1),
            (11, 3),
            (10, 3),
            (7, 0),
        ]

        tables = await client.get_tables()
        assert {"user", "userauthorize", "timezone", "holiday", "transaction"} <= set(tables)
        assert await client.count("user") == 5
        await client.set_data(
            "user", [{"Pin": 5000 + i, "CardNo": 7000 + i} for i in range(300)]
        )  # several SETDATA packets
        assert await client.count("user") == 305
        rows = await client.read_table("user", ["Pin", "CardNo"], filters={"Pin": 5001})
        assert rows == [{"Pin": 5001, "CardNo": 7001}]
        await client.delete_data("user", [{"Pin": 5000 + i} for i in range(300)])
        assert await client.count("user") == 5
        with pytest.raises(DeviceError) as refused:
            await client.open_door(9, 5)  # C3-400 has 4 doors
        assert refused.value.code == -11
        assert client.connected  # a refusal leaves the session up

        downloaded = [e async for e in client.iter_transactions(new_only=True)]
        assert len(downloaded) == await client.count("transaction")
        await client.commit_new_records()
        assert [e async for e in client.iter_transactions(new_only=True)] == []
        await client.restart()
    assert panel.stats.reboots == 1


async def test_wrong_password_is_an_authentication_error(sim: Simulator) -> None:
    client = PanelClient.tcp("127.0.0.1", sim.ports[0], timeout=2.0, password="nope")  # noqa: S106 a wrong key on purpose
    with pytest.raises(AuthenticationError) as failed:
        await client.connect()
    assert failed.value.code == -14
    assert "password" in failed.value.meaning
    assert not client.connected


@pytest.mark.slow
async def test_one_hundred_thousand_transactions_stream_through_big_data() -> None:
    configs = make_configs(1, firmware="session", transactions=100_000, users=5)
    async with (
        Simulator(configs, clock=ManualClock(T0)) as simulator,
        PanelClient.tcp("127.0.0.1", simulator.ports[0], timeout=10.0) as client,
    ):
        count = 0
        last: RtEvent | None = None
        async for event in client.iter_transactions():
            count += 1
            last = event
        assert count == 100_000
        assert last is not None
        assert last.time is not None
        assert await client.count("transaction") == 100_000


@pytest.mark.parametrize(
    ("fault", "value", "error"),
    [
        ("drop", 1, ConnectionClosed),
        ("delay", 1.0, TransportTimeout),
        ("corrupt-next", 1, ChecksumError),
        ("garbage", 1, ProtocolError),
        ("truncate", 1, ConnectionClosed),
    ],
)
async def test_each_fault_maps_to_its_error_family_and_the_client_recovers(
    sim: Simulator, fault: str, value: float, error: type[Exception]
) -> None:
    client = client_for(sim, timeout=0.3)
    await client.connect()
    sim.panels[0].faults.set(fault, value)
    with pytest.raises(error):
        await client.get_rtlog()
    sim.panels[0].faults.clear()
    if client.connected:  # a session-dialect timeout keeps the session; late replies are skipped
        await asyncio.sleep(1.0)
        await client.get_rtlog()
        assert client.stale_replies >= 1
    await client.connect()  # a reconnect always works once the fault is gone
    assert isinstance((await client.get_rtlog())[-1], DoorStatus | RtEvent)
    await client.disconnect()


async def test_refused_connections_are_connect_errors(sim: Simulator) -> None:
    sim.panels[0].faults.set("refuse", "stop")
    await sim.settle()
    with pytest.raises(ConnectError):
        await client_for(sim).connect()
    sim.panels[0].faults.clear()
    await sim.settle()
    async with client_for(sim) as client:
        assert client.connected


async def test_reboot_drops_the_link_and_the_ring(sim: Simulator) -> None:
    panel = sim.panels[0]
    client = client_for(sim)
    await client.connect()
    panel.emit(0, door=1, pin=1, card=1)
    panel.faults.set("reboot")
    with pytest.raises(TransportError):
        await client.get_rtlog()
    await client.connect()
    records = await client.get_rtlog()
    assert [r.event_type for r in records if isinstance(r, RtEvent)] in ([], [206])  # ring lost
    stored = [e async for e in client.iter_transactions()]
    assert any(e.event_type == 0 and e.pin == 1 for e in stored)  # the transaction table keeps it
    await client.disconnect()


async def test_garbage_from_a_peer_never_crashes_the_client() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(bytes(range(256)) * 4)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises((FrameError, ConnectionClosed)):
            await PanelClient.tcp("127.0.0.1", port, timeout=1.0).connect()
    finally:
        server.close()
        await server.wait_closed()

"""The project's own PanelClient against the simulator: TCP, in-memory and RS485 (pty)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zkpull.client import PanelClient
from zkpull.protocol.constants import Dialect
from zkpull.protocol.errors import AuthenticationError
from zkpull.protocol.rtlog import DoorStatus, RtEvent
from zkpull.simulator import FakePanel, Firmware, PanelConfig, Simulator, make_configs
from zkpull.transport.memory import MemoryTransport
from zkpull.transport.serial import SerialBus

from .simhelpers import T0, clock

COMM_KEY = "s3cret"


@pytest.mark.parametrize("firmware", ["session", "sessionless"])
async def test_client_over_tcp(firmware: str) -> None:
    configs = make_configs(1, firmware=firmware, password=COMM_KEY, transactions=3000, users=5)
    async with Simulator(configs, clock=clock()) as sim:
        panel = sim.panels[0]
        client = PanelClient.tcp("127.0.0.1", sim.ports[0], timeout=5, password=COMM_KEY)
        async with client:
            assert client.dialect is (
                Dialect.SESSION if firmware == "session" else Dialect.SESSIONLESS
            )
            info = await client.get_info()
            assert (info.serial_number, info.lock_count, info.time) == (panel.serial, 4, T0)
            await client.set_time(T0 + timedelta(days=1))
            assert await client.get_time() == T0 + timedelta(days=1)
            await client.open_door(2, 5)
            records = await client.get_rtlog()
            assert [(r.event_type, r.door) for r in records if isinstance(r, RtEvent)] == [(8, 2)]
            assert isinstance((await client.get_rtlog())[0], DoorStatus)
            events = [e async for e in client.iter_transactions(new_only=True)]  # big-data path
            assert len(events) == 3001
            await client.commit_new_records()  # legacy firmware's 0xC9/0 counts as success
            assert [e async for e in client.iter_transactions(new_only=True)] == []
            await client.set_data("user", [{"Pin": 77, "CardNo": 7777}])
            assert await client.count("user") == 6
            await client.delete_data("user", [{"Pin": 77}])
            assert await client.count("user") == 5
        with pytest.raises(AuthenticationError):
            await PanelClient.tcp(
                "127.0.0.1", sim.ports[0], timeout=5, password=COMM_KEY[::-1]
            ).connect()


async def test_client_over_memory_transport() -> None:
    panel = FakePanel(PanelConfig(firmware=Firmware.SESSIONLESS, kv_rtlog=True), clock=clock())
    client = PanelClient(MemoryTransport(panel.connection().receive))
    async with client:
        await client.set_aux_output(1, 10)
        records = await client.get_rtlog()  # 360 zero bytes: the client switches to 0x79
        assert [(r.event_type, r.door) for r in records if isinstance(r, RtEvent)] == [(12, 1)]
        assert panel.doors.aux_active(1)


async def test_client_over_rs485_pty() -> None:
    async with Simulator(
        make_configs(2, firmware="sessionless"), clock=clock(), serial_pty=True
    ) as sim:
        assert sim.pty_path is not None
        bus = SerialBus(sim.pty_path)
        first = PanelClient.rs485(bus, 1, timeout=5)
        second = PanelClient.rs485(bus, 2, timeout=5)
        async with first, second:
            assert (await first.get_info()).serial_number == sim.panels[0].serial
            assert (await second.get_info()).serial_number == sim.panels[1].serial
            await second.open_door(1, 5)
            assert sim.panels[1].doors.door_unlocked(1)
            assert not sim.panels[0].doors.door_unlocked(1)

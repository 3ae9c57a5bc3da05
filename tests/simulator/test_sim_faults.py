"""Faults, set through the Python API and the control channel, observed by a real TCP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta

import pytest

from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import ChecksumError, ConnectionClosed, FrameError
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.params import encode_params
from zkpull.protocol.session import Session
from zkpull.protocol.timecodec import encode_time
from zkpull.simulator import FakePanel, Firmware, MemoryLink, PanelConfig, Simulator

from .simhelpers import T0, TIMEOUT, TcpClient, clock

LEGACY = PanelConfig(firmware=Firmware.SESSIONLESS)
CONNECT = encode_frame(Frame(Command.CONNECT))
COUNT = encode_frame(Frame(Command.GET_DATA_COUNT, b"\x05"))
COUNT_REPLY = encode_frame(Frame(Reply.OK, bytes(4)))


class Raw:
    """A byte-level client: what arrives is checked by the test, not by a Session."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Raw:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def ask(self, data: bytes, size: int) -> bytes:
        self.writer.write(data)
        return await asyncio.wait_for(self.reader.readexactly(size), TIMEOUT)

    async def rest(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), TIMEOUT)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def connected_raw(port: int) -> Raw:
    raw = await Raw.open(port)
    assert await raw.ask(CONNECT, 8) == encode_frame(Frame(Reply.OK))
    return raw


async def test_drop_closes_instead_of_answering() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        raw = await connected_raw(sim.ports[0])
        sim.panels[0].faults.set("drop")
        raw.writer.write(COUNT)
        assert await raw.rest() == b""
        await raw.close()
        again = await connected_raw(sim.ports[0])  # the fault wore off
        assert await again.ask(COUNT, len(COUNT_REPLY)) == COUNT_REPLY
        await again.close()


async def test_delay_holds_replies_back() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        raw = await connected_raw(sim.ports[0])
        sim.panels[0].faults.set("delay", 0.2)
        started = time.perf_counter()
        assert await raw.ask(COUNT, len(COUNT_REPLY)) == COUNT_REPLY
        assert time.perf_counter() - started >= 0.19
        sim.panels[0].faults.clear("delay")
        await raw.close()


async def test_corrupt_next_n_and_corrupt_probability() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        faults = sim.panels[0].faults
        raw = await connected_raw(sim.ports[0])
        faults.set("corrupt-next", 2)
        for _ in range(2):
            reply = await raw.ask(COUNT, len(COUNT_REPLY))
            assert reply[:-3] == COUNT_REPLY[:-3]
            assert reply[-1] == 0x55
            with pytest.raises(ChecksumError):
                FrameDecoder().feed(reply)
        assert await raw.ask(COUNT, len(COUNT_REPLY)) == COUNT_REPLY
        faults.set("corrupt-crc", 1.0)
        with pytest.raises(ChecksumError):
            FrameDecoder().feed(await raw.ask(COUNT, len(COUNT_REPLY)))
        faults.clear()
        assert await raw.ask(COUNT, len(COUNT_REPLY)) == COUNT_REPLY
        await raw.close()


async def test_garbage_replaces_the_reply() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        raw = await connected_raw(sim.ports[0])
        sim.panels[0].faults.set("garbage")
        raw.writer.write(COUNT)
        junk = await asyncio.wait_for(raw.reader.read(4096), TIMEOUT)
        assert junk
        assert junk[0] != 0xAA
        with pytest.raises(FrameError):
            FrameDecoder().feed(junk)
        assert await raw.ask(COUNT, len(COUNT_REPLY)) == COUNT_REPLY  # the link stays up
        await raw.close()


async def test_truncate_sends_part_then_closes() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        raw = await connected_raw(sim.ports[0])
        sim.panels[0].faults.set("truncate")
        raw.writer.write(COUNT)
        part = await raw.rest()
        assert 0 < len(part) < len(COUNT_REPLY)
        assert COUNT_REPLY.startswith(part)
        await raw.close()


async def test_reboot_fault_resets_clock_and_ring_and_drops_links() -> None:
    async with Simulator([PanelConfig()], clock=clock()) as sim:
        panel = sim.panels[0]
        client = await TcpClient.open(sim.ports[0])
        await client.connect()
        later = T0 + timedelta(hours=5)
        await client.request(
            Command.SET_DEVICE_PARAM, encode_params({"DateTime": encode_time(later)})
        )
        assert panel.now() == later
        panel.emit(202, door=1)
        panel.faults.set("reboot")
        assert panel.now() == T0
        assert [e.event_type for e in panel.take_rt(30)] == [206]
        assert await client.read_eof() == b""
        await client.close()
        fresh = await TcpClient.open(sim.ports[0])
        assert (await fresh.connect()).is_ok
        await fresh.close()


async def test_refuse_close_accepts_and_hangs_up() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        sim.panels[0].faults.set("refuse")
        raw = await Raw.open(sim.ports[0])
        assert await raw.rest() == b""
        await raw.close()


async def test_refuse_stop_stops_listening_until_cleared() -> None:
    async with Simulator([LEGACY], clock=clock()) as sim:
        sim.panels[0].faults.set("refuse", "stop")
        with pytest.raises(ConnectionRefusedError):
            await Raw.open(sim.ports[0])
        sim.panels[0].faults.clear("refuse")
        await sim.settle()
        raw = await connected_raw(sim.ports[0])
        await raw.close()


async def test_control_channel() -> None:
    async with Simulator([LEGACY, LEGACY], clock=clock(), control_port=0) as sim:
        assert sim.control_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.control_port)

        async def command(line: str) -> str:
            writer.write(line.encode() + b"\n")
            return (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode().rstrip("\n")

        assert await command("fault 1 delay 0.5") == "ok"
        assert await command("fault all corrupt-next 3") == "ok"
        status = await command("status")
        assert status.startswith("ok ")
        panels = json.loads(status[3:])
        assert panels[1]["faults"] == {"delay": 0.5, "corrupt-next": 3}
        assert panels[0]["faults"] == {"corrupt-next": 3}
        assert await command("clear all") == "ok"
        assert sim.panels[1].faults.active() == {}
        assert await command("generate 0,1 4") == "ok 8"
        assert await command("reboot 0") == "ok"
        assert sim.panels[0].stats.reboots == 1
        assert (await command("fault 7 drop")).startswith("error")
        assert (await command("fault 0 melt")).startswith("error")
        assert (await command("fault 0 refuse sideways")).startswith("error")
        assert (await command("bogus")).startswith("error")
        assert await command("fault 0 refuse stop") == "ok"
        assert json.loads((await command("status"))[3:])[0]["listening"] is False
        writer.close()
        await writer.wait_closed()


async def test_memory_link_faults() -> None:
    panel = FakePanel(clock=clock())
    link = MemoryLink(panel)
    await link.open()
    session = Session()
    await link.write(session.connect(Dialect.SESSION))
    session.receive(await link.read(4096))
    assert session.next_reply().is_ok  # type: ignore[union-attr]
    panel.faults.set("delay", 0.05)
    await link.write(session.request(Command.GET_DATA_COUNT, b"\x01"))
    session.receive(await asyncio.wait_for(link.read(4096), TIMEOUT))
    assert session.next_reply().payload == (20).to_bytes(4, "little")  # type: ignore[union-attr]
    panel.faults.clear()
    panel.faults.set("drop")
    await link.write(session.request(Command.GET_DATA_COUNT, b"\x05"))
    assert await link.read(4096) == b""
    with pytest.raises(ConnectionClosed):
        await link.write(b"\xaa")
    await link.close()
    panel.faults.set("refuse")
    with pytest.raises(ConnectionRefusedError):
        await link.open()

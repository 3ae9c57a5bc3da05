"""RS485 over a pty: one bus, panels at addresses 1..N, replies only to their own address (or 0)."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator

import pytest

from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.session import Response, Session
from zkpull.simulator import Simulator, make_configs

from .simhelpers import TIMEOUT, clock


class Line:
    """The client end of the pty, read without blocking the loop."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    async def read_frames(self, count: int, timeout: float = TIMEOUT) -> list[Frame]:
        decoder, frames = FrameDecoder(), list[Frame]()
        async with asyncio.timeout(timeout):
            while len(frames) < count:
                try:
                    frames += decoder.feed(os.read(self.fd, 4096))
                except BlockingIOError:
                    await asyncio.sleep(0.002)
        return frames

    async def exchange(self, session: Session, data: bytes) -> Response:
        os.write(self.fd, data)
        while (reply := session.next_reply()) is None:
            (frame,) = await self.read_frames(1)
            session.receive(encode_frame(frame))
        return reply

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
async def bus() -> AsyncIterator[tuple[Simulator, Line]]:
    async with Simulator(make_configs(2, firmware="mixed"), clock=clock(), serial_pty=True) as sim:
        assert sim.pty_path is not None
        assert sim.pty_path.startswith("/dev/")
        line = Line(sim.pty_path)
        yield sim, line
        line.close()


async def test_two_addresses_on_one_bus(bus: tuple[Simulator, Line]) -> None:
    sim, line = bus
    first, second = Session(address=1), Session(address=2)
    assert (await line.exchange(first, first.connect(Dialect.SESSION))).is_ok
    assert (await line.exchange(second, second.connect(Dialect.SESSIONLESS))).is_ok
    reply = await line.exchange(
        first, first.request(Command.GET_DEVICE_PARAM, b"DeviceID,~SerialNumber")
    )
    assert (reply.address, reply.payload) == (
        1,
        f"DeviceID=1,~SerialNumber={sim.panels[0].serial}".encode(),
    )
    reply = await line.exchange(second, second.request(Command.GET_DEVICE_PARAM, b"DeviceID"))
    assert (reply.address, reply.payload) == (2, b"DeviceID=2")


async def test_other_addresses_get_no_answer_and_broadcast_gets_all(
    bus: tuple[Simulator, Line],
) -> None:
    _sim, line = bus
    os.write(line.fd, encode_frame(Frame(Command.CONNECT, address=3)))
    with pytest.raises(TimeoutError):
        await line.read_frames(1, timeout=0.2)
    os.write(line.fd, encode_frame(Frame(Command.CONNECT, address=0)))
    frames = await line.read_frames(2)
    assert [(f.address, f.command) for f in frames] == [(1, Reply.OK), (2, Reply.OK)]


async def test_garbage_on_the_line_is_survived(bus: tuple[Simulator, Line]) -> None:
    sim, line = bus
    os.write(line.fd, b"\x00\x13\x37")
    await asyncio.sleep(0.05)
    session = Session(address=2)
    assert (await line.exchange(session, session.connect(Dialect.SESSIONLESS))).is_ok
    assert sim._bus is not None
    assert sim._bus.malformed == 1


async def test_reboot_on_the_bus_resets_the_seat(bus: tuple[Simulator, Line]) -> None:
    sim, line = bus
    session = Session(address=2)
    assert (await line.exchange(session, session.connect(Dialect.SESSIONLESS))).is_ok
    sim.panels[1].faults.set("reboot")
    reply = await line.exchange(session, session.request(Command.GET_DATA_COUNT, b"\x05"))
    assert reply.error_code == -8  # a rebooted panel has forgotten the connection
    assert (await line.exchange(session, session.connect(Dialect.SESSIONLESS))).is_ok

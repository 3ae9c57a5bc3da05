"""TcpTransport's shared read timer: one timer serves many reads, yet each read gets its full timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from zkpull.protocol.errors import TransportTimeout
from zkpull.transport import TcpTransport

from .test_tcp import serve

TIMEOUT = 0.3


async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readexactly(4)
    writer.write(b"pong")
    await writer.drain()
    await reader.read()  # then silent until the client leaves


async def test_a_later_read_gets_its_whole_timeout_from_an_earlier_timer() -> None:
    async with serve(answer_once) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await transport.write(b"ping")
        assert await transport.read_exactly(4) == b"pong"  # armed the timer, which stays
        await asyncio.sleep(TIMEOUT / 2)
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            await transport.read_exactly(1)  # the old timer fires first and must re-arm
        assert time.monotonic() - started >= TIMEOUT * 0.95
        await transport.close()


async def test_a_shortened_timeout_applies_to_the_next_read() -> None:
    async with serve(answer_once) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=30.0)
        await transport.open()
        await transport.write(b"ping")
        assert await transport.read_exactly(4) == b"pong"  # a timer 30 s out
        transport.timeout = TIMEOUT
        async with asyncio.timeout(10):  # generous: fails only if the 30 s timer were kept
            with pytest.raises(TransportTimeout):
                await transport.read_exactly(1)
        await transport.close()


async def test_idle_links_leave_no_timer_behind() -> None:
    async with serve(answer_once) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await transport.write(b"ping")
        assert await transport.read_exactly(4) == b"pong"
        await asyncio.sleep(TIMEOUT * 2)  # the timer fired with no read waiting
        link = transport._link
        assert link is not None
        assert link.timer is None
        await transport.close()

"""MemoryTransport / ScriptedTransport: the in-memory links the client tests stand on."""

from __future__ import annotations

import asyncio

import pytest

from zkpull.protocol.errors import ConnectionClosed, TransportTimeout
from zkpull.transport.memory import MemoryTransport, ScriptedTransport


async def test_sync_and_async_responders() -> None:
    async def slow_upper(data: bytes) -> bytes:
        await asyncio.sleep(0.001)
        return data.upper()

    for responder in (bytes.upper, slow_upper):
        transport = MemoryTransport(responder, timeout=0.1)
        await transport.open()
        await transport.write(b"abc")
        assert await transport.read_exactly(2) == b"AB"
        assert await transport.read_exactly(1) == b"C"
        assert transport.written == [b"abc"]


async def test_no_answer_times_out_and_feed_wakes_reader() -> None:
    transport = MemoryTransport(lambda _: b"", timeout=0.05)
    await transport.open()
    await transport.write(b"?")
    with pytest.raises(TransportTimeout):
        await transport.read_exactly(1)
    asyncio.get_running_loop().call_later(0.01, transport.feed, b"late")
    assert await transport.read_exactly(4) == b"late"


async def test_closed_link() -> None:
    transport = MemoryTransport(lambda data: data, timeout=1.0)
    assert not transport.is_open
    with pytest.raises(ConnectionClosed):
        await transport.write(b"x")
    await transport.open()
    reader = asyncio.create_task(transport.read_exactly(1))
    await asyncio.sleep(0)
    await transport.close()  # wakes a blocked reader at once, not after the timeout
    with pytest.raises(ConnectionClosed):
        await reader
    await transport.close()


async def test_reopened_link_starts_empty() -> None:
    """Bytes left over from a dropped link must not be read as the next connection's reply."""
    transport = MemoryTransport(lambda data: data + b"-leftover", timeout=0.05)
    await transport.open()
    await transport.write(b"one")
    assert await transport.read_exactly(3) == b"one"
    await transport.close()
    transport.feed(b"late reply to the dead link")
    await transport.open()
    await transport.write(b"two")
    assert await transport.read_exactly(3) == b"two"


async def test_scripted_transport_answers_in_order_then_goes_silent() -> None:
    transport = ScriptedTransport([b"first", b"", b"third"], timeout=0.05)
    await transport.open()
    answers: list[bytes | None] = []
    for request in (b"1", b"2", b"3", b"4"):
        await transport.write(request)
        try:
            answers.append(await transport.read_exactly(5))
        except TransportTimeout:
            answers.append(None)
    assert answers == [b"first", None, b"third", None]
    assert transport.written == [b"1", b"2", b"3", b"4"]

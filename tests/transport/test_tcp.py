"""TcpTransport against tiny loopback servers (STYLE §4.9 item 2)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.vectors.c3 import vector
from zkpull import PanelClient
from zkpull.protocol.errors import ConnectError, ConnectionClosed, TransportTimeout
from zkpull.protocol.frames import FrameDecoder, encode_frame
from zkpull.transport import TcpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT = 0.2


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    """Run *handler* for each connection on 127.0.0.1:<free port>; yield the port."""
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; returns when the client goes away


async def test_open_write_read_exactly() -> None:
    async with serve(echo) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        assert not transport.is_open
        await transport.open()
        await transport.open()  # idempotent
        assert transport.is_open
        await transport.write(b"\xaa\x01\x01\x00\x00P<U")
        assert await transport.read_exactly(5) == b"\xaa\x01\x01\x00\x00"
        assert await transport.read_exactly(3) == b"P<U"
        await transport.close()
        assert not transport.is_open


async def test_read_exactly_assembles_fragments() -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        for byte in b"abcdef":
            writer.write(bytes((byte,)))
            await writer.drain()
            await asyncio.sleep(0.005)
        await reader.read()

    async with serve(dribble) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await transport.write(b"?")
        assert await transport.read_exactly(6) == b"abcdef"
        await transport.close()


async def test_read_timeout() -> None:
    async with serve(silent) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await transport.write(b"ping")
        started = time.monotonic()
        with pytest.raises(TransportTimeout) as info:
            await transport.read_exactly(5)
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.5
        assert isinstance(info.value.__cause__, TimeoutError)
        await transport.close()


async def test_read_timeout_keeps_partial_data() -> None:
    """A timed-out read consumes nothing: the bytes are there for the next read."""
    sent = asyncio.Event()

    async def half_then_rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"abc")
        await writer.drain()
        await sent.wait()
        writer.write(b"de")
        await writer.drain()
        await reader.read()

    async with serve(half_then_rest) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        with pytest.raises(TransportTimeout):
            await transport.read_exactly(5)
        sent.set()
        assert await transport.read_exactly(5) == b"abcde"
        await transport.close()


async def test_eof_mid_read_is_connection_closed() -> None:
    async def half_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.write(bytes.fromhex("aa01c84800"))  # header of a 72-byte reply, then nothing
        await writer.drain()

    async with serve(half_frame) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await transport.write(b"?")
        assert await transport.read_exactly(5) == bytes.fromhex("aa01c84800")
        with pytest.raises(ConnectionClosed) as info:
            await transport.read_exactly(75)
        assert isinstance(info.value.__cause__, asyncio.IncompleteReadError)
        await transport.close()


async def test_eof_before_any_byte_is_connection_closed() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    async with serve(hang_up) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        with pytest.raises(ConnectionClosed):
            await transport.read_exactly(5)
        await transport.close()


async def test_connection_refused_is_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
    with pytest.raises(ConnectError) as info:
        await transport.open()
    assert isinstance(info.value.__cause__, OSError)
    assert not transport.is_open
    await transport.close()


async def test_connect_timeout_is_bounded() -> None:
    """A listener whose accept backlog is full drops our SYN: connect must give up in time."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        started = time.monotonic()
        with pytest.raises(ConnectError) as info:
            await transport.open()
        assert time.monotonic() - started < TIMEOUT + 0.5
        assert isinstance(info.value.__cause__, TimeoutError)
        assert not transport.is_open
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_close_is_idempotent_and_never_raises() -> None:
    never_opened = TcpTransport("127.0.0.1", 1, timeout=TIMEOUT)
    await never_opened.close()
    await never_opened.close()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    async with serve(hang_up) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        await transport.open()
        await asyncio.sleep(0.05)  # the peer is gone: close must still be quiet
        await transport.close()
        await transport.close()
        assert not transport.is_open


async def test_write_and_read_after_close_are_connection_closed() -> None:
    async with serve(echo) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        with pytest.raises(ConnectionClosed):
            await transport.write(b"never opened")
        await transport.open()
        await transport.close()
        with pytest.raises(ConnectionClosed):
            await transport.write(b"x")
        with pytest.raises(ConnectionClosed):
            await transport.read_exactly(1)


async def test_reopen_after_close() -> None:
    async with serve(echo) as port:
        transport = TcpTransport("127.0.0.1", port, timeout=TIMEOUT)
        for _ in range(2):
            await transport.open()
            await transport.write(b"hi")
            assert await transport.read_exactly(2) == b"hi"
            await transport.close()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TcpTransport("127.0.0.1", 4370, timeout=0)


async def test_panel_client_over_tcp_with_fragmented_replies() -> None:
    """Captured replies dribbled one byte per segment still make whole frames."""
    script = [
        vector("cap_connect_session_reply_err13").wire,
        vector("cap_connect_sessionless_reply_ok").wire,
        vector("cap_getparam_sl_reply_4").wire,
        vector("cap_connect_sessionless_reply_ok").wire,  # DISCONNECT
    ]
    received: list[bytes] = []

    async def panel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(4096):
            for frame in decoder.feed(data):
                received.append(encode_frame(frame))
                for byte in script.pop(0):
                    writer.write(bytes((byte,)))
                    await writer.drain()

    async with serve(panel) as port:
        client = PanelClient.tcp("127.0.0.1", port, timeout=TIMEOUT)
        async with client:
            values = await client.get_params(
                ["~SerialNumber", "LockCount", "AuxInCount", "AuxOutCount"]
            )
        assert values["~SerialNumber"] == "DDG8130016092200401"
        assert not client.connected
    assert received == [
        vector("cap_connect_session_req_nopw").wire,
        vector("cap_connect_sessionless_req_nopw").wire,
        vector("cap_getparam_sl_req_4").wire,
        vector("cap_disconnect_sl_req").wire,
    ]

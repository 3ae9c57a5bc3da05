"""Test clients for the simulator: the codec's client-side Session over memory or loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from zkpull.protocol import bigdata, tables
from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import ConnectionClosed
from zkpull.protocol.session import Response, Session
from zkpull.simulator import FakePanel, ManualClock

T0 = datetime(2026, 12, 3, 16, 40, 5)  # noqa: DTZ001 panel local time is naive
TIMEOUT = 5.0


def clock() -> ManualClock:
    return ManualClock(T0)


class MemClient:
    """Synchronous client over `FakePanel.connection()` (no sockets)."""

    def __init__(self, panel: FakePanel) -> None:
        self.panel = panel
        self.conn = panel.connection()
        self.session = Session()

    def send(self, data: bytes) -> Response:
        self.session.receive(self.conn.receive(data))
        reply = self.session.next_reply()
        assert reply is not None, "no reply"
        return reply

    def connect(self, dialect: Dialect = Dialect.SESSION, password: str = "") -> Response:
        return self.send(self.session.connect(dialect, password))

    def request(self, command: int, payload: bytes = b"") -> Response:
        return self.send(self.session.request(command, payload))

    def download(self, reply: Response) -> bytes:
        """Follow a big-data announce to the end; return the whole transfer."""
        return _collect(reply, self.request)


class TcpClient:
    """Asynchronous client over a real loopback TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.session = Session()

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> TcpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> Response:
        self.writer.write(data)
        await self.writer.drain()
        while (reply := self.session.next_reply()) is None:
            chunk = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            if not chunk:
                raise ConnectionClosed("simulator closed the connection")
            self.session.receive(chunk)
        return reply

    async def connect(self, dialect: Dialect = Dialect.SESSION, password: str = "") -> Response:
        return await self.send(self.session.connect(dialect, password))

    async def request(self, command: int, payload: bytes = b"") -> Response:
        return await self.send(self.session.request(command, payload))

    async def download(self, reply: Response) -> bytes:
        assert reply.code == Reply.PREPARE_DATA
        assembler = bigdata.Assembler(bigdata.decode_announce(reply.payload))
        parts = []
        while not assembler.done:
            chunk = await self.request(Command.READ_DATA, assembler.next_request())
            assert chunk.is_ok, chunk
            parts.append(assembler.add(chunk.payload))
        assert assembler.crc_matches()
        assert (await self.request(Command.FREE_DATA)).is_ok
        return b"".join(parts)

    async def read_eof(self) -> bytes:
        """Everything until the simulator closes the connection."""
        return await asyncio.wait_for(self.reader.read(), TIMEOUT)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def _collect(reply: Response, request: object) -> bytes:
    assert reply.code == Reply.PREPARE_DATA
    assembler = bigdata.Assembler(bigdata.decode_announce(reply.payload))
    parts = []
    while not assembler.done:
        chunk = request(Command.READ_DATA, assembler.next_request())  # type: ignore[operator]
        assert chunk.is_ok, chunk
        parts.append(assembler.add(chunk.payload))
    assert assembler.crc_matches()
    assert request(Command.FREE_DATA).is_ok  # type: ignore[operator]
    return b"".join(parts)


def get_data(table_id: int, field_ids: tuple[int, ...], *, new_only: bool = False,
             conditions: tuple[tuple[int, bytes], ...] = ()) -> bytes:  # fmt: skip
    return tables.encode_get_data(tables.GetDataRequest(table_id, field_ids, new_only, conditions))


def decode_rows(
    table_id: int, field_ids: tuple[int, ...], data: bytes
) -> list[tuple[int | str | bytes, ...]]:
    """Decode a GETDATA reply as integers (all requested fields assumed integer)."""
    decoder = tables.RecordDecoder(tables.GetDataRequest(table_id, field_ids))
    rows = decoder.feed(data)
    decoder.finish()
    return [tuple(int.from_bytes(v, "little") for v in row) for row in rows]

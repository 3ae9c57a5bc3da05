"""Big-data downloads: announce, READ_DATA loop, FREE_DATA, CRC-32; 100,000 transactions over TCP."""

from __future__ import annotations

import struct
import time
import zlib

from zkpull.protocol.bigdata import decode_announce
from zkpull.protocol.constants import Command, Reply
from zkpull.protocol.tables import decode_table_struct
from zkpull.simulator import FakePanel, PanelConfig, Simulator

from .simhelpers import MemClient, TcpClient, clock, decode_rows, get_data

TX = (1, 2, 3, 4, 5, 6, 7)


async def test_100000_transactions_over_tcp() -> None:
    config = PanelConfig(transactions=100_000, users=50)
    async with Simulator([config], clock=clock()) as sim:
        panel = sim.panels[0]
        assert len(panel.transactions) == 100_000
        client = await TcpClient.open(sim.ports[0])
        await client.connect()
        started = time.perf_counter()
        reply = await client.request(Command.GET_DATA, get_data(5, TX, new_only=True))
        assert reply.code == Reply.PREPARE_DATA
        info = decode_announce(reply.payload)
        assert (info.compressed, info.chunk_length) == (0, 5 * 1024 - 12)
        assert info.transfer_length == info.original_length > 1_500_000
        data = await client.download(reply)
        elapsed = time.perf_counter() - started
        assert zlib.crc32(data) == info.crc32
        rows = decode_rows(5, TX, data)
        assert len(rows) == 100_000
        assert rows == [tuple(r) for r in panel.transactions.rows()]
        times = [row[6] for row in rows]
        assert times == sorted(times)
        assert len(set(times)) == len(times)
        assert elapsed < 20
        assert (await client.request(Command.GET_DATA_OK, b"\x05")).is_ok
        reply = await client.request(Command.GET_DATA, get_data(5, TX, new_only=True))
        assert reply.code == Reply.OK
        assert reply.payload == bytes((5, 7, *TX))
        await client.close()


def test_read_beyond_the_buffer_and_without_a_buffer_is_minus_11() -> None:
    client = MemClient(FakePanel(PanelConfig(transactions=1000), clock=clock()))
    client.connect()
    assert client.request(Command.READ_DATA, struct.pack("<I", 0)).error_code == -11
    reply = client.request(Command.GET_DATA, get_data(5, TX))
    size = decode_announce(reply.payload).transfer_length
    assert client.request(Command.READ_DATA, struct.pack("<I", size)).error_code == -11
    last = client.request(Command.READ_DATA, struct.pack("<I", size - 10))
    assert last.payload == struct.pack("<I", size - 10) + last.payload[4:]
    assert len(last.payload) == 14
    assert client.request(Command.FREE_DATA).is_ok
    assert client.request(Command.READ_DATA, struct.pack("<I", 0)).error_code == -11


def test_prepare_data_changes_maxlen_and_table_struct_goes_big() -> None:
    client = MemClient(FakePanel(clock=clock()))
    client.connect()
    assert client.request(Command.GET_TABLE_STRUCT).code == Reply.OK  # ~1.2 kB fits 5 kB
    assert client.request(Command.PREPARE_DATA, struct.pack("<II", 0, 256)).is_ok
    reply = client.request(Command.GET_TABLE_STRUCT)
    assert reply.code == Reply.PREPARE_DATA
    assert decode_announce(reply.payload).chunk_length == 244
    assert len(decode_table_struct(client.download(reply))) == 13


def test_hash_data_of_a_download() -> None:
    client = MemClient(FakePanel(PanelConfig(transactions=500), clock=clock()))
    client.connect()
    info = decode_announce(client.request(Command.GET_DATA, get_data(5, TX)).payload)
    assert (
        int.from_bytes(client.request(Command.HASH_DATA, b"\x08").payload, "little") == info.crc32
    )

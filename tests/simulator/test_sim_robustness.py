"""Malformed input never crashes the simulator: the bad connection is counted and closed, others go on."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpull.protocol.constants import Command, Dialect
from zkpull.protocol.frames import Frame, encode_frame
from zkpull.protocol.tables import encode_records
from zkpull.simulator import FakePanel, Firmware, PanelConfig, Simulator

from .simhelpers import TIMEOUT, TcpClient, clock

GOOD = encode_frame(Frame(Command.CONNECT))
BAD_CRC = GOOD[:-3] + b"\x00\x00" + GOOD[-1:]
BAD_START = b"\x55" + GOOD[1:]
BAD_END = GOOD[:-1] + b"\x00"
OVERSIZE = b"\xaa\x01\x08\xff\xff"  # announces 65535 bytes: refused before buffering any
TRUNCATED = encode_frame(Frame(Command.SET_DATA, bytes(3000)))[:1500]


@pytest.mark.parametrize(
    "junk",
    [BAD_CRC, BAD_START, BAD_END, OVERSIZE, TRUNCATED, random.Random(1).randbytes(5000)],
    ids=["bad-crc", "bad-start", "bad-end", "oversize", "truncated", "random"],
)
async def test_malformed_connection_is_closed_and_counted_while_another_keeps_working(
    junk: bytes,
) -> None:
    async with Simulator([PanelConfig(firmware=Firmware.SESSIONLESS)], clock=clock()) as sim:
        panel = sim.panels[0]
        good = await TcpClient.open(sim.ports[0])
        assert (await good.connect(Dialect.SESSIONLESS)).is_ok
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.ports[0])
        writer.write(junk)
        if junk is TRUNCATED:
            writer.write_eof()  # half a request, then the client goes away
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        await writer.wait_closed()
        assert panel.stats.malformed == 1
        assert (await good.request(Command.GET_DATA_COUNT, b"\x01")).is_ok
        again = await TcpClient.open(sim.ports[0])
        assert (await again.connect(Dialect.SESSIONLESS)).is_ok
        await again.close()
        await good.close()


async def test_many_garbage_connections_at_once() -> None:
    async with Simulator([PanelConfig()], clock=clock()) as sim:
        rng = random.Random(5)

        async def spray() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.ports[0])
            writer.write(b"\xaa" + rng.randbytes(rng.randrange(1, 300)))
            writer.write_eof()
            await asyncio.wait_for(reader.read(), TIMEOUT)
            writer.close()
            await writer.wait_closed()

        await asyncio.gather(*(spray() for _ in range(30)))
        client = await TcpClient.open(sim.ports[0])
        assert (await client.connect()).is_ok
        await client.close()
        assert sim.panels[0].stats.malformed >= 25  # a few may have ended at a frame boundary


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_connection_never_raises_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    panel = FakePanel(PanelConfig(users=0), clock=clock())
    connection = panel.connection()
    connection.receive(GOOD)
    for chunk in chunks:
        connection.receive(b"\xaa" + chunk)
    connection.eof()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFF), st.binary(max_size=40))
def test_every_command_with_arbitrary_payload_gets_an_answer(command: int, payload: bytes) -> None:
    panel = FakePanel(PanelConfig(users=2, transactions=3), clock=clock())
    connection = panel.connection()
    connection.receive(GOOD)
    reply = connection.receive(encode_frame(Frame(command, payload)))
    assert reply.startswith(b"\xaa") or connection.closed  # an answer, or a deliberate hang-up


def test_setdata_text_that_is_not_utf8_is_refused() -> None:
    panel = FakePanel(PanelConfig(users=0), clock=clock())
    connection = panel.connection()
    connection.receive(GOOD)
    payload = encode_records(1, (3, 8), [(1, b"\xff" * 200)])
    assert connection.receive(encode_frame(Frame(Command.SET_DATA, payload))) == encode_frame(
        Frame(0xC9, b"\xf5")
    )

"""The client's reply paths end to end: PanelClient over the memory transport, against a
"panel" whose replies come from the fuzzer. Covers the schema read, GETDATA through the 0x0D
big-data path (announce, READ_DATA chunks, FREE_DATA, CRC-32), the transaction hot path and
the binary -> key/value real-time log switch.

Input: byte 0 = options, then replies `[kind][len u16 LE][payload]`. kind bits 0-1 pick the
reply code (OK, ERROR, 0x0D); bit 2 lets the harness put the right READ_DATA offset or the
GETDATA echo in front of the payload, so mutations get past those checks. When the script
runs out the panel answers "error", so every input ends. Only ZKError may escape.
"""

from __future__ import annotations

import asyncio

from zkpull.client import PanelClient
from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import ZKError
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.tables import encode_records, encode_table_struct
from zkpull.simulator.layouts import NEWER_LAYOUT
from zkpull.transport.memory import MemoryTransport

from .support import vector_payloads

_CODES = (Reply.OK, Reply.ERROR, Reply.PREPARE_DATA, Reply.OK)
_LOOP = asyncio.new_event_loop()


class _ScriptedPanel:
    def __init__(self, script: bytes) -> None:
        self.script = script
        self.position = 0
        self.decoder = FrameDecoder()
        self.requests = 0

    def __call__(self, wire: bytes) -> bytes:
        (request,) = self.decoder.feed(wire)
        self.requests += 1
        if request.command == Command.CONNECT:
            return encode_frame(Frame(Reply.OK))
        if self.requests > 2000:  # a runaway loop in the client would show up as a hang
            raise AssertionError("the client kept asking: more than 2000 requests")
        if self.position + 3 > len(self.script):
            return encode_frame(Frame(Reply.ERROR, b"\x9d"))  # -99: the script ran out
        kind = self.script[self.position]
        size = int.from_bytes(self.script[self.position + 1 : self.position + 3], "little")
        payload = self.script[self.position + 3 : self.position + 3 + size]
        self.position += 3 + size
        if kind & 0x04:
            if request.command == Command.READ_DATA:
                payload = request.data[:4] + payload
            elif request.command == Command.GET_DATA:
                count = request.data[1] if len(request.data) > 1 else 0
                payload = request.data[: 2 + count] + payload
        return encode_frame(Frame(_CODES[kind & 0x03], payload))


async def _session(client: PanelClient) -> None:
    await client.connect()
    try:
        await client.table("transaction")
    except KeyError:
        return  # a panel without the table: the documented KeyError of the lookup
    try:
        async for event in client.iter_transactions(new_only=True):
            event.to_legacy_line()
    except KeyError as exc:
        # A schema whose transaction table lacks one of the 7 fields: `Table.field` raises
        # KeyError, as documented. Only that lookup may raise it.
        if "has no field" not in str(exc):
            raise
        return
    await client.commit_new_records()
    for record in await client.get_rtlog():
        record.to_legacy_line()


def client_bigdata(data: bytes) -> None:
    if not data:
        return
    panel = _ScriptedPanel(data[1:])
    transport = MemoryTransport(panel, timeout=5.0)
    client = PanelClient(
        transport, dialect=Dialect.SESSIONLESS, verify_bigdata_crc=not data[0] & 0x01
    )
    try:
        _LOOP.run_until_complete(_session(client))
    except ZKError:
        pass
    finally:
        _LOOP.run_until_complete(client.close())


def _reply(kind: int, payload: bytes) -> bytes:
    return bytes((kind,)) + len(payload).to_bytes(2, "little") + payload


def client_seeds() -> list[bytes]:
    from zkpull.protocol import bigdata  # noqa: PLC0415

    schema = encode_table_struct(NEWER_LAYOUT)
    rows = [(12345, 7, 4, 1, 0, 0, 800_000_000 + i) for i in range(40)]
    records = encode_records(5, (1, 2, 3, 4, 5, 6, 7), rows)
    info = bigdata.BigDataInfo(0, len(records), len(records), bigdata.checksum(records), 256)
    chunks = b"".join(
        _reply(0x04, records[offset : offset + 256]) for offset in range(0, len(records), 256)
    )
    rtlog = [p for p in vector_payloads() if len(p) % 16 == 0 and p][:2]
    direct = _reply(0, schema) + _reply(0x04, records[9:]) + _reply(0, b"")
    return [
        b"\x00" + direct + b"".join(_reply(0, p) for p in rtlog),
        b"\x00" + _reply(0, schema) + _reply(2, bigdata.encode_announce(info)) + chunks,
        b"\x01" + _reply(0, schema) + _reply(2, bigdata.encode_announce(info)) + chunks,
        b"\x00" + direct + _reply(0, b"x" * 20) + _reply(0, b"time=2024-01-01 00:00:00\tevent=1"),
    ]

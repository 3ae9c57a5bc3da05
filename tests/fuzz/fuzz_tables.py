"""Table data: the schema text (0x06), GETDATA / SETDATA / DELETEDATA payloads, the big-data
announce and chunks (0x0D / READ_DATA), and the small parameter / control parsers.

Only MessageError may escape. The record decoder must give the same rows and the same verdict
however the data is chunked (big tables arrive in pieces).
"""

from __future__ import annotations

import contextlib

from zkpull.protocol import bigdata, params
from zkpull.protocol.constants import BIGDATA_ANNOUNCE_SIZE
from zkpull.protocol.errors import MessageError
from zkpull.protocol.tables import (
    Field,
    GetDataRequest,
    RecordDecoder,
    decode_count,
    decode_delete_data,
    decode_get_data,
    decode_row,
    decode_table_struct,
    encode_get_data,
    encode_records,
    encode_table_struct,
)

from .support import splits, vectors

_TYPES = "isSBbL"


def table_schema(data: bytes) -> None:
    try:
        tables = decode_table_struct(data)
    except MessageError:
        return
    for table in tables.values():
        if not (0 <= table.id <= 0xFF and all(0 <= f.id <= 0xFF for f in table.fields)):
            raise AssertionError(f"table or field id beyond a byte in {table!r}")
        table.select(None)
        for field in table.fields:
            if table.field(field.name.upper()).name.lower() != field.name.lower():
                raise AssertionError("case-insensitive field lookup found another field")
        if table.fields:  # what we accept, we can ask for
            encode_get_data(GetDataRequest(table.id, tuple(f.id for f in table.fields[:255])))
    again = decode_table_struct(encode_table_struct(tables.values()))
    if again != tables:
        raise AssertionError("schema does not round-trip through its text form")


def _records(chunks: list[bytes], expected: GetDataRequest | None) -> tuple[object, ...]:
    decoder = RecordDecoder(expected)
    rows: list[tuple[bytes, ...]] = []
    try:
        for chunk in chunks:
            rows += decoder.feed(chunk)
            if decoder.field_ids and any(len(row) != len(decoder.field_ids) for row in rows):
                raise AssertionError("a row without one value per field")
        decoder.finish()
    except MessageError:
        return ("error", rows)
    return ("ok", rows, decoder.table_id, decoder.field_ids, decoder.records)


def table_data(data: bytes) -> None:
    """GETDATA reply / SETDATA request records, plus the simulator-side request parsers."""
    if not data:
        return
    flags, body = data[0], data[1:]
    expected = None
    if flags & 0x01 and len(body) >= 2:
        expected = GetDataRequest(body[0], tuple(body[2 : 2 + body[1]]) or (1,))
    whole = _records([body], expected)
    split = _records(list(splits(body, flags >> 1)), expected)
    if whole != split:
        raise AssertionError("records depend on how the data was chunked")
    if whole[0] == "ok":
        _, rows, table_id, field_ids, count = whole
        assert isinstance(rows, list)
        assert isinstance(field_ids, tuple)
        if count != len(rows):
            raise AssertionError("record counter disagrees with the rows")
        schema = [Field(f"f{i}", _TYPES[fid % len(_TYPES)], fid) for i, fid in enumerate(field_ids)]
        for row in rows:
            with contextlib.suppress(MessageError):
                decode_row(schema, row)
        if all(len(value) <= 0xFF for row in rows for value in row):
            assert isinstance(table_id, int)
            rebuilt = encode_records(table_id, field_ids, rows)
            if rebuilt != body:
                raise AssertionError("records do not re-encode to their bytes")
    for parse in (decode_get_data, decode_delete_data, decode_count):
        with contextlib.suppress(MessageError):
            parse(body)


def big_data(data: bytes) -> None:
    """The 0x0D announce, then READ_DATA replies `[offset u32][chunk]` as the client takes them."""
    try:
        info = bigdata.decode_announce(data[:BIGDATA_ANNOUNCE_SIZE])
    except MessageError:
        return
    if bigdata.decode_announce(bigdata.encode_announce(info)) != info:
        raise AssertionError("announce does not round-trip")
    try:
        assembler = bigdata.Assembler(info)
    except MessageError:
        return
    rest = data[BIGDATA_ANNOUNCE_SIZE:]
    received = bytearray()
    position = 0
    try:
        while not assembler.done and position < len(rest):
            size = rest[position] + 1
            reply = rest[position + 1 : position + 1 + size]
            position += 1 + size
            if len(reply) >= 4 and reply[0] & 0x80:  # mostly well-addressed chunks
                reply = assembler.offset.to_bytes(4, "little") + reply[4:]
            before = assembler.offset
            chunk = assembler.add(reply)
            if assembler.offset != before + len(chunk) or not chunk:
                raise AssertionError("assembler offset does not follow the chunks")
            received += chunk
    except MessageError:
        return
    if len(received) > info.transfer_length:
        raise AssertionError("assembler took more than the announced length")
    if assembler.done and assembler.crc_matches() != (
        bigdata.checksum(bytes(received)) == info.crc32
    ):
        raise AssertionError("running CRC-32 disagrees with the whole transfer's")


def param_text(data: bytes) -> None:
    """GETPARAM replies / SETPARAM requests, GETPARAM names, CONTROL payloads, READ_DATA offsets."""
    try:
        values = params.decode_params(data)
    except MessageError:
        values = None
    if values is not None and any("," in key or "," in value for key, value in values.items()):
        raise AssertionError(f"a parameter kept its separator: {values!r}")
    for parse in (params.decode_param_names, params.decode_control, bigdata.decode_offset):
        with contextlib.suppress(MessageError):
            parse(data)


def _payloads(*words: str) -> list[bytes]:
    found = []
    for name, wire in vectors():
        if wire[:1] == b"\xaa" and any(word in name for word in words):
            data = wire[5:-3]
            found.append(data[4:] if "session" in name else data)
    return found


def schema_seeds() -> list[bytes]:
    return [*_payloads("datatable", "table_struct"), b"user=1,UID=i1,Name=s8,Tpl=B3\nx=2\n"]


def data_seeds() -> list[bytes]:
    payloads = _payloads("getdata", "setdata", "deletedata", "getdatacount")
    seeds = [bytes((flags,)) + p for p in payloads for flags in (0x00, 0x01, 0x02, 0x07)]
    rows = [(1, 2, 3, 4, 5, 6, 7), (0xFFFFFFFF, 0, 1, 2, 3, 4, 5)]
    seeds.append(b"\x01" + encode_records(5, (1, 2, 3, 4, 5, 6, 7), rows))
    seeds.append(b"\x04" + encode_records(1, (1, 8, 9), [(1, "Ann", b"\x00\xff")] * 3))
    return seeds


def bigdata_seeds() -> list[bytes]:
    payload = b"\x05\x02\x01\x02" + b"\x01\x07\x01\x08" * 8
    info = bigdata.BigDataInfo(0, len(payload), len(payload), bigdata.checksum(payload), 16)
    replies = b""
    for offset in range(0, len(payload), 16):
        reply = offset.to_bytes(4, "little") + payload[offset : offset + 16]
        replies += bytes((len(reply) - 1,)) + reply
    return [bigdata.encode_announce(info) + replies, bigdata.encode_announce(info)]


def param_seeds() -> list[bytes]:
    return [
        *_payloads("getparam", "setparam", "control"),
        b"A=1,B=,C=x\x00",
        b"\x01\x01\x01\x05\x00",
    ]

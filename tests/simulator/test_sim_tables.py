"""Tables: structure text, GETDATA selection / conditions / new-only with GET_DATA_OK, SETDATA upsert,
DELETEDATA, GETDATACOUNT, capacities, PC-to-panel uploads."""

from __future__ import annotations

import struct
import zlib

import pytest

from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.tables import (
    RecordDecoder,
    decode_count,
    decode_row,
    decode_table_struct,
    encode_delete_data,
    encode_records,
)
from zkpull.simulator import FakePanel, Firmware, PanelConfig

from .simhelpers import MemClient, clock, decode_rows, get_data

TX = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)  # transaction fields: Cardno, Pin, Verified, DoorID, EventType, InOutState, Time


def connected(firmware: Firmware = Firmware.SESSION, **config: object) -> MemClient:
    config.setdefault("users", 0)
    client = MemClient(FakePanel(PanelConfig(firmware=firmware, **config), clock=clock()))  # type: ignore[arg-type]
    dialect = Dialect.SESSION if firmware is Firmware.SESSION else Dialect.SESSIONLESS
    assert client.connect(dialect).is_ok
    return client


def count(client: MemClient, table_id: int) -> int:
    return decode_count(client.request(Command.GET_DATA_COUNT, bytes((table_id,))).payload)


def test_table_struct_newer_layout() -> None:
    client = connected()
    layout = decode_table_struct(client.request(Command.GET_TABLE_STRUCT).payload)
    assert list(layout) == [
        "user", "userauthorize", "holiday", "timezone", "transaction", "firstcard", "multimcard",
        "inoutfun", "template", "templatev10", "losscard", "usertype", "wiegandfmt",
    ]  # fmt: skip
    assert [f.name for f in layout["user"].fields][:3] == ["UID", "CardNo", "Pin"]
    assert len(layout["timezone"].fields) == 31
    assert layout["timezone"].fields[-1].name == "Hol3Time3"
    assert layout["templatev10"].field("Template").type == "B"


def test_table_struct_legacy_layout_matches_the_capture() -> None:
    client = connected(Firmware.SESSIONLESS)
    text = client.request(Command.GET_TABLE_STRUCT).payload
    assert text.startswith(
        b"user=1,CardNo=i1,Pin=i2,Password=s3,Group=i4,StartTime=i5,EndTime=i6,SuperAuthorize=i7\n"
    )
    assert text.endswith(b"\n")
    assert len(decode_table_struct(text)) == 8


def test_getdata_field_selection_and_conditions() -> None:
    client = connected()
    for n in range(5):
        client.panel.emit(0, door=1 + n % 2, pin=100 + n, card=5000 + n, verify=4, inout=n % 2)
    reply = client.request(Command.GET_DATA, get_data(5, (2, 4)))
    assert decode_rows(5, (2, 4), reply.payload) == [
        (100, 1),
        (101, 2),
        (102, 1),
        (103, 2),
        (104, 1),
    ]
    reply = client.request(Command.GET_DATA, get_data(5, (2,), conditions=((4, b"\x02"),)))
    assert decode_rows(5, (2,), reply.payload) == [(101,), (103,)]
    reply = client.request(
        Command.GET_DATA, get_data(5, (1,), conditions=((4, b"\x01"), (2, b"\x66")))
    )
    assert decode_rows(5, (1,), reply.payload) == [(5002,)]


def test_getdata_unknown_field_is_an_empty_value_and_unknown_table_is_refused() -> None:
    client = connected()
    client.panel.emit(0, door=1, pin=7, card=8, verify=4, inout=0)
    reply = client.request(Command.GET_DATA, get_data(5, (2, 99)))
    assert reply.payload == bytes((5, 2, 2, 99, 1, 7, 0))
    assert client.request(Command.GET_DATA, get_data(42, (1,))).error_code == -11
    assert client.request(Command.GET_DATA, b"\x05\x09").error_code == -11  # truncated request


@pytest.mark.parametrize(
    ("firmware", "ok_code"), [(Firmware.SESSION, Reply.OK), (Firmware.SESSIONLESS, Reply.ERROR)]
)
def test_new_records_only_and_get_data_ok_commit(firmware: Firmware, ok_code: int) -> None:
    client = connected(firmware)
    emit = client.panel.emit
    for pin in (1, 2, 3):
        emit(0, door=1, pin=pin, card=pin, verify=4, inout=0)

    def pins() -> list[int | str | bytes]:
        request = get_data(5, (2,), new_only=True)
        return [
            r[0] for r in decode_rows(5, (2,), client.request(Command.GET_DATA, request).payload)
        ]

    assert pins() == [1, 2, 3]
    assert pins() == [1, 2, 3]  # nothing committed yet
    emit(0, door=1, pin=4, card=4, verify=4, inout=0)
    assert pins() == [1, 2, 3, 4]
    emit(0, door=1, pin=5, card=5, verify=4, inout=0)  # arrives after the read: not committed by it
    reply = client.request(Command.GET_DATA_OK, b"\x05")
    assert reply.code == ok_code
    assert reply.payload == (b"" if ok_code == Reply.OK else b"\x00")
    assert pins() == [5]
    client.request(Command.GET_DATA_OK, b"\x05")
    assert pins() == []
    reply = client.request(Command.GET_DATA, get_data(5, (2,)))
    assert len(decode_rows(5, (2,), reply.payload)) == 5  # a plain read still sees everything


def test_transaction_capacity_drops_the_oldest_and_keeps_the_pointer_valid() -> None:
    client = connected(transaction_capacity=5)
    for pin in range(1, 5):
        client.panel.emit(0, door=1, pin=pin, card=pin, verify=4, inout=0)
    client.request(Command.GET_DATA, get_data(5, (2,), new_only=True))
    client.request(Command.GET_DATA_OK, b"\x05")  # pointer after pin 4
    for pin in range(5, 12):
        client.panel.emit(0, door=1, pin=pin, card=pin, verify=4, inout=0)
    assert count(client, 5) == 5
    reply = client.request(Command.GET_DATA, get_data(5, (2,), new_only=True))
    assert [r[0] for r in decode_rows(5, (2,), reply.payload)] == [7, 8, 9, 10, 11]


USER_FIELDS = (2, 3, 4, 8)  # newer layout: CardNo, Pin, Password, Name


def user_rows(client: MemClient) -> list[tuple[object, ...]]:
    table = decode_table_struct(client.request(Command.GET_TABLE_STRUCT).payload)["user"]
    fields = [f for f in table.fields if f.id in USER_FIELDS]
    decoder = RecordDecoder()
    raw = decoder.feed(client.request(Command.GET_DATA, get_data(1, USER_FIELDS)).payload)
    return [tuple(decode_row(fields, row).values()) for row in raw]


def test_setdata_upserts_on_pin_and_deletedata_removes() -> None:
    client = connected()
    rows = [(11, 1, "", "Ann"), (22, 2, "pw", "Bob")]
    assert client.request(Command.SET_DATA, encode_records(1, USER_FIELDS, rows)).is_ok
    assert client.request(
        Command.SET_DATA, encode_records(1, USER_FIELDS, [(33, 1, "x", "Ann B")])
    ).is_ok
    assert user_rows(client) == [
        (22, 2, "pw", "Bob"),
        (33, 1, "x", "Ann B"),
    ]  # delete + append order
    assert count(client, 1) == 2
    assert client.request(Command.DELETE_DATA, encode_delete_data(1, (3,), [(2,)])).is_ok
    assert user_rows(client) == [(33, 1, "x", "Ann B")]
    assert client.request(Command.DELETE_DATA, encode_delete_data(1, (), [])).is_ok
    assert count(client, 1) == 0


def test_deletedata_matches_all_fields_of_any_key_tuple() -> None:
    client = connected()
    rows = [
        (1, 10, 1),
        (1, 11, 2),
        (2, 10, 1),
        (3, 10, 4),
    ]  # userauthorize: Pin, TimezoneId, DoorId
    client.request(Command.SET_DATA, encode_records(2, (1, 2, 3), rows))
    assert count(client, 2) == 4
    client.request(Command.DELETE_DATA, encode_delete_data(2, (1, 2), [(1, 10), (3, 10)]))
    assert decode_rows(
        2, (1, 2, 3), client.request(Command.GET_DATA, get_data(2, (1, 2, 3))).payload
    ) == [(1, 11, 2), (2, 10, 1)]


def test_deletedata_on_transactions() -> None:
    client = connected()
    for pin in (1, 2, 1):
        client.panel.emit(0, door=1, pin=pin, card=9, verify=4, inout=0)
    client.request(Command.DELETE_DATA, encode_delete_data(5, (2,), [(1,)]))
    assert count(client, 5) == 1
    client.request(Command.DELETE_DATA, encode_delete_data(5, (), []))
    assert count(client, 5) == 0


def test_user_capacity_is_minus_18_and_all_or_nothing() -> None:
    client = connected(user_capacity=3)
    client.request(Command.SET_DATA, encode_records(1, (3,), [(1,), (2,)]))
    assert client.request(Command.SET_DATA, encode_records(1, (3,), [(3,), (4,)])).error_code == -18
    assert count(client, 1) == 2
    assert client.request(
        Command.SET_DATA, encode_records(1, (3,), [(2,), (3,)])
    ).is_ok  # one new, one update
    assert count(client, 1) == 3


def test_setdata_rejections() -> None:
    legacy = connected(Firmware.SESSIONLESS)
    assert (
        legacy.request(Command.SET_DATA, encode_records(1, (2, 3), [(1, "123456789AB")])).error_code
        == -11
    )
    assert legacy.request(Command.SET_DATA, encode_records(5, (1,), [(1,)])).error_code == -11
    assert legacy.request(Command.SET_DATA, b"\x01\x02\x02").error_code == -11
    assert legacy.request(Command.SET_DATA, encode_records(1, (99,), [(1,)])).error_code == -11
    newer = connected()
    assert newer.request(
        Command.SET_DATA, encode_records(1, (3, 8), [(1, "A much longer name")])
    ).is_ok


def test_count_of_preloaded_users_and_empty_request() -> None:
    client = connected(users=25)
    assert count(client, 1) == 25
    assert client.request(Command.GET_DATA_COUNT).error_code == -11


def test_upload_through_big_data_then_free_executes_setdata() -> None:
    client = connected()
    data = encode_records(1, (3, 2), [(pin, 7000 + pin) for pin in range(1, 301)])
    assert client.request(Command.PREPARE_DATA, struct.pack("<II", len(data), 1024)).is_ok
    for offset in range(0, len(data), 1000):
        assert client.request(
            Command.DATA, struct.pack("<I", offset) + data[offset : offset + 1000]
        ).is_ok
    hashed = client.request(Command.HASH_DATA, bytes((Command.SET_DATA,)))
    assert int.from_bytes(hashed.payload, "little") == zlib.crc32(data)
    assert client.request(Command.FREE_DATA).is_ok
    assert count(client, 1) == 300
    assert client.request(Command.DATA, b"\x00\x00\x00\x00abc").error_code == -11  # upload is gone

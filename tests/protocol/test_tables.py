"""Data tables: schema, value coercion, record encoding, DELETEDATA and GETDATACOUNT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkpull.protocol import Field, MessageError, Table
from zkpull.protocol.tables import (
    GetDataRequest,
    RecordDecoder,
    coerce_value,
    decode_count,
    decode_delete_data,
    decode_get_data,
    decode_row,
    decode_table_struct,
    decode_value,
    encode_delete_data,
    encode_get_data,
    encode_records,
    encode_table_struct,
    encode_value,
    row_values,
)

USER = Table(
    "user",
    1,
    (
        Field("CardNo", "i", 1),
        Field("Pin", "i", 2),
        Field("Password", "s", 3),
        Field("Group", "i", 4),
        Field("StartTime", "i", 5),
        Field("EndTime", "i", 6),
        Field("SuperAuthorize", "i", 7),
    ),
)
LEGACY_USER_LINE = (
    b"user=1,CardNo=i1,Pin=i2,Password=s3,Group=i4,StartTime=i5,EndTime=i6,SuperAuthorize=i7\n"
)


# -- schema ---------------------------------------------------------------------------------
def test_legacy_schema_line_round_trips() -> None:
    assert decode_table_struct(LEGACY_USER_LINE) == {"user": USER}
    assert encode_table_struct([USER]) == LEGACY_USER_LINE


def test_schema_parsing_tolerates_crlf_blank_lines_trailing_comma_and_nul() -> None:
    text = b"\r\nuser=1,CardNo=i1,Pin=i2,\r\n\r\nlosscard=11,CardNo=i1\x00"
    tables = decode_table_struct(text)
    assert [f.name for f in tables["user"].fields] == ["CardNo", "Pin"]
    assert tables["losscard"].id == 11


@pytest.mark.parametrize(
    "text",
    [
        b"user",
        b"user=x",
        b"user=1,CardNo",
        b"user=1,CardNo=q1",
        b"user=1,CardNo=i",
        b"user=1,CardNo=ix",
        b"=1",
        b"\xff",
    ],
)
def test_bad_schema_lines_are_message_errors(text: bytes) -> None:
    with pytest.raises(MessageError):
        decode_table_struct(text)


def test_field_lookup_and_selection() -> None:
    assert USER.field("cardno") is USER.fields[0]
    with pytest.raises(KeyError, match="Name"):
        USER.field("Name")
    assert USER.select(None) == USER.select(["*"]) == USER.select([]) == USER.fields
    assert USER.select(["Pin", "CardNo"]) == (USER.fields[1], USER.fields[0])


# -- values -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "0100"),
        (1, "0101"),
        (255, "01ff"),
        (256, "020001"),
        (1234567, "0387d612"),
        (0xFFFFFFFF, "04ffffffff"),
        (True, "0101"),
        ("", "00"),
        ("ab", "026162"),
        (b"\x00\x01", "020001"),
    ],
)
def test_encode_value(value: int | str | bytes, wire: str) -> None:
    assert encode_value(value) == bytes.fromhex(wire)


@pytest.mark.parametrize("value", [-1, 2**32, "x" * 256, b"x" * 256])
def test_encode_value_refuses_what_does_not_fit(value: int | str | bytes) -> None:
    with pytest.raises(ValueError, match=r"u32|255"):
        encode_value(value)


def test_decode_value_by_type() -> None:
    assert decode_value("i", b"") == 0
    assert decode_value("i", b"\x87\xd6\x12") == 1234567
    assert decode_value("s", b"Ab") == decode_value("S", b"Ab") == "Ab"
    assert decode_value("s", b"\xff") == "\ufffd"  # never fails on a bad byte
    assert decode_value("B", b"\x00\xff") == b"\x00\xff"
    with pytest.raises(MessageError, match="5 bytes"):
        decode_value("i", bytes(5))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (Field("Pin", "i", 2), 7, 7),
        (Field("Pin", "i", 2), " 12 ", 12),
        (Field("Pin", "i", 2), "", 0),
        (Field("Password", "s", 3), 123, "123"),
        (Field("Password", "s", 3), "", ""),
        (Field("Template", "B", 6), bytearray(b"\x01"), b"\x01"),
    ],
)
def test_coerce_value(field: Field, value: object, expected: object) -> None:
    assert coerce_value(field, value) == expected


@pytest.mark.parametrize("value", ["x", "-1", "1.5"])
def test_coerce_refuses_non_integers_for_integer_fields(value: str) -> None:
    with pytest.raises(ValueError, match="unsigned integer"):
        coerce_value(Field("Pin", "i", 2), value)


def test_row_values_orders_coerces_and_fills_defaults() -> None:
    fields = USER.select(["Pin", "CardNo", "Password"])
    assert row_values(USER, fields, {"cardno": "13", "PIN": 3}) == [3, 13, ""]
    with pytest.raises(ValueError, match="no field"):
        row_values(USER, fields, {"Nmae": "x"})


# -- records --------------------------------------------------------------------------------------
def test_encode_records_then_decode() -> None:
    ids = (2, 1, 3)
    payload = encode_records(1, ids, [(19999, 13375401, "1"), (2, 14128058, "")])
    decoder = RecordDecoder(GetDataRequest(1, ids))
    rows = decoder.feed(payload)
    decoder.finish()
    fields = [USER.fields[i - 1] for i in ids]
    assert [decode_row(fields, row) for row in rows] == [
        {"Pin": 19999, "CardNo": 13375401, "Password": "1"},
        {"Pin": 2, "CardNo": 14128058, "Password": ""},
    ]


def test_encode_records_refuses_a_short_row() -> None:
    with pytest.raises(ValueError, match="2 values for 3 fields"):
        encode_records(1, (1, 2, 3), [(1, 2)])


def test_record_decoder_checks_the_echoed_header() -> None:
    decoder = RecordDecoder(GetDataRequest(5, (1, 2)))
    with pytest.raises(MessageError, match="asked table 5"):
        decoder.feed(encode_records(1, (1, 2), []))


def test_record_decoder_finish_detects_truncation() -> None:
    decoder = RecordDecoder()
    decoder.feed(encode_records(1, (1, 2), [(1, 2)])[:-1])
    with pytest.raises(MessageError, match="undecodable"):
        decoder.finish()
    with pytest.raises(MessageError):
        RecordDecoder().finish()  # not even a header


def test_record_decoder_refuses_zero_fields() -> None:
    with pytest.raises(MessageError, match="no fields"):
        RecordDecoder().feed(b"\x01\x00")


def test_empty_table_reply_has_no_rows() -> None:
    decoder = RecordDecoder()
    assert decoder.feed(b"\x05\x02\x01\x02") == []
    decoder.finish()
    assert (decoder.table_id, decoder.records) == (5, 0)


values = st.one_of(st.integers(0, 0xFFFFFFFF), st.binary(max_size=40))


@given(st.lists(st.integers(1, 255), min_size=1, max_size=8, unique=True), st.data())
def test_records_round_trip_in_any_chunking(ids: list[int], data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.tuples(*[values] * len(ids)), max_size=6), label="rows")
    payload = encode_records(7, ids, rows)
    chunk = data.draw(st.integers(1, 64), label="chunk")
    decoder, got = RecordDecoder(GetDataRequest(7, tuple(ids))), []
    for i in range(0, len(payload), chunk):
        got += decoder.feed(payload[i : i + chunk])
    decoder.finish()
    assert got == [tuple(encode_value(v)[1:] for v in row) for row in rows]


# -- GETDATA request ----------------------------------------------------------------------------
@given(
    st.builds(
        GetDataRequest,
        table_id=st.integers(0, 255),
        field_ids=st.lists(st.integers(0, 255), min_size=1, max_size=20).map(tuple),
        new_only=st.booleans(),
        conditions=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=20)), max_size=4).map(
            tuple
        ),
    )
)
def test_getdata_request_round_trips(request_: GetDataRequest) -> None:
    assert decode_get_data(encode_get_data(request_)) == request_


def test_getdata_request_shapes() -> None:
    assert encode_get_data(GetDataRequest(5, (1, 2), new_only=True)) == bytes.fromhex(
        "05 02 0102 01 01 00"
    )
    condition = GetDataRequest(1, (2,), conditions=((2, b"\x03"),))
    assert encode_get_data(condition) == bytes.fromhex("01 01 02 00 01 02 0103")
    with pytest.raises(ValueError, match=r"1\.\.255"):
        encode_get_data(GetDataRequest(5, ()))
    with pytest.raises(ValueError, match="255 bytes"):
        encode_get_data(GetDataRequest(1, (2,), conditions=((2, bytes(256)),)))
    with pytest.raises(MessageError):
        decode_get_data(b"\x05\x02\x01")


# -- DELETEDATA / GETDATACOUNT ------------------------------------------------------------------
def test_delete_data_round_trips() -> None:
    payload = encode_delete_data(1, (2,), [(2,), (19999,)])
    assert payload == bytes.fromhex("01 01 02 0102 021f4e")
    assert decode_delete_data(payload) == (1, (2,), [(b"\x02",), (b"\x1f\x4e",)])


def test_delete_without_fields_clears_the_table() -> None:
    assert encode_delete_data(2, (), []) == b"\x02\x00"
    assert decode_delete_data(b"\x02\x00") == (2, (), [])


def test_delete_data_errors() -> None:
    with pytest.raises(ValueError, match="one value per condition"):
        encode_delete_data(1, (2, 3), [(1,)])
    for payload in (b"", b"\x01", b"\x01\x01\x02\x03"):
        with pytest.raises(MessageError):
            decode_delete_data(payload)


def test_count_reply() -> None:
    assert decode_count(b"\x03\x00\x00\x00") == 3
    assert decode_count((70000).to_bytes(4, "little")) == 70000
    with pytest.raises(MessageError, match="need 4"):
        decode_count(b"\x03\x00")

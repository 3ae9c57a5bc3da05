"""Hypothesis properties of the codec: framing under any split, round-trips, corruption is
always detected, and garbage only ever raises ProtocolError (never IndexError & co.)."""

from __future__ import annotations

import calendar
import contextlib
import string
import zlib
from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.support import header, panel_time
from zkpull.protocol import (
    ChecksumError,
    Command,
    Dialect,
    Frame,
    FrameDecoder,
    FrameError,
    MessageError,
    ProtocolError,
    Session,
    SessionState,
    decode_time,
    encode_frame,
    encode_time,
)
from zkpull.protocol.bigdata import Assembler, BigDataInfo, decode_announce
from zkpull.protocol.params import decode_params
from zkpull.protocol.rtlog import decode_rtlog, decode_rtlog_kv
from zkpull.protocol.tables import (
    GetDataRequest,
    RecordDecoder,
    decode_get_data,
    decode_table_struct,
    decode_value,
    encode_value,
)

frames = st.builds(
    Frame,
    command=st.integers(0, 0xFF),
    data=st.binary(max_size=3000),
    address=st.integers(0, 0xFF),
)


def _feed_in_chunks(decoder: FrameDecoder, stream: bytes, cuts: list[int]) -> list[Frame]:
    got: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:end])
    return got


# -- framing ----------------------------------------------------------------------------------
@given(st.lists(frames, min_size=1, max_size=6), st.data())
def test_any_split_of_a_stream_gives_the_same_frames(
    batch: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame(frame) for frame in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts"))
    decoder = FrameDecoder()
    assert _feed_in_chunks(decoder, stream, cuts) == batch
    assert decoder.buffered == 0


@given(frames)
def test_any_frame_round_trips(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert len(wire) == len(frame.data) + 8
    assert FrameDecoder().feed(wire) == [frame]


@given(frames, st.data())
def test_any_single_bit_flip_is_rejected(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(frame))
    bit = data.draw(st.integers(0, len(wire) * 8 - 1), label="bit")
    wire[bit // 8] ^= 1 << (bit % 8)
    try:
        got = FrameDecoder().feed(bytes(wire))
    except (ChecksumError, FrameError):  # anything else propagates and fails the test
        return
    # Only a flip that lengthens the length field may leave the decoder waiting for more.
    assert got == []
    assert bit // 8 in (3, 4)
    assert int.from_bytes(wire[3:5], "little") > len(frame.data)


@given(st.integers(1025, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0xFF))
def test_oversize_length_is_rejected_before_buffering(
    length: int, address: int, command: int
) -> None:
    decoder = FrameDecoder(max_data=1024)
    head = bytes((0xAA, address, command)) + length.to_bytes(2, "little")
    with pytest.raises(FrameError, match="exceeds"):
        decoder.feed(head)
    assert decoder.buffered == len(head)


def test_length_0xffff_is_rejected_from_the_header_alone() -> None:
    decoder = FrameDecoder(max_data=1024)
    assert decoder.feed(b"\xaa\x01\xc8\xff") == []
    with pytest.raises(FrameError):
        decoder.feed(b"\xff")


# -- garbage in, ProtocolError out ------------------------------------------------------------
_TEXTY = string.ascii_letters + string.digits + "=,\t\r\n\x00 -:~_"
garbage = st.one_of(
    st.binary(max_size=600),
    st.text(_TEXTY, max_size=300).map(lambda t: t.encode("ascii")),
)
_KV_KEYS = ["time", "pin", "cardno", "eventaddr", "event", "inoutstatus", "verifytype", "index"]
_KV_KEYS += ["sensor", "relay", "alarm", ""]
_kv_values = st.one_of(
    st.integers(-5, 2**40).map(str),
    st.text("0123456789abcdefxyz -:", max_size=12),
    st.datetimes(min_value=panel_time(1990, 1, 1), max_value=panel_time(2200, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
)
_kv_line = st.lists(
    st.tuples(st.sampled_from(_KV_KEYS), st.sampled_from(["=", "", "=="]), _kv_values), max_size=9
).map(lambda items: "\t".join(f"{k}{sep}{v}" for k, sep, v in items))
kv_text = st.lists(_kv_line, max_size=4).map(lambda lines: "\r\n".join(lines).encode("ascii"))
_table_item = st.tuples(
    st.text(string.ascii_letters, max_size=6),
    st.sampled_from(["=", ""]),
    st.sampled_from([*list("isSBbLxX1 "), ""]),
    st.text(string.digits + "x", max_size=3),
)
table_text = st.lists(
    st.lists(_table_item, max_size=5).map(
        lambda items: ",".join(f"{a}{b}{c}{d}" for a, b, c, d in items)
    ),
    max_size=5,
).map(lambda lines: "\n".join(lines).encode("ascii"))


def _only_protocol_errors(decode: Callable[[bytes], object], payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(payload)


@given(st.lists(st.one_of(garbage, st.binary(max_size=40).map(lambda b: b"\xaa" + b)), max_size=5))
def test_frame_decoder_garbage(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_data=512)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            assert decoder.needed() >= 1
    except ProtocolError:
        pass


@given(garbage)
def test_decode_rtlog_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_rtlog, payload)


@given(st.one_of(garbage, kv_text))
def test_decode_rtlog_kv_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_rtlog_kv, payload)


@given(garbage)
def test_decode_params_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_params, payload)


@given(st.one_of(garbage, table_text))
def test_decode_table_struct_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_table_struct, payload)


@given(
    garbage,
    st.lists(st.integers(1, 50), max_size=10),
    st.one_of(st.none(), st.just(GetDataRequest(1, (1, 2, 3)))),
)
def test_record_decoder_garbage(
    payload: bytes, sizes: list[int], expected: GetDataRequest | None
) -> None:
    decoder = RecordDecoder(expected)
    try:
        offset = 0
        for size in [*sizes, len(payload)]:
            for row in decoder.feed(payload[offset : offset + size]):
                assert len(row) == len(decoder.field_ids)
            offset += size
        decoder.finish()
    except ProtocolError:
        pass


@given(garbage)
def test_decode_announce_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_announce, payload)


@given(garbage)
def test_decode_get_data_garbage(payload: bytes) -> None:
    _only_protocol_errors(decode_get_data, payload)


# -- packed time --------------------------------------------------------------------------------
valid_times = st.datetimes(
    min_value=panel_time(2000, 1, 1), max_value=panel_time(2099, 12, 31, 23, 59, 59)
).map(lambda moment: moment.replace(microsecond=0))


@given(valid_times)
def test_packed_time_round_trips(moment: datetime) -> None:
    packed = encode_time(moment)
    assert 0 <= packed <= 0xFFFFFFFF
    assert decode_time(packed) == moment


@st.composite
def impossible_dates(draw: st.DrawFn) -> int:
    year = draw(st.integers(2000, 2099))
    month = draw(st.sampled_from([m for m in range(1, 13) if calendar.monthrange(year, m)[1] < 31]))
    day = draw(st.integers(calendar.monthrange(year, month)[1] + 1, 31))
    seconds = draw(st.integers(0, 86_399))
    return ((year - 2000) * 372 + (month - 1) * 31 + day - 1) * 86_400 + seconds


@given(impossible_dates())
def test_impossible_packed_date_raises_message_error(packed: int) -> None:
    with pytest.raises(MessageError, match="not a real date"):
        decode_time(packed)


@given(st.integers(0, 0xFFFFFFFF))
def test_any_u32_decodes_or_raises_message_error(packed: int) -> None:
    try:
        moment = decode_time(packed)
    except MessageError:
        return
    assert encode_time(moment) == packed


# -- field values ---------------------------------------------------------------------------
@given(st.integers(0, 0xFFFFFFFF))
def test_integer_value_round_trips_in_minimal_bytes(value: int) -> None:
    encoded = encode_value(value)
    assert encoded[0] == len(encoded) - 1 == max(1, (value.bit_length() + 7) // 8)
    assert decode_value("i", encoded[1:]) == value


@given(st.text(max_size=80).filter(lambda t: len(t.encode("utf-8")) <= 255))
def test_string_value_round_trips(value: str) -> None:
    encoded = encode_value(value)
    assert encoded[0] == len(encoded) - 1
    assert decode_value("s", encoded[1:]) == value


@given(st.binary(max_size=255))
def test_byte_value_round_trips(value: bytes) -> None:
    encoded = encode_value(value)
    assert encoded[0] == len(value)
    assert decode_value("B", encoded[1:]) == value


# -- big data -------------------------------------------------------------------------------------
@given(st.binary(min_size=1, max_size=4000), st.integers(1, 700))
def test_big_data_assembles_any_chunking(payload: bytes, chunk: int) -> None:
    info = BigDataInfo(0, len(payload), len(payload), zlib.crc32(payload), chunk)
    assembler, received = Assembler(info), b""
    while not assembler.done:
        offset = int.from_bytes(assembler.next_request(), "little")
        assert offset == len(received)
        received += assembler.add(offset.to_bytes(4, "little") + payload[offset : offset + chunk])
    assert received == payload
    assert assembler.crc_matches()


# -- the session state machine under arbitrary replies ------------------------------------------
replies = st.builds(
    Frame,
    command=st.sampled_from([0xC8, 0xC9, 0x0D, 0x01, 0x76]),
    data=st.one_of(
        st.binary(max_size=12),
        st.tuples(
            st.sampled_from([0x2014, 0x2015]), st.integers(0xFEFC, 0xFF02), st.binary(max_size=4)
        ).map(lambda t: header(t[0], t[1] & 0xFFFF) + t[2]),
    ),
)


@given(st.sampled_from(list(Dialect)), st.lists(replies, min_size=1, max_size=8))
def test_session_survives_any_reply_sequence(dialect: Dialect, sequence: list[Frame]) -> None:
    session = Session()
    session.connect(dialect)
    for frame in sequence:
        with contextlib.suppress(ProtocolError):
            session.receive(encode_frame(frame))
        while session.next_reply() is not None:
            pass
        if session.state is SessionState.CONNECTED:
            assert session.dialect is dialect
            assert (session.session_id is not None) == (dialect is Dialect.SESSION)
            if session.pending is None:
                session.request(Command.GET_REALTIME_LOG)

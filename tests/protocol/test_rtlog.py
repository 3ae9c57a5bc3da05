"""RT-log records beyond the vectors: legacy text lines, impossible times, key/value errors."""

from __future__ import annotations

import pytest

from tests.protocol.support import panel_time
from tests.vectors.c3 import vector
from zkpull.protocol import DoorStatus, MessageError, RtEvent
from zkpull.protocol.rtlog import (
    decode_rtlog,
    decode_rtlog_kv,
    encode_door_status,
    encode_rt_event,
    encode_rtlog_kv,
)


def test_status_legacy_line_matches_the_fact_sheet_example() -> None:
    (status,) = decode_rtlog(vector("cap_rtlog_sl_reply_status").data)
    assert status.to_legacy_line() == "2024-01-08 20:51:42,16843009,0,0,255,0,200"


def test_event_legacy_line_puts_pin_before_card() -> None:
    (event,) = decode_rtlog(vector("rec_event_card_swipe").wire)
    assert event.to_legacy_line() == "2017-07-31 20:05:08,307682,308555799,1,0,0,4"


def test_record_with_an_impossible_time_keeps_the_raw_value() -> None:
    raw = ((2024 - 2000) * 372 + 1 * 31 + 30) * 86400  # 31 February 2024
    record = bytes.fromhex("0000000000000000c8010802") + raw.to_bytes(4, "little")
    (event,) = decode_rtlog(record)
    assert isinstance(event, RtEvent)
    assert (event.time, event.time_raw) == (None, raw)
    assert event.to_legacy_line().startswith(f"invalid:{raw},")
    assert encode_rt_event(event) == record


def test_empty_rtlog_reply_has_no_records() -> None:
    assert decode_rtlog(b"") == []
    assert decode_rtlog_kv(b"") == decode_rtlog_kv(b"\r\n") == decode_rtlog_kv(b"\x00") == []


def test_several_records_in_one_reply() -> None:
    records = decode_rtlog(
        vector("rec_event_door_opened").wire * 10 + vector("rec_status_alarm_open").wire
    )
    assert [type(r) for r in records] == [RtEvent] * 10 + [DoorStatus]


def test_simulator_status_record() -> None:
    status = DoorStatus(
        time=panel_time(2024, 1, 8, 20, 51, 42), sensors=(1, 1, 1, 1), alarms=(0, 0, 0, 0)
    )
    assert encode_door_status(status) == vector("cap_rtlog_sl_reply_status").data


def test_key_value_defaults_for_missing_fields() -> None:
    (event,) = decode_rtlog_kv(b"time=2023-12-06 22:33:15\tevent=8")
    assert isinstance(event, RtEvent)
    assert (event.pin, event.card, event.door, event.inout, event.verified, event.index) == (
        0,
        0,
        0,
        2,
        200,
        None,
    )


def test_key_value_round_trip_of_a_status() -> None:
    status = DoorStatus(
        time=panel_time(2023, 12, 9, 15, 9, 33),
        sensors=(2, 1, 0, 1),
        alarms=(1, 0, 2, 0),
        alarm_raw=0x00020001,
        relay=3,
    )
    (decoded,) = decode_rtlog_kv(encode_rtlog_kv([status]))
    assert isinstance(decoded, DoorStatus)
    assert (decoded.sensors, decoded.alarms, decoded.relay) == (status.sensors, status.alarms, 3)


@pytest.mark.parametrize(
    "text",
    [
        b"time=2023-12-06 22:33:15\tpin",  # field without '='
        b"pin=1\tevent=8",  # no time
        b"time=2023-12-06 22:33:15",  # neither event nor sensor
        b"time=2023-12-06 22:33:15\tevent=eight",
        b"time=2023-12-06 22:33:15\tsensor=zz",
        b"time=2023-12-06 22:33:15\tevent=8\xff",
    ],
)
def test_bad_key_value_records_are_message_errors(text: bytes) -> None:
    with pytest.raises(MessageError):
        decode_rtlog_kv(text)


@pytest.mark.parametrize("when", [b"2024-02-31 10:00:00", b"yesterday", b"invalid:12345"])
def test_key_value_record_with_an_impossible_time_is_kept_without_one(when: bytes) -> None:
    # The panel has already dropped these records from its ring: one bad time must not sink
    # the reply (the agent quarantines the record instead).
    good = b"time=2023-12-06 22:33:15\tevent=8\teventaddr=1"
    [bad, later] = decode_rtlog_kv(b"time=" + when + b"\tevent=8\r\n" + good)
    assert bad.time is None
    assert bad.time_raw == 0
    assert later.time is not None


def test_key_value_record_before_the_panel_epoch_is_kept_without_a_time() -> None:
    good = b"time=2023-12-06 22:33:15\tevent=8\teventaddr=1"
    [early, later] = decode_rtlog_kv(b"time=1999-12-31 23:59:59\tevent=8\r\n" + good)
    assert early.time is None
    assert later.time is not None

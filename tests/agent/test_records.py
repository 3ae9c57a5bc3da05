from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.records import (
    EventPointType,
    EventRecord,
    InvalidRecordError,
    RealtimeLine,
    event_fields,
    event_point,
    lines_from_records,
    to_utc,
)
from zkpull import DoorStatus, RtEvent

from .factories import event, local

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_normal_times_convert_with_the_zone_offset():
    assert to_utc(local(2024, 1, 15, 12, 0), BERLIN) == utc(2024, 1, 15, 11, 0)  # CET +1
    assert to_utc(local(2024, 7, 15, 12, 0), BERLIN) == utc(2024, 7, 15, 10, 0)  # CEST +2


def test_spring_gap_time_is_read_with_the_offset_before_the_change():
    # 2024-03-31 02:00 CET jumps to 03:00 CEST: 02:30 never shows on a correct clock.
    assert to_utc(local(2024, 3, 31, 2, 30), BERLIN) == utc(2024, 3, 31, 1, 30)
    # ...which is the same instant as 03:30 CEST: the gap length (1 h) later.
    assert to_utc(local(2024, 3, 31, 3, 30), BERLIN) == utc(2024, 3, 31, 1, 30)
    assert to_utc(local(2024, 3, 31, 1, 59, 59), BERLIN) == utc(2024, 3, 31, 0, 59, 59)


def test_autumn_fold_time_is_the_first_occurrence():
    # 2024-10-27 03:00 CEST falls back to 02:00 CET: 02:30 happens twice; fold=0 = CEST.
    assert to_utc(local(2024, 10, 27, 2, 30), BERLIN) == utc(2024, 10, 27, 0, 30)
    assert to_utc(local(2024, 10, 27, 3, 0), BERLIN) == utc(2024, 10, 27, 2, 0)
    assert to_utc(local(2024, 10, 27, 1, 59), BERLIN) == utc(2024, 10, 26, 23, 59)


def test_conversion_is_deterministic():
    moment = local(2024, 10, 27, 2, 30)
    assert {to_utc(moment, BERLIN) for _ in range(5)} == {utc(2024, 10, 27, 0, 30)}


def test_aware_panel_time_is_a_programming_error():
    with pytest.raises(ValueError, match="must be naive"):
        to_utc(utc(2024, 1, 1), BERLIN)


@pytest.mark.parametrize(
    ("event_type", "door", "verified", "expected"),
    [
        (0, 1, 4, (EventPointType.DOOR, 1)),
        (202, 3, 200, (EventPointType.DOOR, 3)),
        (220, 2, 200, (EventPointType.AUX, 2)),
        (221, 9, 200, (EventPointType.AUX, 9)),
        (12, 1, 200, (EventPointType.AUX, 1)),
        (13, 4, 200, (EventPointType.AUX, 4)),
        (6, 2, 220, (EventPointType.AUX, 2)),  # linkage triggered by an aux input
        (6, 2, 0, (EventPointType.DOOR, 2)),  # linkage triggered by a door event
        (206, 0, 200, (EventPointType.NONE, 0)),  # device started
    ],
)
def test_event_point_mapping(event_type, door, verified, expected):
    assert event_point(event_type, door, verified) == expected


def test_fields_of_a_card_event():
    fields = event_fields(event(local(2024, 3, 5, 8, 15, 32)), BERLIN)
    assert fields.time == utc(2024, 3, 5, 7, 15, 32)
    assert (fields.pin, fields.card_no, fields.verified, fields.state) == ("1001", "12345678", 4, 0)
    assert (fields.event_point_type, fields.event_point_id, fields.trigger_opt) == (0, 1, -1)
    assert fields.description == ""


def test_zero_pin_and_card_are_stored_as_the_legacy_none():
    fields = event_fields(event(pin=0, card=0, event_type=202, verified=200), BERLIN)
    assert (fields.pin, fields.card_no) == ("--", "--")


def test_verify_field_reuse_follows_legacy():
    cancel = event_fields(event(event_type=7, verified=2, pin=0, card=0), BERLIN)
    assert (cancel.verified, cancel.description) == (200, "Cancel alarm: open time-out")
    linkage = event_fields(event(event_type=6, verified=220, card=3, pin=0, door=2), BERLIN)
    assert (linkage.verified, linkage.trigger_opt, linkage.event_point_type) == (200, 220, 1)
    assert "Linkage rule 3" in linkage.description
    aux = event_fields(event(event_type=221, verified=7, door=2), BERLIN)
    assert aux.verified == 200


def test_impossible_time_and_status_records_are_invalid():
    with pytest.raises(InvalidRecordError, match="impossible panel time"):
        event_fields(event(time=None, time_raw=5184000), BERLIN)
    with pytest.raises(InvalidRecordError, match="status record"):
        event_fields(event(event_type=255), BERLIN)


def test_a_zkpull_event_is_accepted_as_it_is():
    rt = RtEvent(local(2024, 3, 5, 8, 15, 32), 1001, 12345678, 1, 0, 0, 4, 777111332)
    assert event_fields(rt, BERLIN) == event_fields(EventRecord.from_rt_event(rt), BERLIN)
    assert EventRecord.from_rt_event(rt).to_legacy_line() == rt.to_legacy_line()
    assert rt.to_legacy_line() == "2024-03-05 08:15:32,1001,12345678,1,0,0,4"


def test_realtime_lines_keep_legacy_positions_and_number_each_reply():
    received = utc(2024, 3, 5, 7, 15, 33)
    status = DoorStatus(local(2024, 3, 5, 8, 15, 33), (1, 2, 0, 0), (0, 0, 0, 0), sensor_raw=513)
    rt = RtEvent(local(2024, 3, 5, 8, 15, 32), 1001, 5, 1, 0, 0, 4)
    lines = lines_from_records([(received, rt), (received, status), (utc(2024, 1, 1), rt)])
    assert [line.seq for line in lines] == [0, 1, 0]
    assert lines[1] == RealtimeLine(
        received,
        1,
        "2024-03-05 08:15:33,513,0,0,255,0,200",
        local(2024, 3, 5, 8, 15, 33),
        513,
        0,
        0,
        255,
        0,
        200,
        is_status=True,
    )
    assert not lines[0].is_status
    assert lines[0].line == "2024-03-05 08:15:32,1001,5,1,0,0,4"

"""Packed panel time and the other date encodings (fact sheet §5)."""

from __future__ import annotations

from datetime import date, timedelta, timezone

import pytest

from tests.protocol.support import panel_time
from zkpull.protocol import MessageError, decode_time, encode_time
from zkpull.protocol.timecodec import (
    decode_date,
    decode_time_segment,
    encode_date,
    encode_time_segment,
)


@pytest.mark.parametrize(
    ("fields", "packed"),
    [
        ((2000, 1, 1, 0, 0, 0), 0),
        ((2010, 10, 26, 20, 54, 55), 347748895),
        ((2025, 4, 13, 15, 54, 12), 812649252),
        ((2017, 7, 30, 15, 24, 32), 0x21AD9930),
        ((2023, 6, 25, 7, 52, 5), 754732325),
        ((2026, 7, 21, 13, 26, 5), 853507565),
    ],
)
def test_fact_sheet_time_vectors(fields: tuple[int, ...], packed: int) -> None:
    assert encode_time(panel_time(*fields)) == packed
    assert decode_time(packed) == panel_time(*fields)


def test_decoded_time_is_naive_and_encode_ignores_a_zone() -> None:
    assert decode_time(812649252).tzinfo is None
    aware = panel_time(2025, 4, 13, 15, 54, 12).replace(tzinfo=timezone(timedelta(hours=2)))
    assert encode_time(aware) == 812649252


@pytest.mark.parametrize("packed", [-1, 2**32])
def test_packed_time_must_be_a_u32(packed: int) -> None:
    with pytest.raises(MessageError, match="u32"):
        decode_time(packed)


def test_31st_february_is_representable_but_not_decodable() -> None:
    packed = ((2024 - 2000) * 372 + 1 * 31 + 30) * 86400
    with pytest.raises(MessageError, match="not a real date"):
        decode_time(packed)


def test_times_outside_the_packed_range_are_refused() -> None:
    with pytest.raises(ValueError, match="epoch"):
        encode_time(panel_time(1999, 12, 31, 23, 59, 59))
    assert decode_time(0xFFFFFFFF).year == 2133
    with pytest.raises(ValueError, match="range"):
        encode_time(panel_time(2134, 1, 1))


def test_yyyymmdd_dates() -> None:
    assert encode_date(date(2022, 2, 2)) == 20220202
    assert decode_date(20220202) == date(2022, 2, 2)
    assert encode_date(None) == 0
    assert decode_date(0) is None
    for bad in (20220230, 20221301, 1, -20220202):
        with pytest.raises(MessageError, match="YYYYMMDD"):
            decode_date(bad)


def test_time_segments() -> None:
    assert encode_time_segment((8, 30), (12, 30)) == 0x033E04CE  # 54396110, fact sheet §5
    assert decode_time_segment(54396110) == ((8, 30), (12, 30))
    assert decode_time_segment(0) == ((0, 0), (0, 0))
    for bad in (((24, 0), (1, 0)), ((1, 0), (1, 60)), ((-1, 0), (1, 0))):
        with pytest.raises(ValueError, match="not a time of day"):
            encode_time_segment(*bad)

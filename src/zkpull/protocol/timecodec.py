"""Packed panel time ("OldEncodeTime", fact sheet §5) and the other date encodings.

Seconds in a calendar of 31-day months and 12-month years from 2000-01-01, in the panel's
local wall-clock time with no zone. Decoding returns naive datetimes on purpose: only the
caller knows the panel's time zone.
"""

from __future__ import annotations

from datetime import date, datetime

from .errors import MessageError

_DAY = 86_400
_MONTH = 31 * _DAY
_YEAR = 12 * _MONTH
MAX_PACKED = 0xFFFFFFFF  # u32 on the wire: up to year 2133


def encode_time(moment: datetime) -> int:
    """Pack *moment* (its wall-clock fields; any tzinfo is ignored)."""
    if moment.year < 2000:
        raise ValueError(f"panels cannot represent {moment:%Y-%m-%d}: the epoch is 2000-01-01")
    days = (moment.year - 2000) * 12 * 31 + (moment.month - 1) * 31 + (moment.day - 1)
    packed = days * _DAY + moment.hour * 3600 + moment.minute * 60 + moment.second
    if packed > MAX_PACKED:
        raise ValueError(f"{moment:%Y-%m-%d} is beyond the packed-time range")
    return packed


def decode_time(packed: int) -> datetime:
    """Unpack a panel time; raises MessageError for an impossible date (e.g. 31 February)."""
    if not 0 <= packed <= MAX_PACKED:
        raise MessageError(f"packed time {packed} is not a u32")
    second = packed % 60
    minute = packed // 60 % 60
    hour = packed // 3600 % 24
    day = packed // _DAY % 31 + 1
    month = packed // _MONTH % 12 + 1
    year = packed // _YEAR + 2000
    try:
        # The one decode point for panel time: naive on purpose, the caller attaches the zone.
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
    except ValueError as exc:
        raise MessageError(f"packed time {packed} is not a real date ({exc})") from exc


def encode_date(day: date | None) -> int:
    """YYYYMMDD integer used by user.StartTime/EndTime and holidays; 0 means none."""
    return 0 if day is None else day.year * 10000 + day.month * 100 + day.day


def decode_date(value: int) -> date | None:
    """Inverse of `encode_date`; raises MessageError for a value that is not a date."""
    if value == 0:
        return None
    try:
        return date(value // 10000, value // 100 % 100, value % 100)
    except ValueError as exc:
        raise MessageError(f"{value} is not a YYYYMMDD date") from exc


def encode_time_segment(start: tuple[int, int], end: tuple[int, int]) -> int:
    """timezone.XxxTimeN: (start << 16) + end, each as hh*100+mm."""
    for hour, minute in (start, end):
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValueError(f"{hour:02}:{minute:02} is not a time of day")
    return ((start[0] * 100 + start[1]) << 16) + end[0] * 100 + end[1]


def decode_time_segment(value: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Inverse of `encode_time_segment`."""
    start, end = value >> 16, value & 0xFFFF
    return (divmod(start, 100), divmod(end, 100))

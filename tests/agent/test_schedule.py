"""Pure timing helpers: reconnect backoff, jitter, download hours and their local-time slots."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.schedule import DownloadSchedule, backoff, jittered, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def sweep(schedule: DownloadSchedule, start: datetime, end: datetime, step: timedelta):
    """Every instant from *start* to *end* at which the schedule said "download now"."""
    fired = []
    moment = start
    while moment < end:
        if schedule.due(moment):
            fired.append(moment)
        moment += step
    return fired


# -- backoff --------------------------------------------------------------------------------------
def test_backoff_doubles_up_to_the_cap_and_stays_there():
    assert list(itertools.islice(backoff(base=1.0, cap=8.0), 7)) == [1, 2, 4, 8, 8, 8, 8]
    assert list(itertools.islice(backoff(base=0.2, cap=0.5), 4)) == [0.2, 0.4, 0.5, 0.5]


def test_backoff_never_exceeds_a_cap_below_the_base():
    assert list(itertools.islice(backoff(base=5.0, cap=2.0), 3)) == [2.0, 2.0, 2.0]


def test_backoff_is_deterministic_and_fresh_per_generator():
    first = backoff(base=1.0, cap=60.0)
    next(first), next(first)
    assert next(backoff(base=1.0, cap=60.0)) == 1.0  # a reconnect starts over


# -- jitter ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0.2, 1.0, 60.0])
def test_jitter_stays_within_the_spread(delay):
    rng = random.Random(42)
    values = [jittered(delay, rng) for _ in range(2000)]
    assert all(0.8 * delay <= v <= 1.2 * delay for v in values)
    assert max(values) - min(values) > 0.3 * delay  # it does spread a fleet out


def test_jitter_edge_cases():
    rng = random.Random(1)
    assert jittered(0.0, rng) == 0.0
    assert jittered(3.0, rng, spread=0.0) == 3.0
    assert all(jittered(1.0, rng, spread=5.0) >= 0.0 for _ in range(500))  # never negative
    assert jittered(10.0, random.Random(7)) == jittered(10.0, random.Random(7))


# -- parse_hours ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("0", {0}),
        ("0,6,12,18", {0, 6, 12, 18}),
        (" 23 , 0 ,6", {0, 6, 23}),
        ("6,6,6", {6}),
        ([1, 2], {1, 2}),
        ((), set()),
    ],
)
def test_parse_hours_valid(text, hours):
    assert parse_hours(text) == frozenset(hours)


@pytest.mark.parametrize("text", ["24", "-1", "0,25", "noon", "1,,2", "", "6.5"])
def test_parse_hours_invalid(text):
    with pytest.raises(ValueError):  # noqa: PT011 the message varies with the cause
        parse_hours(text)


def test_parse_hours_names_the_bad_hour():
    with pytest.raises(ValueError, match=r"download hour 24 is not 0\.\.23"):
        parse_hours("0,24")


# -- DownloadSchedule -----------------------------------------------------------------------------
def test_the_same_instant_is_a_different_local_hour_per_zone():
    instant = utc(2024, 3, 5, 15, 0)  # Tokyo 00:00 on the 6th; New York 10:00 on the 5th
    tokyo = DownloadSchedule(frozenset({0}), TOKYO)
    new_york = DownloadSchedule(frozenset({0}), NEW_YORK)
    assert tokyo.due(instant)
    assert not new_york.due(instant)
    assert tokyo.last_slot == (datetime(2024, 3, 6).date(), 0)  # noqa: DTZ001 a local date
    # New York's midnight comes 14 hours later (EST, UTC-5).
    assert new_york.due(utc(2024, 3, 6, 5, 0))
    assert not tokyo.due(utc(2024, 3, 6, 5, 0))


def test_hour_zero_starts_at_local_midnight():
    schedule = DownloadSchedule(frozenset({0}), BERLIN)  # CET, UTC+1 in March
    assert not schedule.due(utc(2024, 3, 5, 22, 59, 59))  # 23:59:59 local
    assert schedule.due(utc(2024, 3, 5, 23, 0, 0))  # 00:00 local on the 6th
    assert not schedule.due(utc(2024, 3, 5, 23, 59, 59))  # still the same slot
    assert not schedule.due(utc(2024, 3, 6, 0, 0, 0))  # 01:00 local: not a listed hour
    assert schedule.due(utc(2024, 3, 6, 23, 0, 0))  # the next local midnight


def test_once_per_slot_and_per_listed_hour():
    schedule = DownloadSchedule(frozenset({6, 18}), ZoneInfo("UTC"))
    fired = sweep(schedule, utc(2024, 3, 5, 0, 0), utc(2024, 3, 7, 0, 0), timedelta(seconds=37))
    assert [(f.day, f.hour) for f in fired] == [(5, 6), (5, 18), (6, 6), (6, 18)]


def test_dst_fall_back_repeated_hour_is_counted_once():
    # 2024-10-27 in Berlin: 03:00 CEST becomes 02:00 CET, so 02:xx happens twice.
    schedule = DownloadSchedule(frozenset({2}), BERLIN)
    first = utc(2024, 10, 27, 0, 30)  # 02:30 CEST
    second = utc(2024, 10, 27, 1, 30)  # 02:30 CET, an hour later
    assert first.astimezone(BERLIN).hour == second.astimezone(BERLIN).hour == 2
    assert schedule.due(first)
    assert not schedule.due(second)
    fresh = DownloadSchedule(frozenset({2}), BERLIN)
    fired = sweep(fresh, utc(2024, 10, 26, 0), utc(2024, 10, 29, 0), timedelta(minutes=10))
    assert [f.astimezone(BERLIN).day for f in fired] == [26, 27, 28]  # 25 hours, one download
    assert fired[1] == utc(2024, 10, 27, 0, 0)  # the first 02:00 (CEST), not the second


def test_dst_spring_forward_missing_hour_is_skipped():
    # 2024-03-31 in Berlin: 02:00 CET becomes 03:00 CEST; there is no 02:xx that night.
    schedule = DownloadSchedule(frozenset({2}), BERLIN)
    fired = sweep(schedule, utc(2024, 3, 29, 22), utc(2024, 4, 2, 0), timedelta(minutes=5))
    assert [(f.astimezone(BERLIN).day, f.astimezone(BERLIN).hour) for f in fired] == [
        (30, 2),
        (1, 2),
    ]
    three = DownloadSchedule(frozenset({3}), BERLIN)  # the hour after the gap is normal
    assert three.due(utc(2024, 3, 31, 1, 0))  # 03:00 CEST


def test_mark_done_covers_the_current_slot_only():
    schedule = DownloadSchedule(frozenset({8}), ZoneInfo("UTC"))
    schedule.mark_done(utc(2024, 3, 5, 8, 10))  # a download on connect at 08:10
    assert not schedule.due(utc(2024, 3, 5, 8, 20))
    assert schedule.due(utc(2024, 3, 6, 8, 0))  # tomorrow's slot is still due


def test_mark_done_outside_the_listed_hours_changes_nothing():
    schedule = DownloadSchedule(frozenset({8}), ZoneInfo("UTC"))
    schedule.mark_done(utc(2024, 3, 5, 7, 59))
    assert schedule.last_slot is None
    assert schedule.due(utc(2024, 3, 5, 8, 0))


def test_mark_done_uses_the_panels_local_time():
    schedule = DownloadSchedule(frozenset({0}), TOKYO)
    schedule.mark_done(utc(2024, 3, 5, 15, 30))  # 00:30 in Tokyo
    assert not schedule.due(utc(2024, 3, 5, 15, 45))
    assert schedule.due(utc(2024, 3, 6, 15, 0))


def test_no_hours_means_never():
    schedule = DownloadSchedule(frozenset(), ZoneInfo("UTC"))
    assert sweep(schedule, utc(2024, 3, 5), utc(2024, 3, 6), timedelta(minutes=30)) == []

"""Compare the legacy `acc_monitor_log` with `DeviceEventLog`, per device and day.

Both sides are reduced to the natural key: legacy's 10-column unique key, which is
DeviceEventLog's key with `device_id` meaning the legacy iclock id (`DeviceLink`). Legacy
times are the panel's naive wall clock; they are read with the device's time zone (the
rule `agent.records.to_utc` uses on the way in), so both sides compare in UTC. Days are the
site's (`settings.TIME_ZONE`, from TZ_NAME). Missing legacy values are read as the legacy
defaults (pin/card "--", verified 200, state 2, event point -1/0, trigger -1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Q

from agent.models import DeviceEventLog
from agent.records import KEY_FIELDS, NO_TRIGGER, NO_VALUE, OTHER_VERIFY, to_utc

from .models import DeviceLink

EventKey = tuple[datetime, str, str, int, int, int, int, int, int]  # KEY_FIELDS order
_TOLERANCE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")
_LEGACY_QUERY: Final = (
    "SELECT time, pin, card_no, verified, state, event_type, event_point_type,"
    " event_point_id, trigger_opt FROM acc_monitor_log"
    " WHERE device_id = %s AND time >= %s AND time < %s"
)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How many unmatched rows a device-day may have: absolute, or percent of the larger side."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        match = _TOLERANCE.match(text)
        if match is None:
            raise ValueError(f"tolerance must be a count (5) or a percentage (0.5%), got {text!r}")
        return cls(float(match.group(1)), bool(match.group(2)))

    def allows(self, unmatched: int, larger_side: int) -> bool:
        limit = self.value * larger_side / 100 if self.percent else self.value
        return unmatched <= limit

    def __str__(self) -> str:
        return f"{self.value:g}{'%' if self.percent else ''}"


@dataclass
class DayComparison:
    """One device on one site-local day."""

    device_id: int
    alias: str
    legacy_id: int
    day: date
    legacy_count: int = 0
    agent_count: int = 0
    only_legacy: list[EventKey] = field(default_factory=list)
    only_agent: list[EventKey] = field(default_factory=list)
    within: bool = True

    @property
    def unmatched(self) -> int:
        return len(self.only_legacy) + len(self.only_agent)


@dataclass
class Comparison:
    start: date
    end: date  # inclusive
    tolerance: Tolerance
    days: list[DayComparison] = field(default_factory=list)
    unlinked_legacy_rows: dict[int, int] = field(default_factory=dict)  # iclock id -> rows

    @property
    def beyond_tolerance(self) -> list[DayComparison]:
        return [day for day in self.days if not day.within]


def compare(
    alias: str,
    *,
    start: date,
    end: date,
    tolerance: Tolerance,
    site_zone: ZoneInfo,
    devices: Sequence[str] | None = None,
) -> Comparison:
    """Compare every linked device (or those named in *devices*) over site days start..end."""
    lo = datetime.combine(start, time(), site_zone).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), site_zone).astimezone(UTC)
    result = Comparison(start, end, tolerance)
    links = _links(devices)
    for link in links:
        zone = ZoneInfo(link.device.timezone)
        legacy = _legacy_keys(alias, link.legacy_id, zone, site_zone=site_zone, lo=lo, hi=hi)
        ours = _agent_keys(link.device_id, site_zone, lo, hi)
        for day in _days(start, end):
            in_day_legacy = legacy.get(day, set())
            in_day_ours = ours.get(day, set())
            item = DayComparison(
                link.device_id,
                link.device.alias,
                link.legacy_id,
                day,
                legacy_count=len(in_day_legacy),
                agent_count=len(in_day_ours),
                only_legacy=sorted(in_day_legacy - in_day_ours),
                only_agent=sorted(in_day_ours - in_day_legacy),
            )
            item.within = tolerance.allows(item.unmatched, max(item.legacy_count, item.agent_count))
            result.days.append(item)
    if not devices:
        linked = {link.legacy_id for link in links}
        result.unlinked_legacy_rows = _unlinked(alias, linked, site_zone, lo, hi)
    return result


def describe_key(key: EventKey, zone: ZoneInfo) -> str:
    """One event key as a line a person can check against the legacy report."""
    when, pin, card, verified, state, event, point_type, point_id, trigger = key
    point = {0: f"door {point_id}", 1: f"aux {point_id}"}.get(point_type, "no point")
    local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{local} event {event} {point} pin {pin} card {card} verified {verified} "
        f"state {state} trigger {trigger}"
    )


def _links(devices: Sequence[str] | None) -> list[DeviceLink]:
    links = DeviceLink.objects.select_related("device").order_by("device__alias")
    if devices:
        match = Q()
        for item in devices:
            match |= Q(device__alias=item) | Q(device__sn=item)
            if item.isdigit():
                match |= Q(device_id=int(item))
        links = links.filter(match)
    return list(links)


def _legacy_keys(
    alias: str, legacy_id: int, zone: ZoneInfo, *, site_zone: ZoneInfo, lo: datetime, hi: datetime
) -> dict[date, set[EventKey]]:
    # The column holds naive panel-local times: widen the range by a day, convert, then cut.
    naive_lo = (lo.astimezone(zone) - timedelta(days=1)).replace(tzinfo=None)
    naive_hi = (hi.astimezone(zone) + timedelta(days=1)).replace(tzinfo=None)
    by_day: dict[date, set[EventKey]] = {}
    with connections[alias].cursor() as cursor:
        cursor.execute(_LEGACY_QUERY, [legacy_id, naive_lo, naive_hi])
        rows = cursor.fetchall()
    for row in rows:
        key = _legacy_key(row, zone)
        if key is None or not lo <= key[0] < hi:
            continue
        by_day.setdefault(key[0].astimezone(site_zone).date(), set()).add(key)
    return by_day


def _legacy_key(row: Sequence[object], zone: ZoneInfo) -> EventKey | None:
    when, pin, card, verified, state, event, point_type, point_id, trigger = row
    if not isinstance(when, datetime) or event is None:
        return None
    return (
        to_utc(when.replace(tzinfo=None), zone),
        str(pin) if pin not in (None, "") else NO_VALUE,
        str(card) if card not in (None, "") else NO_VALUE,
        _int(verified, OTHER_VERIFY),
        _int(state, 2),
        _int(event, 0),
        _int(point_type, -1),
        _int(point_id, 0),
        _int(trigger, NO_TRIGGER),
    )


def _agent_keys(
    device_id: int, site_zone: ZoneInfo, lo: datetime, hi: datetime
) -> dict[date, set[EventKey]]:
    by_day: dict[date, set[EventKey]] = {}
    rows = DeviceEventLog.objects.filter(
        device_id=device_id, time__gte=lo, time__lt=hi
    ).values_list(*KEY_FIELDS)
    for row in rows:
        when = row[0].astimezone(UTC)
        key: EventKey = (when, *row[1:])
        by_day.setdefault(when.astimezone(site_zone).date(), set()).add(key)
    return by_day


def _unlinked(
    alias: str, linked: set[int], site_zone: ZoneInfo, lo: datetime, hi: datetime
) -> dict[int, int]:
    naive_lo = (lo.astimezone(site_zone) - timedelta(days=1)).replace(tzinfo=None)
    naive_hi = (hi.astimezone(site_zone) + timedelta(days=1)).replace(tzinfo=None)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT device_id, COUNT(*) FROM acc_monitor_log"
            " WHERE time >= %s AND time < %s GROUP BY device_id",
            [naive_lo, naive_hi],
        )
        counts = cursor.fetchall()
    return {int(dev): int(n) for dev, n in counts if dev is not None and int(dev) not in linked}


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _int(value: object, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"expected a number in acc_monitor_log, got {value!r}")
    return int(value)


__all__ = ["Comparison", "DayComparison", "Tolerance", "compare", "describe_key"]

"""The bulk write path (PostgreSQL: COPY into a staging table; SQLite: executemany).

Batches of at least `COPY_THRESHOLD` rows take the COPY path on PostgreSQL; these tests run on
whichever engine DATABASE_URL names (the suite runs them on SQLite and again on PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from agent import persistence as p
from agent.commands import enqueue
from agent.models import DeviceEventLog, DeviceRealtimeLog, QuarantinedRecord
from zkpull import RtEvent

from .factories import event, local, make_device

pytestmark = pytest.mark.django_db

BIG = p.COPY_THRESHOLD * 3 + 5  # several COPY chunks with batch_size=COPY_THRESHOLD


def _batch(n: int, first_pin: int = 1000):
    base = local(2024, 3, 5, 8, 0, 0)
    return [event(base + timedelta(seconds=i), pin=first_pin + i) for i in range(n)]


def test_a_big_batch_is_stored_once_and_counted_exactly():
    device = make_device()
    batch = _batch(BIG)
    counts = p.write_events_detailed(device.pk, batch, "tx", batch_size=p.COPY_THRESHOLD)
    assert (counts.stored, counts.duplicates, counts.quarantined) == (BIG, 0, 0)
    again = p.write_events_detailed(device.pk, batch, "rt", batch_size=p.COPY_THRESHOLD)
    assert (again.stored, again.duplicates) == (0, BIG)
    assert DeviceEventLog.objects.filter(device=device).count() == BIG
    assert set(DeviceEventLog.objects.values_list("source", flat=True)) == {"tx"}


def test_big_overlapping_batches_in_one_transaction():
    """Two calls in one transaction (the writer's way): the staging table starts empty each time."""
    device = make_device()
    first = _batch(BIG)
    second = _batch(BIG + 40)  # the first BIG again, and 40 new
    with transaction.atomic():
        one = p.write_events_detailed(device.pk, first, "tx")
        two = p.write_events_detailed(device.pk, list(reversed(second)) + second[:10], "tx")
    assert one.stored == BIG
    assert (two.stored, two.duplicates) == (40, BIG + 10)
    assert DeviceEventLog.objects.filter(device=device).count() == BIG + 40


def test_big_batches_keep_columns_quarantine_and_time_order():
    device = make_device(timezone="Europe/Berlin")
    good = _batch(BIG)
    bad = event(time=None, time_raw=5184000)
    counts = p.write_events_detailed(device.pk, [*reversed(good), bad], "tx")
    assert (counts.stored, counts.quarantined) == (BIG, 1)
    assert QuarantinedRecord.objects.filter(device=device).count() == 1
    rows = list(DeviceEventLog.objects.filter(device=device).order_by("id"))
    assert [r.time for r in rows] == sorted(r.time for r in rows)  # ids follow panel time
    first = rows[0]
    assert first.time == datetime(2024, 3, 5, 7, 0, 0, tzinfo=UTC)  # 08:00 CET
    assert (first.pin, first.card_no, first.event_point_type, first.event_point_id) == (
        "1000",
        "12345678",
        0,
        1,
    )
    assert (first.verified, first.state, first.trigger_opt, first.description) == (4, 0, -1, "")
    assert first.created_at is not None


def test_big_realtime_line_batches_are_stored_once():
    device = make_device()
    received = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)
    records = [
        (received, RtEvent(local(2024, 3, 5, 8, 0, i % 60), 1000 + i, 5, 1, 0, 0, 4))
        for i in range(BIG)
    ]
    records.append((received, RtEvent(None, 1, 2, 1, 0, 0, 4, time_raw=5184000)))
    lines = p.lines_from_records(records)
    with transaction.atomic():
        assert p.write_realtime_lines(device.pk, lines, batch_size=p.COPY_THRESHOLD) == BIG + 1
        assert p.write_realtime_lines(device.pk, lines + lines[:3]) == 0
    rows = DeviceRealtimeLog.objects.filter(device=device)
    assert rows.count() == BIG + 1
    assert rows.filter(time__isnull=True).count() == 1
    assert rows.get(seq=0).time == datetime(2024, 3, 5, 8, 0, 0, tzinfo=UTC)


def test_pending_commands_of_many_devices_match_the_in_list_query():
    """Beyond `_IN_LIST_LIMIT` ids the filter runs in Python: same rows, same order, same limit."""
    served = [make_device() for _ in range(3)]
    other = make_device()
    now = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)
    for i, device in enumerate([*served, other]):
        enqueue(device, "DATA COUNT user", now=now + timedelta(seconds=i))
        enqueue(device, "CANCEL ALARM 1", immediate=True, now=now + timedelta(seconds=i))
    ids = [d.pk for d in served]
    padding = list(range(10**8, 10**8 + p._IN_LIST_LIMIT))  # no such devices
    small = p.pending_commands(ids, now=now + timedelta(seconds=10))
    many = p.pending_commands(ids + padding, now=now + timedelta(seconds=10))
    assert [q.command_id for q in many] == [q.command_id for q in small]
    assert len(many) == 6
    assert {q.device_id for q in many} == set(ids)
    assert [q.immediate for q in many] == [True] * 3 + [False] * 3
    limited = p.pending_commands(ids + padding, now=now + timedelta(seconds=10), limit=4)
    assert [q.command_id for q in limited] == [q.command_id for q in small][:4]

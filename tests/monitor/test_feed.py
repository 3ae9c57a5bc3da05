"""LiveFeed against the real ORM: backlog, new rows, filters, resume, doors, commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agent import persistence
from agent.commands import enqueue
from agent.models import DeviceEventLog, DeviceStatus
from monitor.feed import (
    BACKLOG,
    LOOKBACK,
    Cursor,
    EventFilter,
    FilterError,
    LiveFeed,
    device_state,
)
from tests.agent.factories import event, local, make_device
from zkpull.protocol.rtlog import DoorStatus

pytestmark = pytest.mark.django_db


def _events(device, count, *, start=0, **fields):
    records = [
        event(local(2026, 1, 1, 8, 0, 0) + timedelta(seconds=start + n), **fields)
        for n in range(count)
    ]
    persistence.write_events(device.pk, records, "rt")


def _by_name(messages):
    found: dict[str, list] = {}
    for name, data in messages:
        found.setdefault(name, []).append(data)
    return found


def _status_line(device, sensors, alarms, received):
    record = DoorStatus(
        time=local(2026, 1, 1, 9, 0, 0),
        sensors=sensors,
        alarms=alarms,
        sensor_raw=sum(v << (8 * i) for i, v in enumerate(sensors)),
        alarm_raw=sum(v << (8 * i) for i, v in enumerate(alarms)),
    )
    persistence.write_realtime_lines(
        device.pk, persistence.lines_from_records([(received, record)])
    )


def test_start_sends_devices_commands_and_the_newest_events_then_only_new_ones():
    device = make_device(alias="front")
    _events(device, BACKLOG + 5)
    feed = LiveFeed()
    first = _by_name(feed.start())
    assert [d["alias"] for d in first["devices"][0]] == ["front"]
    assert first["commands"] == [[]]
    (backlog,) = first["events"]
    assert backlog["backlog"] is True
    times = [row["time"] for row in backlog["rows"]]
    assert len(times) == BACKLOG
    assert times == sorted(times)  # oldest first: the page prepends as they come
    assert feed.poll() == []
    _events(device, 3, start=1000, event_type=102, door=2)
    (name, data), *_ = feed.poll()
    assert name == "events"
    assert [(r["event_type"], r["alarm"], r["door"]) for r in data["rows"]] == [(102, True, 2)] * 3
    assert feed.poll() == []


def test_filters_pick_device_door_and_alarms():
    one, two = make_device(alias="one"), make_device(alias="two")
    _events(one, 2, door=1)
    _events(one, 2, start=10, door=2, event_type=102)
    _events(two, 2, start=20, door=2, event_type=28)

    def backlog(**query):
        feed = LiveFeed(filters=EventFilter.from_query(query))
        return [
            (r["device"], r["door"], r["event_type"])
            for r in _by_name(feed.start())["events"][0]["rows"]
        ]

    assert len(backlog()) == 6
    assert backlog(device=str(two.pk)) == [("two", 2, 28)] * 2
    assert backlog(door="2", type="alarm") == [("one", 2, 102)] * 2
    assert backlog(type="28") == [("two", 2, 28)] * 2
    assert backlog(door="1", type="28") == []
    for bad in ({"device": "x"}, {"door": "-1"}, {"type": "alarms"}, {"type": "300"}):
        with pytest.raises(FilterError):
            EventFilter.from_query(bad)


def test_resume_after_the_cursor_sends_each_event_once():
    device = make_device()
    _events(device, 5)
    feed = LiveFeed()
    feed.start()
    _events(device, 2, start=100)
    feed.poll()
    cursor = Cursor.parse(str(feed.cursor))
    assert cursor is not None
    assert str(cursor) == str(feed.cursor)
    _events(device, 3, start=200)  # arrives while the browser is away
    resumed = LiveFeed()
    first = _by_name(resumed.start(cursor))
    assert "events" not in first  # no backlog on a resume
    (name, data), *_ = resumed.poll()
    assert name == "events"
    assert len(data["rows"]) == 3
    assert resumed.poll() == []
    assert Cursor.parse("garbage") is None
    assert Cursor.parse(None) is None


def test_a_row_committed_late_with_a_lower_id_still_arrives_once():
    # PostgreSQL with several agents: ids are taken at insert, rows appear at commit.
    device = make_device()
    feed = LiveFeed()
    feed.start()
    moment = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

    def commit(pk, second):
        DeviceEventLog.objects.create(
            pk=pk, device=device, time=moment + timedelta(seconds=second), event_type=0, source="rt"
        )

    def ids(messages):
        return [row["id"] for name, data in messages if name == "events" for row in data["rows"]]

    commit(1000, 1)  # the higher id commits first
    assert ids(feed.poll()) == [1000]
    commit(1000 - LOOKBACK // 2, 2)  # the lower id commits later, inside the look-back window
    assert ids(feed.poll()) == [1000 - LOOKBACK // 2]
    assert feed.poll() == []


def test_doors_follow_status_lines_and_devices_their_status():
    device = make_device(alias="gate", acpanel_type=2)
    now = timezone.now()
    _status_line(device, (1, 1), (0, 0), now - timedelta(seconds=5))
    feed = LiveFeed(stale_after=60)
    devices = _by_name(feed.start())["devices"][0]
    (gate,) = devices
    assert gate["state"] == "offline"
    assert gate["reason"] == "no status from the agent yet"
    assert [(d["door"], d["sensor"], d["alarm"]) for d in gate["doors"]] == [
        (1, "closed", False),
        (2, "closed", False),
    ]
    persistence.save_device_status(device.pk, online=True, return_code=1, op="REAL_LOG")
    _status_line(device, (2, 1), (0, 1), now)
    (name, data), *_ = feed.poll()
    assert name == "devices"
    (gate,) = data
    assert gate["state"] == "online"
    assert gate["last_op"] == "REAL_LOG"
    assert [(d["sensor"], d["alarm"]) for d in gate["doors"]] == [("open", False), ("closed", True)]
    assert feed.poll() == []


def test_device_states():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    device = make_device()
    status = DeviceStatus(device=device, online=True, last_return_code=1, updated_at=now)
    assert device_state(device, status, now=now, stale_after=60) == ("online", "")
    state, reason = device_state(device, status, now=now + timedelta(seconds=61), stale_after=60)
    assert (state, reason) == ("offline", "no status from the agent for 61 s")
    status.online, status.last_return_code, status.detail = False, -307, ""
    assert device_state(device, status, now=now, stale_after=60)[0] == "offline"
    device.enabled = False
    assert device_state(device, status, now=now, stale_after=60)[0] == "disabled"


def test_commands_are_sent_when_queued_and_again_when_they_finish():
    device = make_device(alias="door")
    feed = LiveFeed()
    feed.start()
    row = enqueue(device, "DEVICE SET 1 1 5", immediate=True)
    changes = _by_name(feed.poll())
    assert [c["status"] for c in changes["commands"][0]] == ["pending"]
    assert changes["devices"][0][0]["pending"] == 1
    assert persistence.mark_command_running(row.pk)
    assert persistence.record_command_result(row.pk, "done", 0, "")
    changes = _by_name(feed.poll())
    (done,) = changes["commands"][0]
    assert (done["id"], done["status"], done["return_code"], done["return_text"]) == (
        row.pk,
        "done",
        0,
        "success",
    )
    (door,) = changes["devices"][0]
    assert door["pending"] == 0
    assert door["doors"][0]["relay"] == "unlocked"  # by the command just done
    assert feed.poll() == []

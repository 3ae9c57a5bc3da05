from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from agent import persistence as p
from agent.commands import enqueue
from agent.models import (
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceEventLog,
    DeviceRealtimeLog,
    DeviceStatus,
    QuarantinedRecord,
)
from agent.persistence import DeviceNotFoundError
from zkpull import DeviceInfo, DoorStatus, RtEvent

from .factories import event, local, make_device

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)


def _batch(n: int, start: datetime | None = None):
    base = start or local(2024, 3, 5, 8, 0, 0)
    return [event(base + timedelta(seconds=i), pin=1000 + i) for i in range(n)]


# -- events ---------------------------------------------------------------------------------------
def test_writing_the_same_batch_twice_stores_it_once():
    device = make_device()
    batch = _batch(7)
    assert p.write_events(device.pk, batch, "tx", batch_size=3) == 7
    assert p.write_events(device.pk, batch, "tx", batch_size=3) == 0
    assert DeviceEventLog.objects.filter(device=device).count() == 7


def test_the_same_event_from_realtime_and_download_is_stored_once():
    device = make_device()
    assert p.write_events(device.pk, [event()], "rt") == 1
    counts = p.write_events_detailed(device.pk, [event()], "tx")
    assert (counts.stored, counts.quarantined, counts.duplicates) == (0, 0, 1)
    stored = DeviceEventLog.objects.get()
    assert stored.source == "rt"  # the first path wins; source is not part of the key


def test_overlapping_batches_and_repeats_within_a_batch():
    device = make_device()
    first = _batch(5)
    assert p.write_events(device.pk, first + first[:2], "rt") == 5
    overlap = _batch(8)  # the first 5 again, plus 3 new
    counts = p.write_events_detailed(device.pk, list(reversed(overlap)), "tx", batch_size=2)
    assert (counts.stored, counts.duplicates) == (3, 5)
    assert DeviceEventLog.objects.count() == 8


def test_stored_columns_follow_the_legacy_conventions():
    device = make_device(timezone="Europe/Berlin")
    p.write_events(device.pk, [event(pin=0, card=0, event_type=202, verified=200)], "rt")
    row = DeviceEventLog.objects.get()
    assert row.time == datetime(2024, 3, 5, 7, 15, 32, tzinfo=UTC)  # 08:15:32 CET
    assert (row.pin, row.card_no, row.event_point_type, row.event_point_id) == ("--", "--", 0, 1)
    assert (row.verified, row.state, row.trigger_opt, row.source) == (200, 0, -1, "rt")


def test_zkpull_events_are_accepted_directly():
    device = make_device()
    rt = RtEvent(local(2024, 3, 5, 8, 15, 32), 1001, 12345678, 1, 0, 0, 4, 777111332)
    assert p.write_events(device.pk, [rt], "rt") == 1
    assert p.write_events(device.pk, [event()], "tx") == 0  # the same event as an EventRecord


def test_panel_local_times_use_the_device_zone_or_the_given_one():
    device = make_device(timezone="Asia/Tokyo")
    p.write_events(device.pk, [event(local(2024, 1, 1, 9, 0))], "rt")
    p.write_events(device.pk, [event(local(2024, 1, 1, 9, 0), pin=7)], "rt", tz_name="UTC")
    times = dict(DeviceEventLog.objects.values_list("pin", "time"))
    assert times["1001"] == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert times["7"] == datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def test_dst_fold_events_are_stored_deterministically():
    device = make_device(timezone="Europe/Berlin")
    gap = event(local(2024, 3, 31, 2, 30), pin=1)
    fold = event(local(2024, 10, 27, 2, 30), pin=2)
    assert p.write_events(device.pk, [gap, fold], "tx") == 2
    assert p.write_events(device.pk, [gap, fold], "rt") == 0
    times = dict(DeviceEventLog.objects.values_list("pin", "time"))
    assert times["1"] == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert times["2"] == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_invalid_records_are_quarantined_once_and_counted():
    device = make_device()
    bad = event(time=None, time_raw=5184000)
    counts = p.write_events_detailed(device.pk, [event(), bad, bad], "tx")
    assert (counts.stored, counts.quarantined, counts.total) == (1, 1, 2)
    assert p.write_events(device.pk, [bad], "tx") == 0
    record = QuarantinedRecord.objects.get()
    assert record.raw == "invalid:5184000,1001,12345678,1,0,0,4"
    assert "impossible panel time" in record.reason


def test_unknown_device_and_source_are_refused():
    with pytest.raises(DeviceNotFoundError):
        p.write_events(10**9, [event()], "rt")
    with pytest.raises(ValueError, match="'web'"):
        p.write_events(make_device().pk, [event()], "web")


def test_empty_batches_are_fine():
    assert p.write_events(make_device().pk, [], "rt") == 0


# -- realtime lines -------------------------------------------------------------------------------
def test_realtime_lines_are_stored_once_with_their_positions():
    device = make_device(timezone="Europe/Berlin")
    received = NOW
    status = DoorStatus(local(2024, 3, 5, 8, 0, 1), (1, 2, 0, 0), (0, 0, 0, 0), sensor_raw=513)
    rt = RtEvent(local(2024, 3, 5, 8, 0, 0), 1001, 5, 1, 0, 0, 4)
    broken = RtEvent(None, 1, 2, 1, 0, 0, 4, time_raw=5184000)
    lines = p.lines_from_records([(received, rt), (received, status), (received, broken)])
    assert p.write_realtime_lines(device.pk, lines) == 3
    assert p.write_realtime_lines(device.pk, lines) == 0
    rows = list(DeviceRealtimeLog.objects.order_by("seq"))
    assert [r.line for r in rows] == [
        "2024-03-05 08:00:00,1001,5,1,0,0,4",
        "2024-03-05 08:00:01,513,0,0,255,0,200",
        "invalid:5184000,1,2,1,0,0,4",
    ]
    assert rows[0].time == datetime(2024, 3, 5, 7, 0, 0, tzinfo=UTC)
    assert rows[1].is_status
    assert rows[1].pin == 513
    assert rows[2].time is None


# -- commands -------------------------------------------------------------------------------------
def test_pending_commands_come_immediate_first_then_priority_then_age():
    device = make_device()
    old = enqueue(device, "DATA COUNT user", now=NOW)
    newer = enqueue(device, "DATA COUNT holiday", now=NOW + timedelta(seconds=1))
    high = enqueue(device, "DATA COUNT timezone", priority=5, now=NOW + timedelta(seconds=2))
    urgent = enqueue(device, "CANCEL ALARM 1", immediate=True, now=NOW + timedelta(seconds=3))
    expired = enqueue(device, "DEVICE SET 1 1 5", expires_in=timedelta(seconds=1), now=NOW)
    queued = p.pending_commands(device.pk, now=NOW + timedelta(seconds=10))
    assert [q.command_id for q in queued] == [urgent.pk, high.pk, old.pk, newer.pk]
    assert expired.pk not in [q.command_id for q in queued]
    first = queued[0]
    assert (first.content, first.immediate, first.attempts) == ("CANCEL ALARM 1", True, 0)
    assert first.enqueued_at == (NOW + timedelta(seconds=3)).timestamp()
    assert first.expires_at == (NOW + timedelta(seconds=53)).timestamp()
    assert len(p.pending_commands(device.pk, now=NOW, limit=2)) == 2


def test_mark_running_wins_once_and_counts_attempts():
    command = enqueue(make_device(), "DATA COUNT user", now=NOW)
    assert p.mark_command_running(command.pk, now=NOW) is True
    assert p.mark_command_running(command.pk, now=NOW) is False
    command.refresh_from_db()
    assert (command.status, command.attempts, command.trans_time) == ("running", 1, NOW)


def test_mark_running_expires_a_command_past_its_expiry():
    command = enqueue(make_device(), "DEVICE SET 1 1 5", now=NOW)
    assert p.mark_command_running(command.pk, now=NOW + timedelta(minutes=1)) is False
    command.refresh_from_db()
    assert (command.status, command.return_code) == ("expired", -1005)


def test_an_outcome_is_recorded_at_most_once():
    command = enqueue(make_device(), "DATA COUNT user", now=NOW)
    p.mark_command_running(command.pk)
    assert p.record_command_result(command.pk, "done", 3, "3", now=NOW) is True
    assert p.record_command_result(command.pk, "failed", -2, "late retry") is False
    command.refresh_from_db()
    assert (command.status, command.return_code, command.return_content) == ("done", 3, "3")
    assert command.over_time == NOW


def test_record_result_needs_a_final_status():
    with pytest.raises(ValueError, match="not a final status"):
        p.record_command_result(1, "running", 0)


def test_release_puts_a_running_command_back_with_its_last_error():
    device = make_device()
    command = enqueue(device, "DATA COUNT user")
    p.mark_command_running(command.pk)
    assert p.release_command(command.pk, -2, "no response") is True
    assert p.release_command(command.pk, -2, "no response") is False  # not running any more
    command.refresh_from_db()
    assert (command.status, command.return_code, command.attempts) == ("pending", -2, 1)
    assert [q.command_id for q in p.pending_commands(device.pk)] == [command.pk]


def test_release_cancels_when_an_identical_command_was_queued_meanwhile():
    device = make_device()
    running = enqueue(device, "DATA COUNT user")
    p.mark_command_running(running.pk)
    twin = enqueue(device, "DATA COUNT user")  # allowed: the first one is not pending
    assert twin.pk != running.pk
    assert p.release_command(running.pk, -2, "no response") is False
    running.refresh_from_db()
    assert running.status == CommandStatus.CANCELLED
    assert "superseded" in running.return_content
    assert [q.command_id for q in p.pending_commands(device.pk)] == [twin.pk]


def test_commands_left_running_are_recovered():
    device, other = make_device(), make_device()
    mine = enqueue(device, "DATA COUNT user")
    theirs = enqueue(other, "DATA COUNT user")
    for command in (mine, theirs):
        p.mark_command_running(command.pk)
    assert p.recover_running_commands([device.pk]) == 1
    assert DeviceCommand.objects.get(pk=theirs.pk).status == "running"
    assert p.recover_running_commands() == 1
    assert set(DeviceCommand.objects.values_list("status", flat=True)) == {"pending"}


def test_expire_due_commands():
    device = make_device()
    door = enqueue(device, "DEVICE SET 1 1 5", now=NOW)
    sync = enqueue(device, "DATA COUNT user", now=NOW)
    assert p.expire_due_commands(NOW + timedelta(seconds=10)) == 0
    assert p.expire_due_commands(NOW + timedelta(minutes=1)) == 1
    assert p.expire_due_commands(NOW + timedelta(minutes=1)) == 0
    assert DeviceCommand.objects.get(pk=door.pk).return_code == -1005
    assert DeviceCommand.objects.get(pk=sync.pk).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_outcome_recorded_once_under_a_race():
    device = make_device()
    commands = []
    # Ten rounds: two threads released together record opposite outcomes for one command.
    for table in (
        "user",
        "holiday",
        "timezone",
        "usertype",
        "firstcard",
        "multimcard",
        "inoutfun",
        "losscard",
        "wiegandfmt",
        "userauthorize",
    ):
        command = enqueue(device, f"DATA COUNT {table}")
        p.mark_command_running(command.pk)
        commands.append(command)
    wins: list[tuple[int, str, bool]] = []
    errors: list[BaseException] = []

    def contender(status: str, code: int, barrier: threading.Barrier, command_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            wins.append((command_id, status, p.record_command_result(command_id, status, code)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    for command in commands:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=contender, args=("done", 0, barrier, command.pk)),
            threading.Thread(target=contender, args=("failed", -2, barrier, command.pk)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    for command in commands:
        results = [(status, won) for cid, status, won in wins if cid == command.pk]
        assert sorted(won for _, won in results) == [False, True]
        winner = next(status for status, won in results if won)
        assert DeviceCommand.objects.get(pk=command.pk).status == winner


# -- devices ---------------------------------------------------------------------------------------
def test_device_facts_are_saved_and_cut_to_their_columns():
    device = make_device()
    info = DeviceInfo(
        serial_number="AJYS201260001",
        firmware="AC Ver 4.7.8.3033 Apr 29 2021",
        device_name="C3-400" * 20,
        lock_count=4,
        reader_count=8,
        aux_in_count=4,
        aux_out_count=4,
        time=None,
        params={"~MaxUserCount": "30000", "~MaxAttLogCount": "x"},
    )
    facts = p.facts_from_info(info)
    assert facts["max_user_count"] == 30000
    assert "max_attlog_count" not in facts
    assert p.save_device_facts(device.pk, facts, now=NOW) is True
    assert p.save_device_facts(device.pk, facts, now=NOW) is True  # idempotent
    device.refresh_from_db()
    assert (device.sn, device.lock_count, device.max_user_count) == ("AJYS201260001", 4, 30000)
    assert len(device.device_name) == 50
    assert device.last_connected_at == NOW
    assert p.save_device_facts(10**9, facts) is False
    # Extra keys (the raw options of a connect) and unknown values are ignored.
    assert p.save_device_facts(device.pk, {"options": {"LockCount": "4"}, "max_user_count": None})
    device.refresh_from_db()
    assert device.max_user_count == 30000


def test_device_status_is_upserted_and_keeps_the_last_activity():
    device = make_device()
    assert p.save_device_status(
        device.pk, online=True, return_code=1, op="REAL_LOG", last_activity=NOW
    )
    assert p.save_device_status(
        device.pk, online=False, return_code=-1001, op="DISCONNECT", detail="gone"
    )
    status = DeviceStatus.objects.get(device=device)
    assert (status.online, status.last_return_code, status.last_op, status.detail) == (
        False,
        -1001,
        "DISCONNECT",
        "gone",
    )
    assert status.last_activity == NOW
    assert p.save_device_status(10**9, online=False, return_code=None, op="") is False


def test_disable_device_once():
    device = make_device()
    assert p.disable_device(device.pk, "panel reports 2 doors, device is configured for 4") is True
    assert p.disable_device(device.pk, "again") is False
    assert not Device.objects.get(pk=device.pk).enabled
    status = DeviceStatus.objects.get(device=device)
    assert (status.last_return_code, status.last_op) == (-1002, "DISABLED")

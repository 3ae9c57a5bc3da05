"""The legacy writer against a real MariaDB: enriched rows, duplicates, the legacy DB down.

Events go through the agent's real write path (PersistenceWriter -> DbThread ->
persistence.write_events_detailed) with the writer's after-stored hook attached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from agent import persistence
from agent.dbthread import DbThread
from agent.metrics import Metrics
from agent.models import CommType, Device, DeviceEventLog
from agent.records import EventRecord
from agent.writer import PersistenceWriter, WriteJob
from legacy.conf import LegacySettings
from legacy.legacy_writer import LegacyEventWriter
from legacy.models import DeviceLink, LegacyExportCursor

from .conftest import ALIAS, LEGACY_DB_MARK, LegacyDb

pytestmark = [LEGACY_DB_MARK, pytest.mark.timeout(120)]
LEGACY_ID = 21
ZONE = "Europe/Berlin"
SETTINGS = LegacySettings(alias=ALIAS, writer=True, writer_batch=50, writer_poll_seconds=0.2)


def local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:  # noqa: PLR0917
    return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (panels report naive local wall-clock time)


@pytest.fixture
def device(legacy_db: LegacyDb) -> Device:
    area = legacy_db.insert("personnel_area", areaid="1", areaname="Head office")
    dept = legacy_db.insert("departments", DeptName="Engineering")
    legacy_db.insert(
        "userinfo", badgenumber="1001", name="Ada", lastname="Lovelace", defaultdeptid=dept
    )
    legacy_db.insert(
        "iclock", id=LEGACY_ID, sn="C3W001", device_type=2, alias="Main", comm_type=1,
        ipaddress="10.2.2.2", ip_port=4370, acpanel_type=4, area_id=area,
    )  # fmt: skip
    door = legacy_db.insert("acc_door", device_id=LEGACY_ID, door_no=1, door_name="Front door")
    legacy_db.insert(
        "acc_reader", door_id=door, reader_no=1, reader_name="Front in", reader_state=0
    )
    legacy_db.insert(
        "acc_reader", door_id=door, reader_no=2, reader_name="Front out", reader_state=1
    )
    legacy_db.insert("acc_auxiliary", device_id=LEGACY_ID, aux_no=1, aux_name="Siren", aux_state=0)
    made = Device.objects.create(
        alias="main", sn="C3W001", comm_type=CommType.TCP, ipaddress="10.2.2.2", ip_port=4370,
        timezone=ZONE,
    )  # fmt: skip
    DeviceLink.objects.create(device=made, legacy_id=LEGACY_ID)
    return made


@pytest.fixture
def legacy_writer() -> Iterator[LegacyEventWriter]:
    writer = LegacyEventWriter(
        SETTINGS, start_after=timezone.now() - timedelta(seconds=1), retry_base=0.1, retry_cap=0.3
    )
    writer.start()
    yield writer
    writer.stop(timeout=20)


def agent_write(device_id: int, records: Sequence[EventRecord], hook: Callable[..., None]) -> float:
    """Store *records* through the agent's write path; returns the seconds until committed."""

    async def main() -> float:
        db = DbThread()

        async def store(job: WriteJob) -> int:
            counts = await db.run(
                persistence.write_events_detailed, job.device_id, job.records, job.source
            )
            return counts.stored

        writer = PersistenceWriter(store, Metrics())
        writer.after_stored.append(hook)
        task = asyncio.create_task(writer.run())
        started = time.monotonic()
        job = await writer.submit(WriteJob("events", device_id, list(records), "rt"))
        await asyncio.wait_for(job.done, 30)
        took = time.monotonic() - started
        await writer.stop()
        await task
        await asyncio.to_thread(db.close)
        return took

    return asyncio.run(main())


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def events() -> list[EventRecord]:
    return [
        EventRecord(local(2026, 12, 3, 8, 15, 32), 1001, 12345678, 1, 0, 0, 4),  # Ada, in
        EventRecord(local(2026, 12, 3, 8, 20, 0), 1001, 12345678, 1, 0, 1, 4),  # Ada, out
        EventRecord(local(2026, 12, 3, 8, 21, 0), 0, 0, 1, 220, 2, 200),  # aux input 1
        EventRecord(local(2026, 12, 3, 8, 22, 0), 555, 999, 1, 27, 0, 4),  # unknown person
    ]


def test_writer_copies_enriched_rows(
    legacy_db: LegacyDb, device: Device, legacy_writer: LegacyEventWriter
) -> None:
    agent_write(device.pk, events(), legacy_writer.on_stored)
    wait_until(lambda: len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 4, 30, "4 rows")
    rows = legacy_db.rows("SELECT * FROM acc_monitor_log ORDER BY time")
    first, second, aux, stranger = rows
    assert first["time"] == local(2026, 12, 3, 8, 15, 32)  # the panel's wall clock, as legacy
    assert {k: first[k] for k in ("pin", "card_no", "device_id", "device_sn", "device_name")} == {
        "pin": "1001", "card_no": "12345678", "device_id": LEGACY_ID, "device_sn": "C3W001",
        "device_name": "Main",
    }  # fmt: skip
    assert (first["event_point_type"], first["event_point_id"], first["event_point_name"]) == (
        0, 1, "Front door",
    )  # fmt: skip
    assert (first["state"], first["state_name"], second["state_name"]) == (
        0,
        "Front in",
        "Front out",
    )
    assert (first["firstname"], first["lastname"], first["dept"]) == (
        "Ada",
        "Lovelace",
        "Engineering",
    )
    assert first["area"] == "Head office"
    assert (first["verified"], first["event_type"], first["trigger_opt"]) == (4, 0, -1)
    assert (aux["event_point_type"], aux["event_point_name"], aux["pin"]) == (1, "Siren", "--")
    assert aux["verified"] == 200
    assert stranger["firstname"] is None
    assert stranger["state_name"] == "Front in"
    assert legacy_writer.stats.inserted == 4


def test_writer_is_duplicate_safe(
    legacy_db: LegacyDb, device: Device, legacy_writer: LegacyEventWriter
) -> None:
    # The legacy service already wrote the first event (same 10-column key).
    legacy_db.insert(
        "acc_monitor_log", time=local(2026, 12, 3, 8, 15, 32), pin="1001", card_no="12345678",
        device_id=LEGACY_ID, verified=4, state=0, event_type=0, trigger_opt=-1,
        event_point_type=0, event_point_id=1, device_name="written by ZKECO",
    )  # fmt: skip
    agent_write(device.pk, events(), legacy_writer.on_stored)
    wait_until(lambda: legacy_writer.stats.exported == 4, 30, "4 rows exported")
    assert len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 4
    assert legacy_writer.stats.inserted == 3
    # A crash between the two commits: the cursor is behind, the batch is copied again.
    legacy_writer.stop()
    LegacyExportCursor.objects.filter(device=device).update(last_event_id=0)
    again = LegacyEventWriter(SETTINGS)
    assert again.export_pass() == 4
    assert again.stats.inserted == 0
    assert len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 4
    kept = legacy_db.rows("SELECT device_name FROM acc_monitor_log WHERE pin='1001' AND state=0")
    assert kept == [{"device_name": "written by ZKECO"}]


def test_legacy_database_down_neither_blocks_nor_loses(
    legacy_db: LegacyDb, device: Device, legacy_writer: LegacyEventWriter
) -> None:
    settings = connections.settings[ALIAS]
    port = settings["PORT"]
    settings["PORT"] = "1"  # nothing listens there: every legacy connect is refused
    try:
        took = agent_write(device.pk, events(), legacy_writer.on_stored)
        assert DeviceEventLog.objects.filter(device=device).count() == 4
        assert took < 10  # the agent's own commit does not wait for the legacy database
        wait_until(lambda: legacy_writer.stats.retries >= 3, 30, "three failed attempts")
        assert legacy_writer.stats.outage
        assert legacy_db.rows("SELECT id FROM acc_monitor_log") == []
        more = [
            EventRecord(local(2026, 12, 3, 9, 0, s), 1001, 12345678, 1, 0, 0, 4) for s in range(3)
        ]
        agent_write(device.pk, more, legacy_writer.on_stored)  # still stored while it is down
        assert DeviceEventLog.objects.filter(device=device).count() == 7
    finally:
        settings["PORT"] = port
    wait_until(lambda: len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 7, 60, "catch-up")
    wait_until(lambda: not legacy_writer.stats.outage, 10, "the outage to end")


def test_catch_up_after_a_restart_during_an_outage(legacy_db: LegacyDb, device: Device) -> None:
    settings = connections.settings[ALIAS]
    port = settings["PORT"]
    first = LegacyEventWriter(
        SETTINGS, start_after=timezone.now() - timedelta(seconds=1), retry_base=0.1, retry_cap=0.2
    )
    first.start()
    settings["PORT"] = "1"
    try:
        agent_write(device.pk, events(), first.on_stored)
        wait_until(lambda: first.stats.retries >= 1, 30, "a failed attempt")
        first.stop(timeout=20)  # the agent stops while the legacy database is down
    finally:
        settings["PORT"] = port
    assert legacy_db.rows("SELECT id FROM acc_monitor_log") == []
    second = LegacyEventWriter(SETTINGS)  # next agent start: the cursor says what is missing
    assert second.export_pass() == 4
    assert len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 4


def test_devices_without_a_legacy_row_are_reported_not_written(legacy_db: LegacyDb) -> None:
    lonely = Device.objects.create(
        alias="new", comm_type=CommType.TCP, ipaddress="10.9.9.9", ip_port=4370
    )
    writer = LegacyEventWriter(SETTINGS, start_after=timezone.now() - timedelta(seconds=1))
    agent_write(lonely.pk, events(), writer.on_stored)
    writer.export_pass({lonely.pk})
    assert writer.stats.unlinked == 1
    assert legacy_db.rows("SELECT id FROM acc_monitor_log") == []


def test_a_failing_hook_does_not_break_the_agent_write(legacy_db: LegacyDb, device: Device) -> None:
    def broken(jobs: Sequence[WriteJob]) -> None:
        raise RuntimeError("hook bug")

    agent_write(device.pk, events(), broken)
    assert DeviceEventLog.objects.filter(device=device).count() == 4


def test_export_command_copies_events_stored_before_the_writer(
    legacy_db: LegacyDb, device: Device
) -> None:
    agent_write(device.pk, events(), lambda jobs: None)  # e.g. stored in shadow mode
    older = [EventRecord(local(2026, 12, 1, 7, 0, 0), 1001, 12345678, 1, 0, 0, 4)]
    agent_write(device.pk, older, lambda jobs: None)  # stored later, from an earlier day
    out = StringIO()
    call_command("export_legacy_events", "--since", "2026-12-03", stdout=out)
    # Everything stored from the first event of 12-03 on, so also the 12-01 event that was
    # downloaded after it: a real event ZKECO lacks as well.
    assert "5 new in acc_monitor_log" in out.getvalue()
    times = sorted(row["time"] for row in legacy_db.rows("SELECT time FROM acc_monitor_log"))
    assert times[:2] == [local(2026, 12, 1, 7, 0, 0), local(2026, 12, 3, 8, 15, 32)]
    again = StringIO()
    call_command("export_legacy_events", "--since", "2026-12-03", stdout=again)
    assert "0 new in acc_monitor_log, 5 already there" in again.getvalue()
    assert len(legacy_db.rows("SELECT id FROM acc_monitor_log")) == 5

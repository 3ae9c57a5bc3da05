"""compare_legacy against a real MariaDB: counts, rows only one side has, tolerance, exit code."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agent.models import CommType, Device
from agent.persistence import write_events
from agent.records import EventRecord
from legacy.models import DeviceLink

from .conftest import LEGACY_DB_MARK, LegacyDb

pytestmark = LEGACY_DB_MARK
ZONE = "Europe/Berlin"
LEGACY_ID = 11


@pytest.fixture
def site(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:  # noqa: PLR0917
    return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (panels and acc_monitor_log keep naive local time)


def _device() -> Device:
    device = Device.objects.create(
        alias="Main", sn="C3M001", comm_type=CommType.TCP, ipaddress="10.1.1.1", ip_port=4370,
        timezone=ZONE,
    )  # fmt: skip
    DeviceLink.objects.create(device=device, legacy_id=LEGACY_ID)
    return device


def _record(local: datetime, pin: int = 1001, event: int = 0, door: int = 1) -> EventRecord:
    return EventRecord(local, pin, 12345678 if pin else 0, door, event, 0, 4)


def _legacy_row(
    db: LegacyDb, local: datetime, pin: int = 1001, event: int = 0, door: int = 1
) -> None:
    db.insert(
        "acc_monitor_log", time=local, pin=str(pin) if pin else "--",
        card_no="12345678" if pin else "--", device_id=LEGACY_ID, device_sn="C3M001",
        device_name="Main", verified=4, state=0, event_type=event, trigger_opt=-1,
        event_point_type=0 if door else -1, event_point_id=door, event_point_name="Front",
    )  # fmt: skip


def _both(db: LegacyDb, device: Device, times: list[datetime]) -> None:
    write_events(device.pk, [_record(t) for t in times], "rt")
    for when in times:
        _legacy_row(db, when)


def _compare(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("compare_legacy", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_equal_sides_exit_zero(legacy_db: LegacyDb, site: None) -> None:
    device = _device()
    _both(legacy_db, device, [local(2026, 12, 2, 8, m, 0) for m in range(5)])
    code, text = _compare("--since", "2026-12-02", "--until", "2026-12-02")
    assert code == 0, text
    assert "Main" in text
    assert "2026-12-02" in text
    line = next(row for row in text.splitlines() if row.startswith("Main"))
    assert line.split()[3:] == ["5", "5", "0", "0", "ok"]
    assert "1 of 1 device-days within tolerance" in text


def test_rows_only_one_side_has_are_listed_and_fail(legacy_db: LegacyDb, site: None) -> None:
    device = _device()
    _both(legacy_db, device, [local(2026, 12, 2, 9, m, 0) for m in range(3)])
    _legacy_row(legacy_db, local(2026, 12, 2, 10, 0, 0), pin=2002)  # only the legacy saw it
    write_events(device.pk, [_record(local(2026, 12, 2, 11, 0, 0), event=27)], "tx")
    code, text = _compare("--since", "2026-12-02", "--until", "2026-12-02", "--json")
    assert code == 1
    report = json.loads(text[: text.rindex("}") + 1])
    (day,) = report["days"]
    assert (day["legacy"], day["agent"]) == (4, 4)
    assert day["only_legacy"] == [
        "2026-12-02 10:00:00 event 0 door 1 pin 2002 card 12345678 verified 4 state 0 trigger -1"
    ]
    assert day["only_agent"] == [
        "2026-12-02 11:00:00 event 27 door 1 pin 1001 card 12345678 verified 4 state 0 trigger -1"
    ]
    assert report["within_tolerance"] is False
    assert "1 of 1 device-days differ beyond the tolerance (0)" in text


def test_tolerance_absolute_and_percent(legacy_db: LegacyDb, site: None) -> None:
    device = _device()
    _both(legacy_db, device, [local(2026, 12, 2, 12, m // 60, m % 60) for m in range(100)])
    _legacy_row(legacy_db, local(2026, 12, 2, 13, 0, 0))  # one unmatched row of 101
    window = ("--since", "2026-12-02", "--until", "2026-12-02")
    assert _compare(*window, "--tolerance", "1")[0] == 0
    assert _compare(*window, "--tolerance", "0")[0] == 1
    assert _compare(*window, "--tolerance", "0.5%")[0] == 1  # 1 > 0.505
    code, text = _compare(*window, "--tolerance", "1%")
    assert code == 0
    assert "within" in text  # unmatched, but within the tolerance
    assert _compare(*window, "--tolerance", "lots")[0] == 2


def test_days_are_site_local_and_legacy_times_panel_local(legacy_db: LegacyDb, site: None) -> None:
    device = _device()
    # 00:30 in Berlin on 12-03 is 23:30 UTC on 12-02: it belongs to the site's 12-03.
    _both(legacy_db, device, [local(2026, 12, 3, 0, 30, 0), local(2026, 12, 2, 23, 59, 59)])
    code, text = _compare("--since", "2026-12-02", "--until", "2026-12-03", "--json")
    assert code == 0, text
    days = {d["day"]: (d["legacy"], d["agent"]) for d in json.loads(text)["days"]}
    assert days == {"2026-12-02": (1, 1), "2026-12-03": (1, 1)}
    assert device.events.count() == 2
    first = device.events.order_by("time").first()
    assert first is not None
    assert first.time.astimezone(ZoneInfo(ZONE)) == datetime(
        2026, 12, 2, 23, 59, 59, tzinfo=ZoneInfo(ZONE)
    )


def test_device_filter_and_unimported_legacy_devices(legacy_db: LegacyDb, site: None) -> None:
    _device()
    legacy_db.insert(
        "acc_monitor_log", time=local(2026, 12, 2, 8, 0, 0), pin="7", card_no="--",
        device_id=99, verified=4, state=0, event_type=0, trigger_opt=-1, event_point_type=0,
        event_point_id=1,
    )  # fmt: skip
    code, text = _compare("--since", "2026-12-02", "--until", "2026-12-02")
    assert code == 0
    assert "note: iclock 99 has 1 legacy rows but no imported device" in text
    code, text = _compare("--since", "2026-12-02", "--until", "2026-12-02", "--device", "nope")
    assert code == 0
    assert "0 of 0 device-days" in text

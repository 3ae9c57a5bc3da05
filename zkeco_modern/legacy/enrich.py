"""Enriched `acc_monitor_log` rows, as the legacy service wrote them (parity doc §1.5).

Names come from the legacy tables: device alias and serial (`iclock`), door and aux point
names (`acc_door`, `acc_auxiliary` by device and number), reader name (`acc_reader` by door
and in/out state, falling back to "In"/"Out"), person first/last name and department
(`userinfo` by badge number = PIN, `departments`), area (`personnel_area` of the device).
Times are written as the panel's naive wall clock, like the legacy (USE_TZ off) did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.db import connections

from agent.records import NO_VALUE, EventPointType

COLUMNS: Final = (
    "create_time",
    "status",
    "time",
    "pin",
    "card_no",
    "device_id",
    "device_sn",
    "device_name",
    "verified",
    "state",
    "state_name",
    "event_type",
    "trigger_opt",
    "event_point_type",
    "event_point_id",
    "event_point_name",
    "description",
    "firstname",
    "lastname",
    "dept",
    "area",
)
# INSERT IGNORE: a row already under the 10-column unique key is skipped, not an error, so
# re-exporting a range (after a crash between the two commits) is harmless.
INSERT_SQL: Final = (
    f"INSERT IGNORE INTO acc_monitor_log ({', '.join(COLUMNS)}) "  # noqa: S608 (constant columns)
    f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
)
_READER_FALLBACK: Final = {0: "In", 1: "Out"}
_LIMITS: Final = {
    "device_sn": 20,
    "device_name": 20,
    "state_name": 30,
    "event_point_name": 30,
    "description": 200,
    "firstname": 24,
    "lastname": 24,
    "dept": 100,
    "area": 30,
}


@dataclass(frozen=True, slots=True)
class DeviceNames:
    """The names of one legacy device's points."""

    legacy_id: int
    alias: str
    sn: str
    area: str
    doors: Mapping[int, tuple[int, str]] = field(default_factory=dict)  # no -> (id, name)
    readers: Mapping[tuple[int, int], str] = field(default_factory=dict)  # (door id, state)
    aux: Mapping[int, str] = field(default_factory=dict)  # aux no -> name


@dataclass(frozen=True, slots=True)
class Person:
    firstname: str
    lastname: str
    dept: str


def load_device_names(alias: str, legacy_id: int) -> DeviceNames | None:
    """Names of iclock *legacy_id*, or None when the row does not exist."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT d.alias, d.sn, a.areaname FROM iclock d"
            " LEFT JOIN personnel_area a ON a.id = d.area_id WHERE d.id = %s",
            [legacy_id],
        )
        found = cursor.fetchone()
        if found is None:
            return None
        cursor.execute(
            "SELECT id, door_no, door_name FROM acc_door WHERE device_id = %s", [legacy_id]
        )
        doors = {int(no): (int(pk), name or "") for pk, no, name in cursor.fetchall()}
        readers: dict[tuple[int, int], str] = {}
        if doors:
            ids = [pk for pk, _ in doors.values()]
            cursor.execute(
                "SELECT door_id, reader_state, reader_name FROM acc_reader"  # noqa: S608
                f" WHERE door_id IN ({', '.join(['%s'] * len(ids))})",
                ids,
            )
            for door_id, state, name in cursor.fetchall():
                readers.setdefault((int(door_id), int(state)), name or "")
        cursor.execute(
            "SELECT aux_no, aux_name FROM acc_auxiliary WHERE device_id = %s", [legacy_id]
        )
        aux = {int(no): name or "" for no, name in cursor.fetchall()}
    device_alias, sn, area = found
    return DeviceNames(legacy_id, device_alias or "", sn or "", area or "", doors, readers, aux)


def load_people(alias: str, pins: Iterable[str]) -> dict[str, Person]:
    """First/last name and department of each PIN that is a legacy `userinfo` badge number."""
    wanted = sorted({pin for pin in pins if pin and pin != NO_VALUE})
    if not wanted:
        return {}
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT u.badgenumber, u.name, u.lastname, d.DeptName FROM userinfo u"  # noqa: S608
            " LEFT JOIN departments d ON d.DeptID = u.defaultdeptid"
            f" WHERE u.badgenumber IN ({', '.join(['%s'] * len(wanted))})",
            wanted,
        )
        return {
            str(pin): Person(first or "", last or "", dept or "")
            for pin, first, last, dept in cursor.fetchall()
        }


def monitor_row(
    event: Mapping[str, Any],
    names: DeviceNames,
    people: Mapping[str, Person],
    zone: ZoneInfo,
    created: datetime,
) -> tuple[Any, ...]:
    """The `COLUMNS` values of one DeviceEventLog row (as `.values()` gives it)."""
    point_type = int(event["event_point_type"])
    point_id = int(event["event_point_id"])
    state = int(event["state"])
    point_name: str | None = None
    reader: str | None = None
    if point_type == EventPointType.DOOR:
        door = names.doors.get(point_id)
        point_name = door[1] if door else None
        if door is not None:
            reader = names.readers.get((door[0], state))
        reader = reader or _READER_FALLBACK.get(state)
    elif point_type == EventPointType.AUX:
        point_name = names.aux.get(point_id)
    person = people.get(str(event["pin"]))
    values: dict[str, object] = {
        "create_time": created,
        "status": 0,
        "time": event["time"].astimezone(zone).replace(tzinfo=None),
        "pin": event["pin"],
        "card_no": event["card_no"],
        "device_id": names.legacy_id,
        "device_sn": names.sn,
        "device_name": names.alias,
        "verified": event["verified"],
        "state": state,
        "state_name": reader,
        "event_type": event["event_type"],
        "trigger_opt": event["trigger_opt"],
        "event_point_type": point_type,
        "event_point_id": point_id,
        "event_point_name": point_name,
        "description": event["description"] or None,
        "firstname": person.firstname if person else None,
        "lastname": person.lastname if person else None,
        "dept": person.dept if person else None,
        "area": names.area or None,
    }
    for name, limit in _LIMITS.items():
        text = values[name]
        if isinstance(text, str):
            values[name] = text[:limit]
    return tuple(values[name] for name in COLUMNS)

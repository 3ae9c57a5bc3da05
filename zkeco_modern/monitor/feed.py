"""What the live page shows, read from the database: device rows, doors, events, commands.

`LiveFeed` is the per-stream reader (sync ORM, run off the event loop by the SSE view):
`start()` gives the initial messages, each `poll()` the changes since. Rows are followed by
id cursors; `Cursor` is what the stream sends as the SSE id, so a reconnecting browser
resumes where it stopped (Last-Event-ID). Ids are not commit order on PostgreSQL when
several agents write, so events and status lines are re-read over a short look-back window
and rows already sent are skipped: a row committed late still arrives, once.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from agent.models import (
    FINAL_STATUSES,
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceEventLog,
    DeviceRealtimeLog,
    DeviceStatus,
)
from agent.records import EventPointType
from agent.returncodes import describe_return_code
from zkpull.protocol.codes import EventType, describe_event, describe_inout, describe_verify

from .doors import DoorState, RelayState, decode_status, relay_from_commands

BACKLOG: Final = 50  # events sent on a fresh connect
RECENT_COMMANDS: Final = 20
BATCH: Final = 500  # rows per poll at most; the next poll continues
LOOKBACK: Final = 200  # ids re-read behind the cursor (late commits)
RELAY_COMMANDS: Final = 200  # recent done lock commands read for the relay column
_CURSOR = re.compile(r"^e(\d{1,19})\.r(\d{1,19})\.c(\d{1,19})$")
ALARMS: Final = range(100, 200)
Message = tuple[str, Any]  # (SSE event name, JSON-able data)


class FilterError(ValueError):
    """A filter parameter of the stream that is not valid."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events the stream sends: one device, one door, alarms or one event type."""

    device: int | None = None
    door: int | None = None
    kind: str = "all"  # "all", "alarm" or an event type number

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilter:
        device = _optional_int(query.get("device"), "device", range(1, 2**63))
        door = _optional_int(query.get("door"), "door", range(0, 256))
        kind = (query.get("type") or "all").strip().lower()
        if kind not in {"all", "alarm"}:
            _optional_int(kind, "type", range(0, 256))
        return cls(device, door, kind)

    def apply(self, rows: QuerySet[DeviceEventLog]) -> QuerySet[DeviceEventLog]:
        if self.device is not None:
            rows = rows.filter(device_id=self.device)
        if self.door is not None:
            rows = rows.filter(event_point_type=int(EventPointType.DOOR), event_point_id=self.door)
        if self.kind == "alarm":
            rows = rows.filter(event_type__gte=ALARMS.start, event_type__lt=ALARMS.stop)
        elif self.kind != "all":
            rows = rows.filter(event_type=int(self.kind))
        return rows


@dataclass(slots=True)
class Cursor:
    """Highest ids sent: events, real-time status lines, commands."""

    event: int = 0
    realtime: int = 0
    command: int = 0

    def __str__(self) -> str:
        return f"e{self.event}.r{self.realtime}.c{self.command}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """A cursor from a Last-Event-ID; None when absent or not one of ours (a fresh start)."""
        match = _CURSOR.match((text or "").strip())
        if match is None:
            return None
        return cls(*(int(group) for group in match.groups()))


class _Seen:
    """Ids already sent, bounded: only the look-back window needs remembering."""

    def __init__(self, limit: int = 4 * LOOKBACK) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._limit = limit

    def add(self, row_id: int) -> bool:
        """True if new."""
        if row_id in self._ids:
            return False
        self._ids[row_id] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


@dataclass(slots=True)
class LiveFeed:
    """One stream's reader. Not thread-safe: one stream, one worker at a time."""

    filters: EventFilter = field(default_factory=EventFilter)
    stale_after: float = 210.0  # seconds: an older "online" status row reads offline
    cursor: Cursor = field(default_factory=Cursor)
    _events_seen: _Seen = field(default_factory=_Seen)
    _lines_seen: _Seen = field(default_factory=_Seen)
    _doors: dict[int, tuple[int, int, datetime | None]] = field(default_factory=dict)
    _open_commands: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    _last_devices: Any = None

    def start(self, resume: Cursor | None = None) -> list[Message]:
        """Initial messages: devices with doors, recent commands, then the event backlog."""
        self._doors = _latest_status_lines()
        self.cursor.realtime = _max_id(DeviceRealtimeLog.objects.all())
        self._mark_seen(
            DeviceRealtimeLog.objects.filter(is_status=True), self.cursor.realtime, self._lines_seen
        )
        self._last_devices = self._devices()
        messages: list[Message] = [("devices", self._last_devices)]
        recent = list(
            DeviceCommand.objects.select_related("device").order_by("-id")[:RECENT_COMMANDS]
        )
        self.cursor.command = max([c.pk for c in recent], default=0)
        if resume is not None:
            self.cursor.command = max(self.cursor.command, resume.command)
        self._track(recent)
        messages.append(("commands", [command_json(c) for c in reversed(recent)]))
        events = self.filters.apply(DeviceEventLog.objects.select_related("device"))
        if resume is None:
            backlog = list(events.order_by("-id")[:BACKLOG])[::-1]
            self.cursor.event = _max_id(DeviceEventLog.objects.all())
            for row in backlog:
                self._events_seen.add(row.pk)
            self._mark_seen(events, self.cursor.event, self._events_seen)
            messages.append(("events", {"backlog": True, "rows": [event_json(e) for e in backlog]}))
        else:
            # Resume: what existed up to the cursor was delivered; the next poll sends the rest.
            self.cursor.event = resume.event
            self._mark_seen(events, resume.event, self._events_seen)
        return messages

    def poll(self) -> list[Message]:
        """The changes since the last call, in the order: events, doors/devices, commands."""
        messages: list[Message] = []
        events = self._new_events()
        if events:
            messages.append(("events", {"backlog": False, "rows": events}))
        self._new_status_lines()
        devices = self._devices()
        if devices != self._last_devices:
            self._last_devices = devices
            messages.append(("devices", devices))
        commands = self._command_changes()
        if commands:
            messages.append(("commands", commands))
        return messages

    # -- events -----------------------------------------------------------------------------
    def _new_events(self) -> list[dict[str, Any]]:
        rows = (
            self.filters.apply(DeviceEventLog.objects.select_related("device"))
            .filter(id__gt=max(0, self.cursor.event - LOOKBACK))
            .order_by("id")[:BATCH]
        )
        fresh = []
        for row in rows:
            self.cursor.event = max(self.cursor.event, row.pk)
            if self._events_seen.add(row.pk):
                fresh.append(event_json(row))
        if not fresh:
            # Advance past rows the filter hides, so the look-back window follows the table.
            self.cursor.event = max(self.cursor.event, _max_id(DeviceEventLog.objects.all()))
        return fresh

    # -- doors ------------------------------------------------------------------------------
    def _new_status_lines(self) -> None:
        rows = (
            DeviceRealtimeLog.objects.filter(
                is_status=True, id__gt=max(0, self.cursor.realtime - LOOKBACK)
            )
            .order_by("id")
            .values_list("id", "device_id", "pin", "card_no", "received_at")[:BATCH]
        )
        for row_id, device_id, sensor, alarm, received in rows:
            if self._lines_seen.add(row_id):
                known = self._doors.get(device_id)
                if known is None or received >= (known[2] or received):
                    self._doors[device_id] = (sensor, alarm, received)
        self.cursor.realtime = max(self.cursor.realtime, _max_id(DeviceRealtimeLog.objects.all()))

    # -- devices ----------------------------------------------------------------------------
    def _devices(self) -> list[dict[str, Any]]:
        now = timezone.now()
        pending = dict(
            DeviceCommand.objects.filter(status=CommandStatus.PENDING)
            .values("device_id")
            .annotate(n=Count("id"))
            .values_list("device_id", "n")
        )
        relays = _relays()
        devices = []
        for device in Device.objects.select_related("status").order_by("alias"):
            status: DeviceStatus | None = getattr(device, "status", None)
            devices.append(
                device_json(
                    device,
                    status,
                    pending.get(device.pk, 0),
                    self._doors.get(device.pk),
                    relays.get(device.pk, {}),
                    now=now,
                    stale_after=self.stale_after,
                )
            )
        return devices

    # -- commands ---------------------------------------------------------------------------
    def _command_changes(self) -> list[dict[str, Any]]:
        new = list(
            DeviceCommand.objects.select_related("device")
            .filter(id__gt=self.cursor.command)
            .order_by("id")[:BATCH]
        )
        changed: list[DeviceCommand] = []
        if self._open_commands:
            for row in DeviceCommand.objects.select_related("device").filter(
                id__in=list(self._open_commands)
            ):
                if (row.status, row.return_code) != self._open_commands[row.pk]:
                    changed.append(row)  # noqa: PERF401 (a filter, not a transform)
        rows = sorted({row.pk: row for row in [*changed, *new]}.values(), key=lambda r: r.pk)
        self.cursor.command = max([self.cursor.command, *(row.pk for row in new)])
        self._track(rows)
        return [command_json(row) for row in rows]

    def _track(self, rows: Iterable[DeviceCommand]) -> None:
        for row in rows:
            if row.status in FINAL_STATUSES:
                self._open_commands.pop(row.pk, None)
            else:
                self._open_commands[row.pk] = (row.status, row.return_code)

    @staticmethod
    def _mark_seen(rows: QuerySet[Any], upto: int, seen: _Seen) -> None:
        for row_id in rows.filter(id__gt=max(0, upto - LOOKBACK), id__lte=upto).values_list(
            "id", flat=True
        ):
            seen.add(row_id)


# -- JSON shapes -------------------------------------------------------------------------------
def device_json(
    device: Device,
    status: DeviceStatus | None,
    pending: int,
    door_words: tuple[int, int, datetime | None] | None,
    relays: Mapping[int, RelayState],
    *,
    now: datetime,
    stale_after: float,
) -> dict[str, Any]:
    """One device row of the page."""
    state, reason = device_state(device, status, now=now, stale_after=stale_after)
    doors = min(device.lock_count or device.acpanel_type, 4)
    decoded: list[DoorState] = (
        decode_status(door_words[0], door_words[1], doors) if door_words else []
    )
    by_door = {d.door: d for d in decoded}
    door_rows = []
    for number in range(1, doors + 1):
        known = by_door.get(number)
        relay = relays.get(number)
        door_rows.append(
            {
                "door": number,
                "sensor": known.sensor if known else "unknown",
                "alarm": known.alarm if known else False,
                "open_timeout": known.open_timeout if known else False,
                "relay": relay.at(now) if relay else "unknown",
                "relay_until": _iso(relay.until) if relay and relay.at(now) == "unlocked" else None,
                "status_at": _iso(door_words[2]) if door_words else None,
            }
        )
    code = status.last_return_code if status else None
    return {
        "id": device.pk,
        "alias": device.alias,
        "sn": device.sn,
        "state": state,
        "reason": reason,
        "last_activity": _iso(status.last_activity) if status else None,
        "last_return_code": code,
        "return_text": describe_return_code(code) if code is not None else "",
        "last_op": status.last_op if status else "",
        "detail": status.detail if status else "",
        "status_at": _iso(status.updated_at) if status else None,
        "pending": pending,
        "doors": door_rows,
    }


def device_state(
    device: Device, status: DeviceStatus | None, *, now: datetime, stale_after: float
) -> tuple[str, str]:
    """("online" | "offline" | "disabled", why)."""
    if not device.enabled:
        return "disabled", status.detail if status and status.detail else "disabled"
    if status is None:
        return "offline", "no status from the agent yet"
    if not status.online:
        return "offline", status.detail or describe_return_code(status.last_return_code or 0)
    age = (now - status.updated_at).total_seconds()
    if age > stale_after:
        return "offline", f"no status from the agent for {age:.0f} s"
    return "online", ""


def event_json(row: DeviceEventLog) -> dict[str, Any]:
    """One event line of the page."""
    door = row.event_point_id if row.event_point_type == int(EventPointType.DOOR) else None
    return {
        "id": row.pk,
        "device_id": row.device_id,
        "device": row.device.alias,
        "time": _iso(row.time),
        "pin": row.pin,
        "card_no": row.card_no,
        "door": door,
        "point": f"{EventPointType(row.event_point_type).name.lower()} {row.event_point_id}"
        if row.event_point_type != int(EventPointType.NONE)
        else "",
        "event_type": row.event_type,
        "event": describe_event(row.event_type),
        "verified": describe_verify(row.verified),
        "inout": describe_inout(row.state),
        "alarm": row.event_type in ALARMS,
        "description": row.description,
        "source": row.source,
    }


def command_json(row: DeviceCommand) -> dict[str, Any]:
    """One command line of the page, with its result once it has one."""
    code = row.return_code
    return {
        "id": row.pk,
        "device_id": row.device_id,
        "device": row.device.alias,
        "content": row.content.splitlines()[0][:120] if row.content else "",
        "status": row.status,
        "return_code": code,
        "return_text": describe_return_code(code) if code is not None else "",
        "return_content": row.return_content[:500],
        "commit_time": _iso(row.commit_time),
        "over_time": _iso(row.over_time),
    }


def event_types() -> list[tuple[int, str]]:
    """Event types for the filter list: every type the protocol names (no table scan)."""
    return sorted((int(code), code.description) for code in EventType)


# -- queries ------------------------------------------------------------------------------------
def _latest_status_lines() -> dict[int, tuple[int, int, datetime | None]]:
    found: dict[int, tuple[int, int, datetime | None]] = {}
    for device_id in Device.objects.values_list("id", flat=True):
        row = (
            DeviceRealtimeLog.objects.filter(device_id=device_id, is_status=True)
            .order_by("-received_at", "-seq")
            .values_list("pin", "card_no", "received_at")
            .first()
        )
        if row is not None:
            found[device_id] = row
    return found


def _relays() -> dict[int, dict[int, RelayState]]:
    rows = (
        DeviceCommand.objects.filter(status=CommandStatus.DONE, over_time__isnull=False)
        .filter(Q(content__istartswith="DEVICE SET") | Q(content__istartswith="CONTROL NO"))
        .order_by("-over_time", "-id")
        .values_list("device_id", "id", "content", "over_time")[:RELAY_COMMANDS]
    )
    per_device: dict[int, list[tuple[int, str, datetime]]] = {}
    for device_id, command_id, content, finished in rows:
        if finished is not None:  # filtered above; keeps the type exact
            per_device.setdefault(device_id, []).append((command_id, content, finished))
    return {device_id: relay_from_commands(items) for device_id, items in per_device.items()}


def _max_id(rows: QuerySet[Any]) -> int:
    found = rows.order_by("-id").values_list("id", flat=True).first()
    return int(found) if found is not None else 0


def _optional_int(value: str | None, name: str, allowed: range) -> int | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.isdigit() or int(text) not in allowed:
        raise FilterError(f"{name} must be a number in {allowed.start}..{allowed.stop - 1}")
    return int(text)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None

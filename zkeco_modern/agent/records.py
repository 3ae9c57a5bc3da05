"""Device input as value objects, and the rules that turn them into canonical event columns.

`EventRecord` is one access event as a panel reports it (rtlog or transaction download),
with the panel-local naive time. `event_fields()` applies the legacy `acc_monitor_log`
conventions, so both sources give identical columns (and so one row under the unique key):

- time: panel-local wall clock + the device's zone -> aware UTC (`to_utc`, fold=0 rule);
- pin / card_no: the panel's number as text, "--" when it is 0 (legacy "none");
- event_point_type / id: aux point for events 220, 221, 12, 13 (and linkage 6 triggered by
  220/221), door for the other events with a door number, none (-1, id 0) for door 0;
- verified: from the panel for door events; 200 ("others") for aux, linkage (6),
  cancel-alarm (7) and device-start (206) events, whose verify field means something else;
- trigger_opt: the triggering event of a linkage event (6), else -1;
- description: the cancel-alarm type (event 7) or the linkage trigger (event 6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from zkpull.protocol.codes import describe_event
from zkpull.protocol.rtlog import DoorStatus, RtEvent, RtRecord

NO_VALUE: Final = "--"  # legacy acc_monitor_log pin / card_no when the panel sent 0
OTHER_VERIFY: Final = 200
NO_TRIGGER: Final = -1
LINKAGE_EVENT: Final = 6
CANCEL_ALARM_EVENT: Final = 7
STATUS_EVENT: Final = 255
AUX_EVENTS: Final = frozenset({12, 13, 220, 221})
AUX_INPUT_EVENTS: Final = frozenset({220, 221})
# Events whose verify field is not a verify mode (parity doc §1.5).
_VERIFY_REUSED: Final = frozenset({LINKAGE_EVENT, CANCEL_ALARM_EVENT, 206})
_CANCEL_ALARM_TYPES: Final = {
    1: "opened forcefully",
    2: "open time-out",
    3: "tamper",
    4: "duress password",
    5: "duress fingerprint",
}


class EventPointType(IntEnum):
    """`acc_monitor_log.event_point_type`."""

    NONE = -1
    DOOR = 0
    AUX = 1


class InvalidRecordError(ValueError):
    """Device input that cannot be stored as an event (it goes to quarantine)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RawEvent(Protocol):
    """What `event_fields` reads: an `EventRecord`, or a zkpull `RtEvent` as it is."""

    @property
    def time(self) -> datetime | None: ...
    @property
    def pin(self) -> int: ...
    @property
    def card(self) -> int: ...
    @property
    def door(self) -> int: ...
    @property
    def event_type(self) -> int: ...
    @property
    def inout(self) -> int: ...
    @property
    def verified(self) -> int: ...
    @property
    def time_raw(self) -> int: ...

    def to_legacy_line(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One access event as reported; `time` is panel-local and naive, None if impossible."""

    time: datetime | None
    pin: int
    card: int
    door: int
    event_type: int
    inout: int
    verified: int
    time_raw: int = 0  # the packed time as sent (kept for quarantine)

    @classmethod
    def from_rt_event(cls, event: RtEvent) -> EventRecord:
        """From a zkpull real-time or transaction event."""
        return cls(
            event.time,
            event.pin,
            event.card,
            event.door,
            event.event_type,
            event.inout,
            event.verified,
            event.time_raw,
        )

    def to_legacy_line(self) -> str:
        """The PullSDK rtlog text `time,pin,cardno,door,event,inout,verify`."""
        when = self.time.strftime("%Y-%m-%d %H:%M:%S") if self.time else f"invalid:{self.time_raw}"
        return f"{when},{self.pin},{self.card},{self.door},{self.event_type},{self.inout},{self.verified}"


@dataclass(frozen=True, slots=True)
class EventFields:
    """The `DeviceEventLog` columns of one event (all but device, source and created_at)."""

    time: datetime  # aware UTC
    pin: str
    card_no: str
    verified: int
    state: int
    event_type: int
    event_point_type: int
    event_point_id: int
    trigger_opt: int
    description: str

    def key(self) -> tuple[object, ...]:
        """The natural key without the device, in `KEY_FIELDS` order."""
        return (
            self.time,
            self.pin,
            self.card_no,
            self.verified,
            self.state,
            self.event_type,
            self.event_point_type,
            self.event_point_id,
            self.trigger_opt,
        )


# The unique key of DeviceEventLog after `device` (legacy acc_monitor_log's 10 columns).
KEY_FIELDS: Final = (
    "time",
    "pin",
    "card_no",
    "verified",
    "state",
    "event_type",
    "event_point_type",
    "event_point_id",
    "trigger_opt",
)


@dataclass(frozen=True, slots=True)
class RealtimeLine:
    """One rtlog record as received, for `DeviceRealtimeLog` (status records included).

    `seq` is the record's position in its poll reply: (received_at, seq) identifies the line,
    so storing the same poll twice (a retry) stores it once.
    """

    received_at: datetime  # aware, when the agent received the poll reply
    seq: int
    line: str
    time: datetime | None  # panel-local naive, None if impossible
    pin: int
    card: int
    door: int
    event_type: int
    inout: int
    verified: int
    is_status: bool

    @classmethod
    def from_record(cls, record: RtRecord, received_at: datetime, seq: int) -> RealtimeLine:
        """From a zkpull rtlog record; a status record keeps the legacy line positions."""
        if isinstance(record, DoorStatus):
            # `time, <sensor word>, <alarm word>, 0, 255, 0, <verified>` (parity doc §3.3)
            return cls(
                received_at,
                seq,
                record.to_legacy_line(),
                record.time,
                record.sensor_raw,
                record.alarm_raw,
                0,
                STATUS_EVENT,
                0,
                record.verified,
                is_status=True,
            )
        return cls(
            received_at,
            seq,
            record.to_legacy_line(),
            record.time,
            record.pin,
            record.card,
            record.door,
            record.event_type,
            record.inout,
            record.verified,
            is_status=False,
        )


def lines_from_records(received: Iterable[tuple[datetime, RtRecord]]) -> list[RealtimeLine]:
    """`RealtimeLine`s from (received_at, record) pairs, numbering `seq` per received_at."""
    counters: dict[datetime, int] = {}
    lines = []
    for received_at, record in received:
        seq = counters.get(received_at, 0)
        counters[received_at] = seq + 1
        lines.append(RealtimeLine.from_record(record, received_at, seq))
    return lines


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Panel wall-clock time in *zone* -> aware UTC, deterministically across DST changes.

    PEP 495 fold=0: an ambiguous time (the repeated autumn hour) is the first occurrence, the
    DST one; a time in the spring gap, which the panel's clock should never show, is read
    with the offset before the change, i.e. as the instant the gap length later.
    """
    if local.tzinfo is not None:
        raise ValueError(f"panel time must be naive (local wall clock), got {local!r}")
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def event_point(event_type: int, door: int, verified: int) -> tuple[EventPointType, int]:
    """(event_point_type, event_point_id) of an event, from its door field (module doc)."""
    if event_type in AUX_EVENTS or (event_type == LINKAGE_EVENT and verified in AUX_INPUT_EVENTS):
        return EventPointType.AUX, door
    if door == 0:
        return EventPointType.NONE, 0
    return EventPointType.DOOR, door


def event_fields(record: RawEvent, zone: ZoneInfo) -> EventFields:
    """The canonical columns of *record*; raises InvalidRecordError for input that is not an event."""
    if record.time is None:
        raise InvalidRecordError(f"impossible panel time (packed value {record.time_raw})")
    if record.event_type == STATUS_EVENT:
        raise InvalidRecordError("a door status record (event 255) is not an access event")
    point_type, point_id = event_point(record.event_type, record.door, record.verified)
    reused = record.event_type in _VERIFY_REUSED or point_type is EventPointType.AUX
    return EventFields(
        time=to_utc(record.time, zone),
        pin=_text(record.pin),
        card_no=_text(record.card),
        verified=OTHER_VERIFY if reused else record.verified,
        state=record.inout,
        event_type=record.event_type,
        event_point_type=int(point_type),
        event_point_id=point_id,
        trigger_opt=record.verified if record.event_type == LINKAGE_EVENT else NO_TRIGGER,
        description=_description(record),
    )


def _text(number: int) -> str:
    return NO_VALUE if number == 0 else str(number)


def _description(record: RawEvent) -> str:
    if record.event_type == CANCEL_ALARM_EVENT:
        kind = _CANCEL_ALARM_TYPES.get(record.verified, f"type {record.verified}")
        return f"Cancel alarm: {kind}"
    if record.event_type == LINKAGE_EVENT:
        return f"Linkage rule {record.card} triggered by {describe_event(record.verified)} ({record.verified})"
    return ""

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

Validation (docs/security.md): a record is an event only if its time is a real date no more
than `MAX_FUTURE` ahead of the agent's clock and every value fits its column; anything else
raises `InvalidRecordError` with a `QuarantineReason` (the metric label) and goes to
`QuarantinedRecord`. Event and verify codes outside zkpull's tables are stored, flagged in
`description` ("unknown event code 77"): newer firmware adds codes, and losing real events
would be worse than an unnamed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from zkpull.protocol.codes import EventType, VerifyMode, describe_event
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
# Column bounds, portable: PostgreSQL has no unsigned types, so a PositiveSmallIntegerField
# stops at 32767 and a BigIntegerField at 2**63 - 1; pin and card_no are 20 characters.
SMALL_MAX: Final = 32767
BIG_MAX: Final = 2**63 - 1
NUMBER_TEXT_MAX: Final = 20
# A panel clock more than this ahead of ours is broken, not early (panels drift by minutes).
MAX_FUTURE: Final = timedelta(days=366)
_KNOWN_EVENTS: Final = frozenset(int(code) for code in EventType)
_KNOWN_VERIFY: Final = frozenset(int(code) for code in VerifyMode)
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


class QuarantineReason(StrEnum):
    """Why a record was quarantined: the `reason` label of commcenter_events_quarantined."""

    TIME_INVALID = "time_invalid"  # not a real date (31 February, before 2000)
    TIME_OUT_OF_RANGE = "time_out_of_range"  # more than MAX_FUTURE ahead
    STATUS_RECORD = "status_record"  # a door status record (event 255) is not an event
    PIN_INVALID = "pin_invalid"  # negative, or longer than the pin column
    CARD_INVALID = "card_invalid"  # negative, or longer than the card_no column
    CODE_OUT_OF_RANGE = "code_out_of_range"  # event/verify/inout/door beyond its column
    INVALID = "invalid"  # anything else (a reason text without a known code)


class InvalidRecordError(ValueError):
    """Device input that cannot be stored as an event (it goes to quarantine).

    `code` is the low-cardinality `QuarantineReason`; `reason` the text stored with the
    record, which starts with the code ("time_invalid: impossible panel time ...").
    """

    def __init__(self, reason: str, code: QuarantineReason | None = None) -> None:
        self.code = code if code is not None else reason_code(reason)
        text = reason if reason.startswith(f"{self.code}:") else f"{self.code}: {reason}"
        super().__init__(text)
        self.reason = text


def reason_code(reason: str) -> QuarantineReason:
    """The `QuarantineReason` a stored reason text starts with (INVALID if none)."""
    head = reason.split(":", 1)[0]
    try:
        return QuarantineReason(head)
    except ValueError:
        return QuarantineReason.INVALID


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

    Numbers beyond their columns are saturated; `line` keeps the values as sent.

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
                _fit(record.sensor_raw, BIG_MAX),
                _fit(record.alarm_raw, BIG_MAX),
                0,
                STATUS_EVENT,
                0,
                _fit(record.verified, SMALL_MAX),
                is_status=True,
            )
        return cls(
            received_at,
            seq,
            record.to_legacy_line(),
            record.time,
            _fit(record.pin, BIG_MAX),
            _fit(record.card, BIG_MAX),
            _fit(record.door, SMALL_MAX),
            _fit(record.event_type, SMALL_MAX),
            _fit(record.inout, SMALL_MAX),
            _fit(record.verified, SMALL_MAX),
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


def event_fields(record: RawEvent, zone: ZoneInfo, *, now: datetime | None = None) -> EventFields:
    """The canonical columns of *record*; InvalidRecordError if it is not a storable event.

    Not storable: no real time, a status record, a value that does not fit its column, a
    time more than MAX_FUTURE after *now* (aware; default the clock). See the module doc.
    """
    if record.time is None:
        raise InvalidRecordError(
            f"impossible panel time (packed value {record.time_raw})", QuarantineReason.TIME_INVALID
        )
    if record.event_type == STATUS_EVENT:
        raise InvalidRecordError(
            "a door status record (event 255) is not an access event",
            QuarantineReason.STATUS_RECORD,
        )
    _check_columns(record)
    when = to_utc(record.time, zone)
    limit = (now if now is not None else datetime.now(UTC)) + MAX_FUTURE
    if when > limit:
        raise InvalidRecordError(
            f"panel time {record.time:%Y-%m-%d %H:%M:%S} is more than {MAX_FUTURE.days} days "
            "ahead of the agent's clock",
            QuarantineReason.TIME_OUT_OF_RANGE,
        )
    point_type, point_id = event_point(record.event_type, record.door, record.verified)
    reused = record.event_type in _VERIFY_REUSED or point_type is EventPointType.AUX
    return EventFields(
        time=when,
        pin=_text(record.pin),
        card_no=_text(record.card),
        verified=OTHER_VERIFY if reused else record.verified,
        state=record.inout,
        event_type=record.event_type,
        event_point_type=int(point_type),
        event_point_id=point_id,
        trigger_opt=record.verified if record.event_type == LINKAGE_EVENT else NO_TRIGGER,
        description=_description(record, verify_is_mode=not reused),
    )


def _check_columns(record: RawEvent) -> None:
    """InvalidRecordError unless pin, card and every code fit the DeviceEventLog columns."""
    for name, value, code in (
        ("pin", record.pin, QuarantineReason.PIN_INVALID),
        ("card", record.card, QuarantineReason.CARD_INVALID),
    ):
        if value < 0 or len(str(value)) > NUMBER_TEXT_MAX:
            raise InvalidRecordError(
                f"{name} {_short(value)} is not a number of at most {NUMBER_TEXT_MAX} digits", code
            )
    for name, value in (
        ("event type", record.event_type),
        ("verify mode", record.verified),
        ("in/out state", record.inout),
        ("door", record.door),
    ):
        if not 0 <= value <= SMALL_MAX:
            raise InvalidRecordError(
                f"{name} {_short(value)} is outside 0..{SMALL_MAX}",
                QuarantineReason.CODE_OUT_OF_RANGE,
            )


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"


def _fit(value: int, top: int) -> int:
    """*value* saturated into 0..*top* (DeviceRealtimeLog's number columns).

    They are a convenience: the line text keeps what was sent, and an event that does not
    fit is quarantined on its way to DeviceEventLog.
    """
    return min(max(value, 0), top)


def _text(number: int) -> str:
    return NO_VALUE if number == 0 else str(number)


def _description(record: RawEvent, *, verify_is_mode: bool) -> str:
    if record.event_type == CANCEL_ALARM_EVENT:
        kind = _CANCEL_ALARM_TYPES.get(record.verified, f"type {record.verified}")
        return f"Cancel alarm: {kind}"
    if record.event_type == LINKAGE_EVENT:
        return f"Linkage rule {record.card} triggered by {describe_event(record.verified)} ({record.verified})"
    # Flag codes zkpull does not know (newer firmware): stored, but visibly unexplained.
    flags = []
    if record.event_type not in _KNOWN_EVENTS:
        flags.append(f"unknown event code {record.event_type}")
    if verify_is_mode and record.verified not in _KNOWN_VERIFY:
        flags.append(f"unknown verify mode {record.verified}")
    return "; ".join(flags).capitalize()

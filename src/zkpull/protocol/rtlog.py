"""Real-time log records, binary (0x0B, fact sheet §4.1) and key/value text (0x79, §4.5).

Both variants decode into the same two types.

Binary layout, little-endian: card u32 | pin u32 | verified u8 | door u8 | event u8 |
in/out u8 | packed time u32. Byte 10 == 255 marks a door/alarm status record, whose first
two words are the per-door alarm and door-sensor bytes (door 1 = lowest byte).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from .codes import EventType
from .constants import RTLOG_RECORD_SIZE
from .errors import MessageError
from .timecodec import decode_time, encode_time

_RECORD = struct.Struct("<IIBBBBI")
_STATUS_EVENT = EventType.STATUS
_DOORS = 4


@dataclass(frozen=True, slots=True)
class RtEvent:
    """An access or system event. `time` is None when the panel sent an impossible date."""

    time: datetime | None
    pin: int
    card: int
    door: int  # door, aux input or aux output number; 0 = the device itself
    event_type: int
    inout: int
    verified: int
    time_raw: int = 0
    index: int | None = None  # running record number (key/value log only)

    def to_legacy_line(self) -> str:
        """The PullSDK `GetRTLog` text form: `time,pin,cardno,door,event,inout,verify`."""
        fields = (self.pin, self.card, self.door, self.event_type, self.inout, self.verified)
        return ",".join((_text_time(self.time, self.time_raw), *map(str, fields)))


@dataclass(frozen=True, slots=True)
class DoorStatus:
    """Door sensor and alarm state, one entry per door (door 1 first)."""

    time: datetime | None
    sensors: tuple[int, ...]  # 0 no sensor, 1 closed, 2 open (low nibble of the DSS byte)
    alarms: tuple[int, ...]  # bit0 alarm, bit1 door-open timeout
    sensor_raw: int = 0
    alarm_raw: int = 0
    relay: int | None = None  # relay bitmap (key/value log only)
    verified: int = 200  # byte 8: 200 on legacy firmware, 0 on session firmware
    aux: int = 0  # byte 9: meaning unconfirmed (0, 1, 0x0B seen)
    time_raw: int = 0

    def to_legacy_line(self) -> str:
        """The PullSDK status line: `time,<sensor word>,<alarm word>,0,255,0,<verified>`."""
        when = _text_time(self.time, self.time_raw)
        return f"{when},{self.sensor_raw},{self.alarm_raw},0,255,0,{self.verified}"


RtRecord = RtEvent | DoorStatus


def decode_rtlog(payload: bytes) -> list[RtRecord]:
    """Decode a binary RTLOG reply; raises MessageError unless it is whole 16-byte records."""
    if len(payload) % RTLOG_RECORD_SIZE:
        raise MessageError(f"RTLOG reply of {len(payload)} bytes is not a multiple of 16")
    return [_decode_record(payload, offset) for offset in range(0, len(payload), RTLOG_RECORD_SIZE)]


def encode_rt_event(event: RtEvent) -> bytes:
    """One 16-byte event record (simulator side)."""
    raw = event.time_raw if event.time is None else encode_time(event.time)
    return _RECORD.pack(
        event.card, event.pin, event.verified, event.door, event.event_type, event.inout, raw
    )


def encode_door_status(status: DoorStatus) -> bytes:
    """One 16-byte status record (simulator side).

    The DSS high nibbles of `sensor_raw` (meaning unknown, §4.2) are kept, so a decoded record
    re-encodes byte for byte; `sensors` supplies the rest.
    """
    raw = status.time_raw if status.time is None else encode_time(status.time)
    sensors = _pack_bytes(status.sensors) | status.sensor_raw & 0xF0F0F0F0
    return _RECORD.pack(
        _pack_bytes(status.alarms), sensors, status.verified, status.aux, 255, 0, raw
    )


def decode_rtlog_kv(payload: bytes) -> list[RtRecord]:
    """Decode a key/value RTLOG reply: CRLF between records, TAB between `key=value` fields."""
    try:
        text = payload.decode("ascii").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise MessageError("key/value RTLOG reply is not ASCII") from exc
    return [_decode_kv_line(line) for line in text.split("\r\n") if line.strip()]


def encode_rtlog_kv(records: list[RtRecord]) -> bytes:
    """The key/value text form of *records* (simulator side)."""
    lines = []
    for record in records:
        when = _text_time(record.time, record.time_raw)
        if isinstance(record, RtEvent):
            lines.append(
                f"time={when}\tpin={record.pin}\tcardno={record.card}\teventaddr={record.door}"
                f"\tevent={record.event_type}\tinoutstatus={record.inout}"
                f"\tverifytype={record.verified}\tindex={record.index or 0}"
            )
        else:
            sensor = sum((state & 0x3) << (2 * door) for door, state in enumerate(record.sensors))
            lines.append(
                f"time={when}\tsensor={sensor:02x}\trelay={record.relay or 0:02x}"
                f"\talarm={record.alarm_raw:08x}"
            )
    return "\r\n".join(lines).encode("ascii")


def _decode_record(payload: bytes, offset: int) -> RtRecord:
    card, pin, verified, door, event, inout, raw = _RECORD.unpack_from(payload, offset)
    when = _time_or_none(raw)
    if event == _STATUS_EVENT:
        return DoorStatus(
            time=when,
            sensors=tuple((pin >> (8 * i)) & 0x0F for i in range(_DOORS)),
            alarms=tuple((card >> (8 * i)) & 0xFF for i in range(_DOORS)),
            sensor_raw=pin,
            alarm_raw=card,
            verified=verified,
            aux=door,
            time_raw=raw,
        )
    return RtEvent(when, pin, card, door, event, inout, verified, raw)


def _decode_kv_line(line: str) -> RtRecord:
    fields: dict[str, str] = {}
    for item in line.split("\t"):
        key, sep, value = item.partition("=")
        if not sep:
            raise MessageError(f"key/value RTLOG field {item!r} is not key=value")
        fields[key.strip()] = value.strip()
    try:
        when = _kv_time(fields["time"])
        raw = encode_time(when) if when is not None else 0
        if "sensor" in fields:
            sensor = int(fields["sensor"], 16)  # 2 bits per door, door 1 lowest
            alarm = int(fields.get("alarm", "0"), 16)
            sensors = tuple((sensor >> (2 * i)) & 0x3 for i in range(_DOORS))
            return DoorStatus(
                time=when,
                sensors=sensors,
                alarms=tuple((alarm >> (8 * i)) & 0xFF for i in range(_DOORS)),
                sensor_raw=_pack_bytes(sensors),  # kept in the binary DSS-word layout
                alarm_raw=alarm,
                relay=int(fields.get("relay", "0"), 16),
                time_raw=raw,
            )
        return RtEvent(
            time=when,
            pin=int(fields.get("pin", "0")),
            card=int(fields.get("cardno", "0")),
            door=int(fields.get("eventaddr", "0")),
            event_type=int(fields["event"]),
            inout=int(fields.get("inoutstatus", "2")),
            verified=int(fields.get("verifytype", "200")),
            time_raw=raw,
            index=int(fields["index"]) if "index" in fields else None,
        )
    except (KeyError, ValueError) as exc:
        raise MessageError(f"bad key/value RTLOG record {line!r}: {exc}") from exc


def _kv_time(text: str) -> datetime | None:
    """The panel-local time of a text record; None when impossible (31 February, before 2000).

    An impossible time must not sink the whole reply: the panel has already dropped these
    records from its ring, so the record is kept (time None) for the agent to quarantine.
    """
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007  # panel local time
    except ValueError:
        return None
    return parsed if parsed.year >= 2000 else None


def _time_or_none(raw: int) -> datetime | None:
    try:
        return decode_time(raw)
    except MessageError:
        return None


def _text_time(when: datetime | None, raw: int) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S") if when is not None else f"invalid:{raw}"


def _pack_bytes(values: tuple[int, ...]) -> int:
    return sum((value & 0xFF) << (8 * i) for i, value in enumerate(values[:_DOORS]))

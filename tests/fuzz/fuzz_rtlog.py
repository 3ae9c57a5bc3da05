"""Real-time log parsers: binary 16-byte records (events and door status) and 0x79 key/value text.

Only MessageError may escape. Beyond "no crash": every binary event record re-encodes to the
bytes it came from, and every decoded record renders its legacy text line.
"""

from __future__ import annotations

from zkpull.protocol.constants import RTLOG_RECORD_SIZE
from zkpull.protocol.errors import MessageError
from zkpull.protocol.rtlog import (
    DoorStatus,
    RtEvent,
    decode_rtlog,
    decode_rtlog_kv,
    encode_rt_event,
    encode_rtlog_kv,
)

from .support import vectors


def rtlog_binary(data: bytes) -> None:
    try:
        records = decode_rtlog(data)
    except MessageError:
        if len(data) % RTLOG_RECORD_SIZE == 0:
            raise AssertionError("whole 16-byte records were refused") from None
        return
    for offset, record in enumerate(records):
        record.to_legacy_line()
        raw = data[offset * RTLOG_RECORD_SIZE : (offset + 1) * RTLOG_RECORD_SIZE]
        if isinstance(record, RtEvent) and encode_rt_event(record) != raw:
            raise AssertionError(f"event {record!r} does not re-encode to {raw.hex()}")
        if isinstance(record, DoorStatus) and (len(record.sensors), len(record.alarms)) != (4, 4):
            raise AssertionError(f"status record without 4 doors: {record!r}")


def rtlog_kv(data: bytes) -> None:
    try:
        records = decode_rtlog_kv(data)
    except MessageError:
        return
    for record in records:
        record.to_legacy_line()
    # What we decoded, we can write again and read back the same (the simulator's path).
    if all(record.time is not None for record in records) and _encodable(records):
        again = decode_rtlog_kv(encode_rtlog_kv(records))
        if [_key(r) for r in again] != [_key(r) for r in records]:
            raise AssertionError(f"key/value records do not round-trip: {records!r}")


def _encodable(records: list[RtEvent | DoorStatus]) -> bool:
    for record in records:
        if isinstance(record, RtEvent) and min(record.pin, record.card, record.door) < 0:
            return False
        if isinstance(record, DoorStatus) and (record.alarm_raw < 0 or (record.relay or 0) < 0):
            return False
    return True


def _key(record: RtEvent | DoorStatus) -> tuple[object, ...]:
    if isinstance(record, RtEvent):
        return (record.time, record.pin, record.card, record.door, record.event_type)
    return (record.time, record.sensors, record.alarm_raw)


def binary_seeds() -> list[bytes]:
    found = [wire for name, wire in vectors() if name.startswith("rec_")]
    found += [wire[9:-3] for name, wire in vectors() if "rtlog" in name and "session" in name]
    found += [wire[5:-3] for name, wire in vectors() if "rtlog" in name and "session" not in name]
    return [seed for seed in found if seed] + [b"".join(found)]


def kv_seeds() -> list[bytes]:
    found = [wire[5:-3] for name, wire in vectors() if "_kv_" in name]
    found.append(
        b"time=2024-01-02 03:04:05\tpin=1\tcardno=2\teventaddr=1\tevent=0\tinoutstatus=0"
        b"\tverifytype=4\tindex=7\r\ntime=2024-01-02 03:04:06\tsensor=09\trelay=01\talarm=00000003"
    )
    return found

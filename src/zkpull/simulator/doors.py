"""Doors and relays of one panel: door sensors, alarm bits, lock and aux-output relays (§3.4, §4.2).

Relay deadlines are host-clock times (not panel time), so setting the panel's DateTime does
not make an open door relock early or late. Relays relock silently, as the firmware does:
only the command that drives them logs an event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from zkpull.protocol.codes import EventType
from zkpull.protocol.constants import OUTPUT_CLOSE, OUTPUT_HOLD_OPEN, OutputType
from zkpull.protocol.rtlog import DoorStatus
from zkpull.protocol.timecodec import encode_time

from .events import SENSOR_CLOSED, SENSOR_OPEN
from .model import Clock, ModelSpec, RefusalError

ALARM: Final = 1  # bit0: alarm (events 100-199)
OPEN_TIMEOUT: Final = 2  # bit1: door left open too long (event 28)
_HOLD: Final = datetime(9999, 1, 1)  # noqa: DTZ001 "until further notice"; host time is naive
_STATUS_DOORS: Final = 4  # a status record always carries four door bytes
_DOOR_OUTPUT_EVENTS: Final = {
    OUTPUT_CLOSE: EventType.REMOTE_CLOSING,
    OUTPUT_HOLD_OPEN: EventType.REMOTE_NORMAL_OPENING,
}  # any other duration opens for that many seconds: remote opening


class DoorBank:
    """The doors and relays of one panel."""

    def __init__(self, spec: ModelSpec, clock: Clock) -> None:
        self.spec = spec
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Power-on state: doors closed, no alarms, every relay off."""
        self.sensors = [SENSOR_CLOSED] * self.spec.lock_count
        self.alarms = [0] * self.spec.lock_count
        self._locks: list[datetime | None] = [None] * self.spec.lock_count
        self._aux: list[datetime | None] = [None] * self.spec.aux_out_count

    def apply(self, event_type: int, door: int) -> None:
        """What an event does to the sensor and alarm state."""
        doors = range(1, self.spec.lock_count + 1)
        if event_type == EventType.DOOR_OPENED_CORRECTLY and door in doors:
            self.sensors[door - 1] = SENSOR_OPEN
        elif event_type == EventType.DOOR_CLOSED_CORRECTLY and door in doors:
            self.sensors[door - 1] = SENSOR_CLOSED
        elif event_type == EventType.CANCEL_ALARM:
            self.alarms = [0] * self.spec.lock_count
        elif event_type == EventType.OPENING_TIMEOUT and door in doors:
            self.alarms[door - 1] |= OPEN_TIMEOUT
        elif 100 <= event_type < 200:
            for target in [door] if door in doors else doors:
                self.alarms[target - 1] |= ALARM

    def output(self, number: int, kind: int, seconds: int) -> int:
        """CONTROL op 1: drive a lock or aux relay; return the event type to log."""
        if kind == OutputType.DOOR:
            _check(number, self.spec.lock_count, "door")
            self._locks[number - 1] = self._until(seconds)
            return _DOOR_OUTPUT_EVENTS.get(seconds, EventType.REMOTE_OPENING)
        _check(number, self.spec.aux_out_count, "aux output")
        self._aux[number - 1] = self._until(seconds)
        return EventType.CLOSE_AUX_OUTPUT if seconds == OUTPUT_CLOSE else EventType.OPEN_AUX_OUTPUT

    def normal_open(self, door: int, enable: bool) -> int:
        """CONTROL op 4: hold the lock open (or relock); return the event type to log."""
        _check(door, self.spec.lock_count, "door")
        self._locks[door - 1] = _HOLD if enable else None
        if enable:
            return EventType.ENABLE_INTRADAY_NORMAL_OPEN_TZ
        return EventType.DISABLE_INTRADAY_NORMAL_OPEN_TZ

    def door_unlocked(self, door: int) -> bool:
        until = self._locks[door - 1]
        return until is not None and self.clock() < until

    def aux_active(self, number: int) -> bool:
        until = self._aux[number - 1]
        return until is not None and self.clock() < until

    def status(self, now: datetime, *, session_firmware: bool) -> DoorStatus:
        """The status record sent when no event is pending. `relay`: locks bits 0-3, aux 4-7."""
        pad = (0,) * _STATUS_DOORS
        sensors = (tuple(self.sensors) + pad)[:_STATUS_DOORS]
        alarms = (tuple(self.alarms) + pad)[:_STATUS_DOORS]
        relay = sum(1 << i for i in range(len(self._locks)) if self.door_unlocked(i + 1))
        relay |= sum(1 << (4 + i) for i in range(len(self._aux)) if self.aux_active(i + 1))
        return DoorStatus(
            time=now,
            sensors=sensors,
            alarms=alarms,
            sensor_raw=_word(sensors),
            alarm_raw=_word(alarms),
            relay=relay,
            verified=0 if session_firmware else 200,  # byte 8 as captured per dialect
            aux=1 if session_firmware else 0,
            time_raw=encode_time(now),
        )

    def _until(self, seconds: int) -> datetime | None:
        if seconds == OUTPUT_CLOSE:
            return None
        if seconds == OUTPUT_HOLD_OPEN:
            return _HOLD
        return self.clock() + timedelta(seconds=seconds)


def _check(number: int, count: int, what: str) -> None:
    if not 1 <= number <= count:
        raise RefusalError(-11, f"{what} {number} does not exist (1..{count})")


def _word(values: tuple[int, ...]) -> int:
    return sum((value & 0xFF) << (8 * i) for i, value in enumerate(values))

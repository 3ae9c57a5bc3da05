"""Door state from the stored status records (event 255) and from the lock commands run.

A status line in `DeviceRealtimeLog` keeps the legacy positions (parity doc §3.3): `pin` holds
the door-sensor word, `card_no` the alarm word, one byte per door, door 1 lowest. Sensor: low
nibble 0 no sensor, 1 closed, 2 open. Alarm: bit 0 alarm, bit 1 door-open timeout.

The lock relay is not in the stored line (binary firmware reports it only with
`~RelayStateFunOn`, and the agent does not keep the key/value log's relay field), so the
relay shown is what the last successful lock command on that door did: `DEVICE SET d 1 0`
locks, `d 1 255` and `CONTROL NO d 1` hold it open, `d 1 s` unlocks for s seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from agent import grammar

DOORS: Final = 4  # a status record always carries four door bytes
SENSORS: Final = {0: "no sensor", 1: "closed", 2: "open"}
ALARM_BIT: Final = 1
OPEN_TIMEOUT_BIT: Final = 2
HOLD_OPEN: Final = 255


@dataclass(frozen=True, slots=True)
class DoorState:
    """What one status record says about one door."""

    door: int
    sensor: str
    alarm: bool
    open_timeout: bool


@dataclass(frozen=True, slots=True)
class RelayState:
    """The lock relay as the last lock command left it; `until` for a timed opening."""

    state: str  # "locked", "unlocked", "held open"
    since: datetime
    until: datetime | None = None
    command_id: int | None = None

    def at(self, now: datetime) -> str:
        """The state at *now* (a timed opening has relocked once its time is up)."""
        if self.state == "unlocked" and self.until is not None and now >= self.until:
            return "locked"
        return self.state


def decode_status(sensor_word: int, alarm_word: int, doors: int) -> list[DoorState]:
    """The first *doors* doors of one status record (words as stored: pin, card_no)."""
    states = []
    for index in range(max(0, min(doors, DOORS))):
        sensor = (sensor_word >> (8 * index)) & 0x0F
        alarm = (alarm_word >> (8 * index)) & 0xFF
        states.append(
            DoorState(
                door=index + 1,
                sensor=SENSORS.get(sensor, f"unknown ({sensor})"),
                alarm=bool(alarm & ALARM_BIT),
                open_timeout=bool(alarm & OPEN_TIMEOUT_BIT),
            )
        )
    return states


def relay_from_commands(
    commands: Iterable[tuple[int, str, datetime]],
) -> dict[int, RelayState]:
    """Door -> relay state, from (id, content, over_time) of done commands, newest first."""
    found: dict[int, RelayState] = {}
    for command_id, content, finished in commands:
        try:
            op = grammar.parse_command(content)
        except grammar.CommandSyntaxError:
            continue  # failed rows are not passed in; a stray bad text changes nothing
        if isinstance(op, grammar.DeviceSet) and op.kind == grammar.OutputKind.LOCK:
            door, relay = op.number, _timed(op.value, finished, command_id)
        elif isinstance(op, grammar.ControlNormalOpen):
            door = op.door
            relay = RelayState("held open" if op.enable else "locked", finished, None, command_id)
        else:
            continue
        found.setdefault(door, relay)  # newest first: the first one per door wins
    return found


def _timed(value: int, finished: datetime, command_id: int) -> RelayState:
    if value == 0:
        return RelayState("locked", finished, None, command_id)
    if value == HOLD_OPEN:
        return RelayState("held open", finished, None, command_id)
    return RelayState("unlocked", finished, finished + timedelta(seconds=value), command_id)

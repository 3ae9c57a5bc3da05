from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.doors import decode_status, relay_from_commands

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_status_words_decode_per_door_as_the_legacy_ui_did():
    # Parity doc §3.3 example: sensor word 513 = door 1 closed (1), door 2 open (2).
    doors = decode_status(513, 0, 4)
    assert [(d.door, d.sensor, d.alarm) for d in doors] == [
        (1, "closed", False),
        (2, "open", False),
        (3, "no sensor", False),
        (4, "no sensor", False),
    ]
    # Alarm byte per door: bit 0 alarm, bit 1 open timeout; the high nibble of a sensor
    # byte (aux input state) does not change the door sensor.
    doors = decode_status(0x11 | (0x02 << 8), 0x01 | (0x02 << 8) | (0x03 << 16), 3)
    assert [(d.sensor, d.alarm, d.open_timeout) for d in doors] == [
        ("closed", True, False),
        ("open", False, True),
        ("no sensor", True, True),
    ]
    assert decode_status(0x05, 0, 1)[0].sensor == "unknown (5)"
    assert decode_status(0, 0, 9) == decode_status(0, 0, 4)  # four door bytes at most


def test_relay_follows_the_newest_lock_command_per_door():
    commands = [  # newest first
        (5, "DEVICE SET 1 1 5", T0),
        (4, "DEVICE SET 1 1 0", T0 - timedelta(minutes=1)),
        (3, "CONTROL NO 2 1", T0 - timedelta(minutes=2)),
        (2, "DEVICE SET 3 1 255", T0 - timedelta(minutes=3)),
        (1, "DEVICE SET 4 2 9", T0),  # an aux output, not door 4's lock
        (0, "CANCEL ALARM 1", T0),
    ]
    relays = relay_from_commands(commands)
    assert sorted(relays) == [1, 2, 3]
    assert relays[1].state == "unlocked"
    assert relays[1].until == T0 + timedelta(seconds=5)
    assert relays[1].at(T0 + timedelta(seconds=4)) == "unlocked"
    assert relays[1].at(T0 + timedelta(seconds=5)) == "locked"  # relocked by itself
    assert relays[2].at(T0 + timedelta(days=1)) == "held open"
    assert relays[3].state == "held open"
    assert relay_from_commands([(1, "CONTROL NO 1 0", T0)])[1].state == "locked"

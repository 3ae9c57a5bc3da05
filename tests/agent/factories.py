"""Helpers for the agent tests: device rows and panel-local (naive) times."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from agent.models import CommType, Device
from agent.records import EventRecord

_numbers = count(1)


def make_device(**fields: Any) -> Device:
    """A saved TCP panel with unique alias and endpoint unless *fields* say otherwise."""
    number = next(_numbers)
    values: dict[str, Any] = {
        "alias": f"panel-{number}",
        "comm_type": CommType.TCP,
        "ipaddress": f"10.0.{number // 250}.{number % 250 + 1}",
        "ip_port": 4370,
        "timezone": "UTC",
    }
    values.update(fields)
    return Device.objects.create(**values)


def local(*parts: int) -> datetime:
    """A panel wall-clock time: naive on purpose, as zkpull returns it."""
    return datetime(*parts)  # noqa: DTZ001


def event(when: datetime | None = None, **fields: Any) -> EventRecord:
    """A card-open event at door 1 (override any field)."""
    values: dict[str, Any] = {
        "time": when if when is not None else local(2024, 3, 5, 8, 15, 32),
        "pin": 1001,
        "card": 12345678,
        "door": 1,
        "event_type": 0,
        "inout": 0,
        "verified": 4,
        "time_raw": 0,
    }
    values.update(fields)
    return EventRecord(**values)

"""Fault-injecting TCP proxy for the reliability tests (no zkpull, no Django)."""

from __future__ import annotations

from .control import ControlClient, ControlError, ControlServer, execute
from .proxy import Direction, FaultProxy, ProxyStats
from .schedule import KINDS, FaultEvent, FaultSchedule

__all__ = [
    "KINDS",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "Direction",
    "FaultEvent",
    "FaultProxy",
    "FaultSchedule",
    "ProxyStats",
    "execute",
]

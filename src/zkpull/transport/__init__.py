"""Byte links to panels: TCP, RS485 (a serial bus shared by several addresses) and in-memory.

Transports move bytes and map OS failures to `TransportError`; they never parse frames.
Every operation is bounded by the transport's timeout (seconds).
"""

from __future__ import annotations

from .base import DEFAULT_TIMEOUT, Transport
from .memory import MemoryTransport, ScriptedTransport
from .serial import BAUD_RATES, SerialBus, SerialTransport, baudrate_from_index
from .tcp import TcpTransport

__all__ = [
    "BAUD_RATES",
    "DEFAULT_TIMEOUT",
    "MemoryTransport",
    "ScriptedTransport",
    "SerialBus",
    "SerialTransport",
    "TcpTransport",
    "Transport",
    "baudrate_from_index",
]

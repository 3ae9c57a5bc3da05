"""zkpull: the ZKTeco C3/inBio PULL protocol in pure Python.

Layers, imports pointing down only: `cli` / `simulator` -> `client` -> `transport` -> `protocol`.
`protocol` is sans-I/O; `transport` moves bytes; `client.PanelClient` is where they meet.
Never imports Django, Redis or Prometheus (import-linter contract in pyproject.toml).
Times from panels are naive local wall-clock datetimes: only the caller knows the zone.
"""

from __future__ import annotations

from .client import DeviceInfo, PanelClient
from .protocol.codes import ErrorCode, EventType, InOutState, VerifyMode
from .protocol.constants import Command, Dialect, OutputType
from .protocol.errors import (
    AuthenticationError,
    ChecksumError,
    ConnectError,
    ConnectionClosed,
    DeviceError,
    FrameError,
    MessageError,
    ProtocolError,
    TransportError,
    TransportTimeout,
    UnexpectedReply,
    ZKError,
)
from .protocol.rtlog import DoorStatus, RtEvent, RtRecord
from .protocol.tables import Field, Table
from .protocol.timecodec import decode_time, encode_time
from .transport import SerialBus, SerialTransport, TcpTransport, Transport

__version__ = "0.1.0"
__all__ = [
    "AuthenticationError",
    "ChecksumError",
    "Command",
    "ConnectError",
    "ConnectionClosed",
    "DeviceError",
    "DeviceInfo",
    "Dialect",
    "DoorStatus",
    "ErrorCode",
    "EventType",
    "Field",
    "FrameError",
    "InOutState",
    "MessageError",
    "OutputType",
    "PanelClient",
    "ProtocolError",
    "RtEvent",
    "RtRecord",
    "SerialBus",
    "SerialTransport",
    "Table",
    "TcpTransport",
    "Transport",
    "TransportError",
    "TransportTimeout",
    "UnexpectedReply",
    "VerifyMode",
    "ZKError",
    "__version__",
    "decode_time",
    "encode_time",
]

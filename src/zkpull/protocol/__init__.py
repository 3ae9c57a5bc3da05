"""Pure encode/decode of the C3/inBio PULL protocol.

No sockets, event loops, clocks or logging here (a test enforces it): everything takes bytes
and returns values, so the client, the simulator and the tests share one codec.
"""

from __future__ import annotations

from .codes import (
    ErrorCode,
    EventType,
    InOutState,
    VerifyMode,
    describe_error,
    describe_event,
    describe_inout,
    describe_verify,
    is_alarm_event,
)
from .constants import Command, ControlOperation, Dialect, OutputType, Reply
from .errors import (
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
from .frames import Frame, FrameDecoder, encode_frame
from .rtlog import DoorStatus, RtEvent, RtRecord
from .session import Response, Session, SessionState
from .tables import Field, Table
from .timecodec import decode_time, encode_time

__all__ = [
    "AuthenticationError",
    "ChecksumError",
    "Command",
    "ConnectError",
    "ConnectionClosed",
    "ControlOperation",
    "DeviceError",
    "Dialect",
    "DoorStatus",
    "ErrorCode",
    "EventType",
    "Field",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "InOutState",
    "MessageError",
    "OutputType",
    "ProtocolError",
    "Reply",
    "Response",
    "RtEvent",
    "RtRecord",
    "Session",
    "SessionState",
    "Table",
    "TransportError",
    "TransportTimeout",
    "UnexpectedReply",
    "VerifyMode",
    "ZKError",
    "decode_time",
    "describe_error",
    "describe_event",
    "describe_inout",
    "describe_verify",
    "encode_frame",
    "encode_time",
    "is_alarm_event",
]

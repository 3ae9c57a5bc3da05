"""The exception tree. One family per recovery policy (see STYLE §4.4).

ProtocolError  -> the peer sent bytes we cannot accept: drop the session, reconnect.
DeviceError    -> the panel answered "no": the command fails, the session stays up.
TransportError -> the link failed: back off and reconnect.
ValueError / TypeError mean the library was called wrongly and are never caught.
"""

from __future__ import annotations

from .codes import describe_error


class ZKError(Exception):
    """Root of everything zkpull raises on purpose."""


class ProtocolError(ZKError):
    """The peer sent bytes that do not follow the protocol."""


class FrameError(ProtocolError):
    """Bad start/end byte, bad or oversize length field."""


class ChecksumError(FrameError):
    """The frame's CRC-16 does not match its contents."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"CRC mismatch: frame carries {actual:#06x}, contents give {expected:#06x}"
        )
        self.expected = expected
        self.actual = actual


class MessageError(ProtocolError):
    """A well-framed payload whose contents cannot be decoded (bad record size, bad text...)."""


class UnexpectedReply(ProtocolError):  # noqa: N818  # public name, reads as the event it is
    """A reply that does not belong to the pending request (session id, message number, code)."""


class DeviceError(ZKError):
    """The panel answered a request with an error code."""

    def __init__(self, command: int, code: int, detail: str = "") -> None:
        self.command = command
        self.code = code
        self.meaning = describe_error(code)
        text = f"panel refused command {command:#04x}: error {code} ({self.meaning})"
        super().__init__(f"{text}: {detail}" if detail else text)


class AuthenticationError(DeviceError):
    """Wrong communication password (-14): stop retrying, the device is misconfigured."""


class TransportError(ZKError):
    """The link to the panel failed."""


class ConnectError(TransportError):
    """The link could not be opened (refused, unreachable, no such serial port)."""


class TransportTimeout(TransportError):  # noqa: N818  # public name
    """No (complete) answer within the timeout."""


class ConnectionClosed(TransportError):  # noqa: N818  # public name
    """The peer closed the link, or it broke while in use."""

"""Panel side of a connection, for the simulator: parse requests, build replies (sans-I/O).

Which requests carry the 4-byte session header is the firmware's choice: session-less
firmware never looks for one (it answers 0x76 with -13, headerless); session firmware reads
one from 0x76 and, once it handed out a session id, from every later request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import DEFAULT_ADDRESS, DEFAULT_MAX_DATA, SESSION_HEADER_SIZE, Command, Reply
from .frames import Frame, FrameDecoder, encode_frame


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the panel sees it, header (if any) split off."""

    command: int
    payload: bytes
    address: int = DEFAULT_ADDRESS
    session_id: int | None = None
    message_number: int | None = None

    @property
    def has_header(self) -> bool:
        return self.message_number is not None


class PanelSession:
    """Decodes request frames and encodes replies for one client connection."""

    def __init__(
        self,
        *,
        address: int = DEFAULT_ADDRESS,
        session_firmware: bool = False,
        max_data: int = DEFAULT_MAX_DATA,
    ) -> None:
        self.address = address
        self.session_firmware = session_firmware
        self.session_id: int | None = None
        self._decoder = FrameDecoder(max_data=max_data)

    def receive(self, data: bytes) -> list[Request]:
        """Feed bytes from the client; raises FrameError/ChecksumError on bad frames."""
        return [self._request(frame) for frame in self._decoder.feed(data)]

    def needed(self) -> int:
        return self._decoder.needed()

    def reset(self) -> None:
        self._decoder.reset()

    def establish(self, session_id: int) -> None:
        """Session firmware accepted a 0x76 CONNECT and handed out *session_id*."""
        self.session_id = session_id

    def drop(self) -> None:
        self.session_id = None

    def reply(self, request: Request, code: Reply | int, payload: bytes = b"") -> bytes:
        """Bytes of the reply to *request*, echoing its header when it carried one."""
        data = payload
        if request.message_number is not None:
            session_id = self.session_id if self.session_id is not None else request.session_id
            assert session_id is not None  # noqa: S101  # _request sets both or neither
            data = _header(session_id, request.message_number) + payload
        return encode_frame(Frame(command=int(code), data=data, address=self.address))

    def error(self, request: Request, code: int) -> bytes:
        """An error reply carrying the signed error byte *code*."""
        return self.reply(request, Reply.ERROR, code.to_bytes(1, "little", signed=True))

    def _request(self, frame: Frame) -> Request:
        data = frame.data
        wants_header = self.session_firmware and (
            frame.command == Command.CONNECT_SESSION or self.session_id is not None
        )
        if wants_header and len(data) >= SESSION_HEADER_SIZE and frame.command != Command.CONNECT:
            return Request(
                command=frame.command,
                payload=data[SESSION_HEADER_SIZE:],
                address=frame.address,
                session_id=int.from_bytes(data[0:2], "little"),
                message_number=int.from_bytes(data[2:4], "little"),
            )
        return Request(command=frame.command, payload=data, address=frame.address)


def _header(session_id: int, message_number: int) -> bytes:
    return session_id.to_bytes(2, "little") + message_number.to_bytes(2, "little")

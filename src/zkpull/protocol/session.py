"""Session layer: the two connection dialects and request/reply matching (fact sheet §2).

Session-less (CONNECT 0x01): the data field is the payload. Nothing identifies a reply, so a
request whose reply never came leaves the link unusable (`abandon()` marks it so).

Session (CONNECT 0x76): every data field, in both directions, starts with the session id and a
16-bit message number (both u16 LE). The client counts the number up per request (wrapping);
the panel echoes both. A reply carrying an earlier number is the late answer to a request we
gave up on: it is dropped and counted, never taken as the answer to the current one
(hass-zkaccess_c3 #3 shows a panel one reply behind after a timeout).

Only one request is outstanding at a time: panels serve requests strictly in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from .constants import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_DATA,
    FIRST_MESSAGE_NUMBER,
    PRESESSION_ID,
    SESSION_HEADER_SIZE,
    Command,
    Dialect,
    Reply,
)
from .errors import UnexpectedReply
from .frames import Frame, FrameDecoder, encode_frame

_STALE_WINDOW = 0x4000  # numbers this far behind the pending one are late replies, not garbage
_REPLY_CODES = frozenset(Reply)


@dataclass(frozen=True, slots=True)
class Response:
    """A reply to one request, with the session header (if any) stripped off."""

    code: int  # Reply.OK, Reply.ERROR or Reply.PREPARE_DATA
    payload: bytes
    command: int  # the request this answers
    address: int = DEFAULT_ADDRESS
    session_id: int | None = None
    message_number: int | None = None

    @property
    def is_ok(self) -> bool:
        return self.code == Reply.OK

    @property
    def is_error(self) -> bool:
        return self.code == Reply.ERROR

    @property
    def error_code(self) -> int:
        """The signed error byte of an error reply (-99 'unknown' when the panel sent none)."""
        if not self.payload:
            return -99
        return int.from_bytes(self.payload[:1], "little", signed=True)


class SessionState(Enum):
    IDLE = "idle"  # not connected (or the panel refused the connect)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BROKEN = "broken"  # a session-less reply went missing: the link must be reopened


class Session:
    """Client side of one panel connection. Produces request bytes, consumes reply bytes."""

    def __init__(self, *, address: int = DEFAULT_ADDRESS, max_data: int = DEFAULT_MAX_DATA) -> None:
        self.address = address
        self.state = SessionState.IDLE
        self.dialect: Dialect | None = None
        self.session_id: int | None = None
        self.stale_replies = 0  # late replies dropped (session dialect)
        self._decoder = FrameDecoder(max_data=max_data)
        self._message_number = FIRST_MESSAGE_NUMBER
        self._pending: tuple[int, int | None] | None = None  # (command, message number)
        self._replies: deque[Response] = deque()

    # -- requests ---------------------------------------------------------------------------
    def connect(self, dialect: Dialect, password: str = "") -> bytes:
        """Bytes of a CONNECT in *dialect*, with the plain-ASCII comm password (if any)."""
        secret = password.encode("ascii")
        self._check_not_pending()  # before any state changes: a refused call changes nothing
        self._decoder.reset()
        self._replies.clear()
        self.dialect = dialect
        self.session_id = None
        self.state = SessionState.CONNECTING
        if dialect is Dialect.SESSION:
            self._message_number = FIRST_MESSAGE_NUMBER
            header = _header(PRESESSION_ID, self._message_number)
            return self._send(Command.CONNECT_SESSION, header + secret, self._message_number)
        return self._send(Command.CONNECT, secret, None)

    def request(self, command: int, payload: bytes = b"") -> bytes:
        """Bytes of one request on an established connection."""
        if self.state is not SessionState.CONNECTED:
            raise RuntimeError(f"cannot send {command:#04x}: session is {self.state.value}")
        self._check_not_pending()  # before the message number is used up
        if self.dialect is Dialect.SESSION:
            assert self.session_id is not None  # noqa: S101  # CONNECTED in SESSION implies an id
            number = (self._message_number + 1) & 0xFFFF
            wire = self._send(command, _header(self.session_id, number) + payload, number)
            self._message_number = number  # used up only by a request that was produced
            return wire
        return self._send(command, payload, None)

    def abandon(self) -> None:
        """Give up on the pending request (its reply timed out)."""
        if self._pending is None:
            return
        self._pending = None
        if self.dialect is not Dialect.SESSION or self.state is SessionState.CONNECTING:
            # Nothing would tell its late reply from the next one's.
            self.state = SessionState.BROKEN

    def close(self) -> None:
        """Forget the connection (after DISCONNECT or when the link dropped)."""
        self.state = SessionState.IDLE
        self.session_id = None
        self._pending = None
        self._decoder.reset()
        self._replies.clear()

    # -- replies ----------------------------------------------------------------------------
    def needed(self) -> int:
        """How many more bytes complete the frame being received."""
        return self._decoder.needed()

    def receive(self, data: bytes) -> None:
        """Feed bytes from the link; raises ProtocolError for bytes we cannot accept."""
        for frame in self._decoder.feed(data):
            response = self._match(frame)
            if response is not None:
                self._replies.append(response)

    def next_reply(self) -> Response | None:
        """The reply to the pending request, once it is complete."""
        return self._replies.popleft() if self._replies else None

    @property
    def pending(self) -> int | None:
        """The command awaiting a reply, if any."""
        return self._pending[0] if self._pending else None

    # -- internals --------------------------------------------------------------------------
    def _check_not_pending(self) -> None:
        if self._pending is not None:
            raise RuntimeError(f"request {self._pending[0]:#04x} is still awaiting its reply")

    def _send(self, command: int, data: bytes, number: int | None) -> bytes:
        frame = encode_frame(Frame(command=command, data=data, address=self.address))
        # Only once the bytes exist: a bad request leaves no trace.
        self._pending = (command, number)
        return frame

    def _match(self, frame: Frame) -> Response | None:
        if frame.command not in _REPLY_CODES:
            raise UnexpectedReply(f"frame with command {frame.command:#04x} is not a reply")
        if self._pending is None:
            if self.dialect is Dialect.SESSION and len(frame.data) >= SESSION_HEADER_SIZE:
                self.stale_replies += 1  # late answer to an abandoned request
                return None
            raise UnexpectedReply("reply received while no request is pending")
        command, number = self._pending
        if command == Command.CONNECT_SESSION:
            return self._match_session_connect(frame)
        if self.dialect is Dialect.SESSION:
            return self._match_session(frame, command, number)
        self._pending = None
        response = Response(frame.command, frame.data, command, frame.address)
        self._after_reply(response)
        return response

    def _match_session_connect(self, frame: Frame) -> Response:
        data = frame.data
        if len(data) < SESSION_HEADER_SIZE and frame.command != Reply.ERROR:
            # Without a header there is no session id: "connected" would be a lie.
            raise UnexpectedReply(f"reply {frame.command:#04x} to 0x76 lacks the session header")
        self._pending = None
        if len(data) < SESSION_HEADER_SIZE:
            # Session-less firmware answers 0x76 without a header (error -13).
            response = Response(frame.command, data, Command.CONNECT_SESSION, frame.address)
        else:
            session_id = int.from_bytes(data[0:2], "little")
            echoed = int.from_bytes(data[2:4], "little")
            response = Response(
                frame.command, data[4:], Command.CONNECT_SESSION, frame.address, session_id, echoed
            )
            if frame.command == Reply.OK:
                self.session_id = session_id
        self._after_reply(response)
        return response

    def _match_session(self, frame: Frame, command: int, number: int | None) -> Response | None:
        data = frame.data
        if len(data) < SESSION_HEADER_SIZE:
            raise UnexpectedReply(f"session reply of {len(data)} bytes lacks the 4-byte header")
        session_id = int.from_bytes(data[0:2], "little")
        echoed = int.from_bytes(data[2:4], "little")
        assert number is not None  # noqa: S101  # session-dialect requests are numbered
        if echoed != number:
            if 0 < (number - echoed) & 0xFFFF <= _STALE_WINDOW:
                self.stale_replies += 1
                return None
            raise UnexpectedReply(
                f"reply carries message number {echoed:#06x}, expected {number:#06x}"
            )
        if session_id != self.session_id:
            raise UnexpectedReply(
                f"reply for session {session_id:#06x}, ours is {self.session_id:#06x}"
            )
        self._pending = None
        response = Response(frame.command, data[4:], command, frame.address, session_id, echoed)
        self._after_reply(response)
        return response

    def _after_reply(self, response: Response) -> None:
        if response.command in (Command.CONNECT, Command.CONNECT_SESSION):
            self.state = SessionState.CONNECTED if response.is_ok else SessionState.IDLE
        elif response.command == Command.DISCONNECT and response.is_ok:
            self.state = SessionState.IDLE


def _header(session_id: int, message_number: int) -> bytes:
    return session_id.to_bytes(2, "little") + message_number.to_bytes(2, "little")

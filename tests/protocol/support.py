"""Helpers shared by the protocol tests: sessions in a known state, panel-local times."""

from __future__ import annotations

from datetime import datetime

from zkpull.protocol import Command, Dialect, Frame, Reply, Response, Session, SessionState
from zkpull.protocol.constants import FIRST_MESSAGE_NUMBER
from zkpull.protocol.frames import encode_frame


def panel_time(  # noqa: PLR0917  # mirrors datetime()
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A naive datetime: panel time is local wall-clock time without a zone (fact sheet §5)."""
    return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001


def header(session_id: int, message_number: int) -> bytes:
    """The 4-byte session header, written out independently of the codec."""
    return session_id.to_bytes(2, "little") + message_number.to_bytes(2, "little")


def reply_frame(code: int, data: bytes = b"", address: int = 1) -> bytes:
    return encode_frame(Frame(command=code, data=data, address=address))


def sessionless() -> Session:
    """A Session connected in the session-less dialect (0x01 answered OK)."""
    session = Session()
    session.connect(Dialect.SESSIONLESS)
    session.receive(reply_frame(Reply.OK))
    response = session.next_reply()
    assert response is not None
    assert response.is_ok
    assert session.state is SessionState.CONNECTED
    return session


def session_at(session_id: int, next_number: int = FIRST_MESSAGE_NUMBER + 1) -> Session:
    """A Session connected in the session dialect whose next request carries *next_number*.

    The connect reply hands out *session_id*; the counter is then advanced with requests whose
    replies are abandoned (timed out), as a long-running client's would be.
    """
    session = Session()
    session.connect(Dialect.SESSION)
    session.receive(reply_frame(Reply.OK, header(session_id, FIRST_MESSAGE_NUMBER)))
    response = session.next_reply()
    assert response is not None
    assert response.is_ok
    assert session.session_id == session_id
    for _ in range((next_number - FIRST_MESSAGE_NUMBER - 1) & 0xFFFF):
        session.request(Command.GET_REALTIME_LOG)
        session.abandon()
    return session


def exchange(session: Session, command: int, payload: bytes, reply: bytes) -> Response:
    """Send one request on *session*, feed *reply* bytes and return the matched response."""
    session.request(command, payload)
    session.receive(reply)
    response = session.next_reply()
    assert response is not None, "the reply was not matched to the request"
    assert session.pending is None
    return response

"""Session state machine (client side) and PanelSession header handling (panel side)."""

from __future__ import annotations

import pytest

from tests.protocol.support import exchange, header, reply_frame, session_at, sessionless
from tests.vectors.c3 import vector
from zkpull.protocol import (
    Command,
    Dialect,
    FrameDecoder,
    FrameError,
    Reply,
    Response,
    Session,
    SessionState,
    UnexpectedReply,
)
from zkpull.protocol.server import PanelSession, Request

SID = 0x2014


def _number_of(wire: bytes) -> int:
    (frame,) = FrameDecoder().feed(wire)
    return int.from_bytes(frame.data[2:4], "little")


def _ok(number: int, payload: bytes = b"", session_id: int = SID) -> bytes:
    return reply_frame(Reply.OK, header(session_id, number) + payload)


# -- message numbers ----------------------------------------------------------------------------
def test_message_numbers_count_up_from_the_connect_and_wrap_to_zero() -> None:
    session = Session()
    assert _number_of(session.connect(Dialect.SESSION)) == 0xFEFE
    session.receive(vector("fx_connect_session_reply").wire)
    assert session.next_reply() is not None
    expected = 0xFEFF
    for _ in range(0x0104):  # 0xFEFF .. 0xFFFF, 0x0000 .. 0x0002
        wire = session.request(Command.GET_REALTIME_LOG)
        assert _number_of(wire) == expected
        assert exchange_reply(session, _ok(expected)).message_number == expected
        expected = (expected + 1) & 0xFFFF
    assert expected == 0x0003
    assert session.stale_replies == 0


def exchange_reply(session: Session, reply: bytes) -> Response:
    session.receive(reply)
    response = session.next_reply()
    assert response is not None
    return response


def test_reconnect_restarts_the_counter() -> None:
    session = session_at(SID, 0x1234)
    session.close()
    assert session.state is SessionState.IDLE
    assert session.session_id is None
    assert session.connect(Dialect.SESSION) == vector("cap_connect_session_req_nopw").wire


# -- matching replies ---------------------------------------------------------------------------
def test_stale_reply_is_dropped_and_counted_then_the_right_one_is_taken() -> None:
    session = session_at(SID, 0x0010)
    session.request(Command.GET_REALTIME_LOG)
    session.receive(_ok(0x000F) + _ok(0x000E) + _ok(0x0010, b"x"))
    response = session.next_reply()
    assert response is not None
    assert response.payload == b"x"
    assert session.next_reply() is None
    assert session.stale_replies == 2


@pytest.mark.parametrize(
    ("pending", "late"), [(0x0001, 0xFFFF), (0x0000, 0xFFFF), (0x4000, 0x0000)]
)
def test_stale_window_spans_the_wrap(pending: int, late: int) -> None:
    session = session_at(SID, pending)
    session.request(Command.GET_REALTIME_LOG)
    session.receive(_ok(late))
    assert (session.next_reply(), session.stale_replies) == (None, 1)
    assert session.pending == Command.GET_REALTIME_LOG


@pytest.mark.parametrize("ahead", [1, 2, 0x8000, 0xBFFF])
def test_reply_from_the_future_is_unexpected(ahead: int) -> None:
    session = session_at(SID, 0x0100)
    session.request(Command.GET_REALTIME_LOG)
    with pytest.raises(UnexpectedReply, match="message number"):
        session.receive(_ok((0x0100 + ahead) & 0xFFFF))
    assert session.stale_replies == 0


def test_reply_far_behind_the_window_is_unexpected() -> None:
    session = session_at(SID, 0x5000)
    session.request(Command.GET_REALTIME_LOG)
    session.receive(_ok(0x1000))  # 0x4000 behind: still a late reply
    with pytest.raises(UnexpectedReply):
        session.receive(_ok(0x0FFF))  # 0x4001 behind: garbage


def test_reply_for_another_session_is_unexpected() -> None:
    session = session_at(SID, 0x0100)
    session.request(Command.GET_REALTIME_LOG)
    with pytest.raises(UnexpectedReply, match="session"):
        session.receive(_ok(0x0100, session_id=SID + 1))


def test_session_reply_without_header_is_unexpected() -> None:
    session = session_at(SID, 0x0100)
    session.request(Command.GET_REALTIME_LOG)
    with pytest.raises(UnexpectedReply, match="header"):
        session.receive(reply_frame(Reply.OK, b"\x01\x02\x03"))


@pytest.mark.parametrize("command", [0x00, Command.GET_REALTIME_LOG, 0x76, 0xCA, 0xFF])
def test_frame_with_a_non_reply_command_byte_is_unexpected(command: int) -> None:
    for session in (sessionless(), session_at(SID, 0x0100)):
        session.request(Command.GET_REALTIME_LOG)
        with pytest.raises(UnexpectedReply, match="not a reply"):
            session.receive(reply_frame(command, header(SID, 0x0100)))


@pytest.mark.parametrize("code", [Reply.OK, Reply.PREPARE_DATA])
@pytest.mark.parametrize("data", [b"", b"\x14\x20", b"\x14\x20\xfe"])
def test_connect_reply_without_a_session_header_is_unexpected(code: int, data: bytes) -> None:
    session = Session()
    session.connect(Dialect.SESSION)
    with pytest.raises(UnexpectedReply, match="lacks the session header"):
        session.receive(reply_frame(code, data))
    assert session.state is not SessionState.CONNECTED
    assert session.session_id is None
    with pytest.raises(RuntimeError):
        session.request(Command.GET_REALTIME_LOG)


def test_sessionless_reply_without_a_request_is_unexpected() -> None:
    with pytest.raises(UnexpectedReply, match="no request"):
        sessionless().receive(reply_frame(Reply.OK))


def test_session_reply_without_a_request_is_a_late_one() -> None:
    session = session_at(SID, 0x0100)
    session.receive(_ok(0x00FF))
    assert session.stale_replies == 1
    with pytest.raises(UnexpectedReply):
        session.receive(reply_frame(Reply.OK, b"\x00"))  # too short to be a session reply


def test_big_data_announce_is_a_reply() -> None:
    session = session_at(SID, 0x0100)
    session.request(Command.GET_DATA, b"\x01\x01\x01\x00\x00")
    response = exchange_reply(
        session, reply_frame(Reply.PREPARE_DATA, header(SID, 0x0100) + bytes(17))
    )
    assert (response.code, response.is_ok, response.is_error) == (Reply.PREPARE_DATA, False, False)


def test_error_reply_without_a_code_reads_as_unknown() -> None:
    response = exchange(sessionless(), Command.GET_DATA_OK, b"\x05", reply_frame(Reply.ERROR))
    assert response.error_code == -99


def test_bad_frame_bytes_surface_as_frame_errors() -> None:
    session = sessionless()
    session.request(Command.GET_REALTIME_LOG)
    assert session.needed() == 5
    with pytest.raises(FrameError):
        session.receive(b"\x55" + bytes(7))


# -- state machine ------------------------------------------------------------------------------
def test_abandoned_sessionless_request_breaks_the_link() -> None:
    session = sessionless()
    session.request(Command.GET_REALTIME_LOG)
    session.abandon()
    assert session.state is SessionState.BROKEN
    assert session.pending is None
    with pytest.raises(RuntimeError, match="broken"):
        session.request(Command.GET_REALTIME_LOG)


def test_abandoned_session_request_keeps_the_session() -> None:
    session = session_at(SID, 0x0100)
    session.request(Command.GET_REALTIME_LOG)
    session.abandon()
    assert session.state is SessionState.CONNECTED
    assert _number_of(session.request(Command.GET_REALTIME_LOG)) == 0x0101
    session.receive(_ok(0x0100))  # the abandoned request's late reply
    assert session.next_reply() is None
    assert session.stale_replies == 1


def test_abandoned_connect_breaks_the_link() -> None:
    session = Session()
    session.connect(Dialect.SESSION)
    session.abandon()
    assert session.state is SessionState.BROKEN


def test_abandon_without_a_request_is_a_no_op() -> None:
    session = sessionless()
    session.abandon()
    assert session.state is SessionState.CONNECTED


@pytest.mark.parametrize(
    "make", [sessionless, lambda: session_at(SID, 0x0100)], ids=["sl", "session"]
)
def test_request_while_one_is_pending_is_refused_and_changes_nothing(make: type[Session]) -> None:
    session = make()
    first = session.request(Command.GET_REALTIME_LOG)
    with pytest.raises(RuntimeError, match="awaiting its reply"):
        session.request(Command.GET_DEVICE_PARAM, b"LockCount")
    with pytest.raises(RuntimeError, match="awaiting its reply"):
        session.connect(Dialect.SESSION)
    assert session.state is SessionState.CONNECTED
    assert session.pending == Command.GET_REALTIME_LOG
    (frame,) = FrameDecoder().feed(first)
    session.receive(reply_frame(Reply.OK, frame.data[:4]))
    assert session.next_reply() is not None
    second = session.request(Command.GET_REALTIME_LOG)
    if session.dialect is Dialect.SESSION:
        assert _number_of(second) == _number_of(first) + 1  # the refused call used no number


def test_request_too_large_to_frame_leaves_no_trace() -> None:
    session = session_at(SID, 0x0100)
    with pytest.raises(ValueError, match="u16"):
        session.request(Command.SET_DATA, bytes(0xFFFF))
    assert session.pending is None
    assert _number_of(session.request(Command.GET_REALTIME_LOG)) == 0x0100


@pytest.mark.parametrize("state", ["idle", "connecting"])
def test_request_before_connected_is_refused(state: str) -> None:
    session = Session()
    if state == "connecting":
        session.connect(Dialect.SESSIONLESS)
    with pytest.raises(RuntimeError, match=state):
        session.request(Command.GET_REALTIME_LOG)


def test_disconnect_reply_returns_to_idle() -> None:
    session = session_at(SID, 0x0100)
    exchange(session, Command.DISCONNECT, b"", _ok(0x0100))
    assert session.state is SessionState.IDLE


def test_connect_error_leaves_the_session_idle_and_reusable() -> None:
    session = Session()
    session.connect(Dialect.SESSIONLESS, "Admin123")
    response = exchange_reply(session, vector("cap_connect_sl_reply_err14").wire)
    assert (response.command, response.error_code) == (Command.CONNECT, -14)
    assert session.state is SessionState.IDLE
    assert session.connect(Dialect.SESSIONLESS) == vector("cap_connect_sessionless_req_nopw").wire


def test_address_is_carried_in_requests() -> None:
    session = Session(address=0x02)
    (frame,) = FrameDecoder().feed(session.connect(Dialect.SESSIONLESS))
    assert frame.address == 0x02


def test_reply_address_is_not_validated() -> None:
    session = session_at(0x9C4D, 0xFF08)
    response = exchange(
        session, Command.GET_DEVICE_PARAM, b"x", vector("fx_getparam_session_reply_door1").wire
    )
    assert response.address == 0x00


def test_close_discards_half_received_frames() -> None:
    session = sessionless()
    session.request(Command.GET_REALTIME_LOG)
    session.receive(b"\xaa\x01\xc8")
    session.close()
    assert session.needed() == 5
    assert session.next_reply() is None


# -- PanelSession (simulator side) ------------------------------------------------------------
def test_panel_session_firmware_splits_the_connect_header() -> None:
    panel = PanelSession(session_firmware=True)
    (request,) = panel.receive(vector("cap_connect_session_req_pw_admin123").wire)
    assert request == Request(0x76, b"Admin123", 0x01, 0xFEFE, 0xFEFE)
    assert request.has_header
    panel.establish(0x2014)
    assert panel.reply(request, Reply.OK) == vector("fx_connect_session_reply").wire


def test_panel_session_firmware_refuses_a_password_with_its_new_session_id() -> None:
    panel = PanelSession(session_firmware=True)
    (request,) = panel.receive(vector("cap_connect_session_req_nopw").wire)
    panel.establish(0xA750)
    assert panel.error(request, -14) == vector("cap_connect_session_reply_err14").wire


def test_panel_echoes_the_request_header_before_a_session_exists() -> None:
    panel = PanelSession(session_firmware=True)
    (request,) = panel.receive(vector("cap_connect_session_req_nopw").wire)
    assert panel.error(request, -14) == reply_frame(Reply.ERROR, header(0xFEFE, 0xFEFE) + b"\xf2")


def test_panel_splits_later_headers_only_once_established() -> None:
    panel = PanelSession(session_firmware=True)
    wire = vector("cap_control_session_req_close_door1").wire
    (before,) = panel.receive(wire)
    assert (before.payload, before.has_header) == (
        vector("cap_control_session_req_close_door1").data,
        False,
    )
    panel.establish(0xFED2)
    (request,) = panel.receive(wire)
    assert (request.session_id, request.message_number) == (0xFED2, 0x3AE7)
    assert request.payload == bytes.fromhex("0101010000")
    assert panel.reply(request, Reply.OK) == vector("cap_control_session_reply").wire
    panel.drop()
    (after,) = panel.receive(wire)
    assert not after.has_header


def test_panel_never_splits_a_sessionless_connect_or_a_short_request() -> None:
    panel = PanelSession(session_firmware=True)
    panel.establish(0xFED2)
    (connect,) = panel.receive(vector("cap_connect_sl_req_pw_admin123").wire)
    assert (connect.command, connect.payload, connect.has_header) == (0x01, b"Admin123", False)
    (short,) = panel.receive(vector("con_getdatacount_transaction_sl").wire)
    assert (short.payload, short.has_header) == (b"\x05", False)
    assert (
        panel.reply(short, Reply.OK, (3).to_bytes(4, "little"))
        == vector("con_getdatacount_reply_sl").wire
    )


def test_legacy_panel_never_reads_a_header() -> None:
    panel = PanelSession(session_firmware=False)
    (request,) = panel.receive(vector("cap_connect_session_req_nopw").wire)
    assert (request.payload, request.has_header) == (b"\xfe\xfe\xfe\xfe", False)
    assert panel.error(request, -13) == vector("cap_connect_session_reply_err13").wire
    assert (
        PanelSession(address=2).error(request, -13)
        == vector("fx_connect_session_reply_err13_addr2").wire
    )


def test_panel_and_client_sessions_talk_to_each_other() -> None:
    client, panel = Session(), PanelSession(session_firmware=True)
    (connect,) = panel.receive(client.connect(Dialect.SESSION, "pw"))
    panel.establish(0x1234)
    client.receive(panel.reply(connect, Reply.OK))
    assert client.next_reply() is not None
    assert client.session_id == 0x1234
    for number in range(0xFEFF, 0xFEFF + 5):
        (request,) = panel.receive(client.request(Command.GET_DEVICE_PARAM, b"LockCount"))
        assert (request.message_number, request.payload) == (number, b"LockCount")
        client.receive(panel.reply(request, Reply.OK, b"LockCount=4"))
        response = client.next_reply()
        assert response is not None
        assert response.payload == b"LockCount=4"


def test_panel_bad_frames_raise_and_reset_recovers() -> None:
    panel = PanelSession()
    assert panel.receive(b"\xaa\x01") == []
    assert panel.needed() == 3
    with pytest.raises(FrameError):
        panel.receive(b"\x0b\x00\x00\x00\x00\x00")
    panel.reset()
    assert panel.receive(vector("cap_rtlog_sl_req").wire)[0].command == Command.GET_REALTIME_LOG

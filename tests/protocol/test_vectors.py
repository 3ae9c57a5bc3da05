"""Golden vectors (fact sheet §11) through the codec: framing, CRC, RT records, and the facts
each vector's meaning states, decoded by the module that owns them.

Only captured vectors can catch a symmetric bug (the simulator shares this codec), so every
framed vector is checked the h11 way and every request we produce is reproduced byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.protocol.support import (
    exchange,
    header,
    panel_time,
    reply_frame,
    session_at,
    sessionless,
)
from tests.vectors import c3
from tests.vectors.c3 import Vector, framed, of_kind, vector
from zkpull.protocol import (
    Command,
    ControlOperation,
    Dialect,
    DoorStatus,
    Frame,
    FrameDecoder,
    FrameError,
    MessageError,
    OutputType,
    Reply,
    RtEvent,
    Session,
    SessionState,
    Table,
    describe_event,
    encode_frame,
)
from zkpull.protocol.checksum import crc16
from zkpull.protocol.params import (
    decode_param_names,
    decode_params,
    encode_control,
    encode_param_names,
    encode_params,
    output_control,
)
from zkpull.protocol.rtlog import (
    decode_rtlog,
    decode_rtlog_kv,
    encode_door_status,
    encode_rt_event,
    encode_rtlog_kv,
)
from zkpull.protocol.server import PanelSession
from zkpull.protocol.tables import (
    GetDataRequest,
    RecordDecoder,
    decode_count,
    decode_get_data,
    decode_row,
    decode_table_struct,
    encode_get_data,
    encode_records,
    encode_table_struct,
)
from zkpull.protocol.timecodec import decode_time, encode_time

FRAMED = framed()
by_name: Callable[[Vector], str] = lambda v: v.name  # noqa: E731


def _data(name: str) -> bytes:
    return vector(name).data


# -- the vectors file -----------------------------------------------------------------------
def test_vectors_file_has_the_fact_sheets_79_entries_with_provenance() -> None:
    vectors = c3.all_vectors()
    assert len(vectors) == 79
    assert all(v.meaning and v.source for v in vectors)
    assert {v.kind for v in vectors} == c3.KINDS


def test_bundled_copy_is_identical_to_the_shared_file() -> None:
    if not c3.SHARED_PATH.is_file():
        pytest.skip(f"no shared checkout at {c3.SHARED_PATH.resolve()}; the bundled copy is used")
    assert c3.BUNDLED_PATH.read_bytes() == c3.SHARED_PATH.read_bytes(), (
        "tests/vectors/c3-test-vectors.json is stale: copy shared/protocol/c3-test-vectors.json"
    )


def test_loader_prefers_override_then_shared_then_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(c3.ENV_VAR, str(c3.BUNDLED_PATH.parent))
    assert c3.vectors_path() == c3.BUNDLED_PATH
    monkeypatch.setenv(c3.ENV_VAR, str(c3.BUNDLED_PATH.parent / "missing.json"))
    with pytest.raises(FileNotFoundError, match=c3.ENV_VAR):
        c3.vectors_path()
    monkeypatch.delenv(c3.ENV_VAR)
    expected = c3.SHARED_PATH if c3.SHARED_PATH.is_file() else c3.BUNDLED_PATH
    assert c3.vectors_path() == expected
    assert c3.load(c3.BUNDLED_PATH) == c3.load(c3.vectors_path())


# -- framing: whole, byte-wise, back to back, trailing bytes, re-encoded ---------------------
@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_frame_layout_and_crc_are_as_captured(vec: Vector) -> None:
    wire = vec.wire
    assert (wire[0], wire[-1]) == (0xAA, 0x55)
    assert int.from_bytes(wire[3:5], "little") == len(wire) - 8
    assert crc16(wire[1:-3]) == int.from_bytes(wire[-3:-1], "little")


@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_decoder_accepts_vector_whole_bytewise_and_back_to_back(vec: Vector) -> None:
    assert FrameDecoder().feed(vec.wire) == [vec.frame]

    decoder = FrameDecoder()
    *partial, last = [decoder.feed(vec.wire[i : i + 1]) for i in range(len(vec.wire))]
    assert all(got == [] for got in partial)
    assert last == [vec.frame]
    assert decoder.buffered == 0

    assert FrameDecoder().feed(vec.wire * 2) == [vec.frame, vec.frame]


@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_trailing_partial_frame_stays_buffered(vec: Vector) -> None:
    for trailing in (b"\xaa", b"\xaa\x01\xc8", vec.wire[:5], vec.wire[:-1]):
        decoder = FrameDecoder()
        assert decoder.feed(vec.wire + trailing) == [vec.frame]
        assert decoder.buffered == len(trailing)
        assert decoder.feed(b"") == []
    decoder = FrameDecoder()
    assert decoder.feed(vec.wire + vec.wire[:-1]) == [vec.frame]
    assert decoder.feed(vec.wire[-1:]) == [vec.frame]


@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_trailing_garbage_is_never_swallowed(vec: Vector) -> None:
    decoder = FrameDecoder()
    try:
        got = decoder.feed(vec.wire + b"\x00garbage")
    except FrameError:
        return
    assert got == [vec.frame]
    with pytest.raises(FrameError):
        decoder.feed(b"")


@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_reading_exactly_needed_bytes_never_overshoots(vec: Vector) -> None:
    decoder, position = FrameDecoder(), 0
    frames: list[Frame] = []
    while not frames:
        step = decoder.needed()
        assert position + step <= len(vec.wire)
        frames = decoder.feed(vec.wire[position : position + step])
        position += step
    assert (frames, position) == ([vec.frame], len(vec.wire))


@pytest.mark.parametrize("vec", FRAMED, ids=by_name)
def test_reencoding_is_byte_identical(vec: Vector) -> None:
    (frame,) = FrameDecoder().feed(vec.wire)
    assert encode_frame(frame) == vec.wire


# -- CRC known answers ----------------------------------------------------------------------
_CRC_MEANING = re.compile(r"CRC-16/ARC = 0x([0-9A-F]{4}), transmitted LSB first as (\w\w) (\w\w)")


@pytest.mark.parametrize("vec", of_kind("crc"), ids=by_name)
def test_crc16_known_answer(vec: Vector) -> None:
    match = _CRC_MEANING.search(vec.meaning)
    assert match, f"meaning of {vec.name} states no CRC"
    expected = int(match[1], 16)
    assert crc16(vec.wire) == expected
    assert expected.to_bytes(2, "little") == bytes.fromhex(match[2] + match[3])


def test_crc16_catalogue_check_value() -> None:
    assert crc16(b"123456789") == 0xBB3D
    assert crc16(b"") == 0


# -- bare 16-byte RT records ----------------------------------------------------------------
_REC_EXPECTED: dict[str, tuple[type, dict[str, object]]] = {
    "rec_event_opened_accidentally": (
        RtEvent,
        {
            "card": 0,
            "pin": 0,
            "verified": 200,
            "door": 1,
            "event_type": 102,
            "inout": 2,
            "time_raw": 0x21AE8F32,
            "time": panel_time(2017, 7, 31, 8, 54, 10),
        },
    ),
    "rec_event_card_swipe": (
        RtEvent,
        {
            "card": 0x12643017,
            "pin": 0x0004B1E2,
            "verified": 4,
            "door": 1,
            "event_type": 0,
            "inout": 0,
            "time": panel_time(2017, 7, 31, 20, 5, 8),
        },
    ),
    "rec_status_alarm_closed": (
        DoorStatus,
        {
            "alarms": (3, 0, 0, 0),
            "sensors": (1, 0, 0, 0),
            "sensor_raw": 0x11,
            "time": panel_time(2017, 8, 3, 21, 17, 38),
        },
    ),
    "rec_status_alarm_open": (DoorStatus, {"alarms": (3, 0, 0, 0), "sensors": (2, 0, 0, 0)}),
    "rec_event_door_closed": (
        RtEvent,
        {"event_type": 201, "door": 1, "verified": 200, "inout": 2},
    ),
    "rec_event_exit_button": (RtEvent, {"event_type": 202, "door": 1}),
    "rec_event_door_opened": (RtEvent, {"event_type": 200, "door": 1}),
}


def test_every_record_vector_has_an_expectation() -> None:
    assert {v.name for v in of_kind("rec")} == set(_REC_EXPECTED)


def _facts(record: object, expected: dict[str, object]) -> dict[str, object]:
    return {attribute: getattr(record, attribute) for attribute in expected}


@pytest.mark.parametrize("vec", of_kind("rec"), ids=by_name)
def test_rt_record_decodes_to_the_stated_values(vec: Vector) -> None:
    kind, expected = _REC_EXPECTED[vec.name]
    (record,) = decode_rtlog(vec.wire)
    assert type(record) is kind
    assert _facts(record, expected) == expected


@pytest.mark.parametrize("vec", of_kind("rec"), ids=by_name)
def test_rt_record_reencodes_byte_identically(vec: Vector) -> None:
    (record,) = decode_rtlog(vec.wire)
    if isinstance(record, RtEvent):
        assert encode_rt_event(record) == vec.wire
    else:
        assert encode_door_status(record) == vec.wire


# -- session connect and error replies ------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "session_id"),
    [("fx_connect_session_reply", 0x2014), ("fx_connect_session_reply_b", 0x9C4D)],
)
def test_session_connect_reply_hands_out_the_session_id(name: str, session_id: int) -> None:
    session = Session()
    session.connect(Dialect.SESSION)
    session.receive(vector(name).wire)
    response = session.next_reply()
    assert response is not None
    assert response.is_ok
    assert (response.session_id, response.message_number, response.payload) == (
        session_id,
        0xFEFE,
        b"",
    )
    assert (session.state, session.session_id) == (SessionState.CONNECTED, session_id)


@pytest.mark.parametrize(
    ("name", "session_id"),
    [("cap_connect_session_reply_err14", 0xA750), ("cap_connect_session_reply_err14_b", 0x395A)],
)
def test_session_firmware_rejects_the_password_with_minus_14(name: str, session_id: int) -> None:
    session = Session()
    session.connect(Dialect.SESSION, "wrong")
    session.receive(vector(name).wire)
    response = session.next_reply()
    assert response is not None
    assert response.is_error
    assert (response.error_code, response.session_id, response.message_number) == (
        -14,
        session_id,
        0xFEFE,
    )
    assert (session.state, session.session_id) == (SessionState.IDLE, None)


@pytest.mark.parametrize(
    ("name", "address"),
    [("cap_connect_session_reply_err13", 0x01), ("fx_connect_session_reply_err13_addr2", 0x02)],
)
def test_sessionless_firmware_answers_0x76_with_minus_13(name: str, address: int) -> None:
    session = Session()
    session.connect(Dialect.SESSION)
    session.receive(vector(name).wire)
    response = session.next_reply()
    assert response is not None
    assert response.is_error
    assert (response.error_code, response.address, response.session_id) == (-13, address, None)
    assert response.command == Command.CONNECT_SESSION
    assert session.state is SessionState.IDLE
    # The fallback of fact sheet §2: CONNECT 0x01 on the same Session.
    assert session.connect(Dialect.SESSIONLESS) == vector("cap_connect_sessionless_req_nopw").wire
    session.receive(vector("cap_connect_sessionless_reply_ok").wire)
    assert session.next_reply() is not None
    assert session.request(Command.GET_REALTIME_LOG) == vector("cap_rtlog_sl_req").wire  # connected


def test_sessionless_connect_with_wrong_password_gets_minus_14() -> None:
    session = Session()
    assert (
        session.connect(Dialect.SESSIONLESS, "Admin123")
        == vector("cap_connect_sl_req_pw_admin123").wire
    )
    session.receive(vector("cap_connect_sl_reply_err14").wire)
    response = session.next_reply()
    assert response is not None
    assert response.error_code == -14
    assert session.state is SessionState.IDLE


def test_sessionless_error_reply_carries_minus_11() -> None:
    session = sessionless()
    response = exchange(
        session,
        Command.SET_DEVICE_PARAM,
        b"Nonsense=1",
        vector("con_reply_error_minus11_sl").wire,
    )
    assert response.is_error
    assert response.error_code == -11
    assert session.state is SessionState.CONNECTED


def test_control_reply_in_session_is_only_the_header() -> None:
    session = session_at(0xFED2, 0x3AE7)
    request = session.request(Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 0))
    assert request == vector("cap_control_session_req_close_door1").wire
    session.receive(vector("cap_control_session_reply").wire)
    response = session.next_reply()
    assert response is not None
    assert response.is_ok
    assert (response.payload, response.session_id, response.message_number) == (b"", 0xFED2, 0x3AE7)


def test_out_of_sync_reply_is_dropped_as_stale() -> None:
    session = session_at(0xFED2, 0x3916)
    assert (
        session.request(Command.GET_REALTIME_LOG)
        == vector("cap_rtlog_session_req_out_of_sync").wire
    )
    session.receive(vector("cap_rtlog_session_reply_out_of_sync").wire)  # carries 0x3915
    assert session.next_reply() is None
    assert session.stale_replies == 1
    assert session.pending == Command.GET_REALTIME_LOG
    # The reply that does belong to 0x3916 is then taken.
    record = vector("cap_rtlog_session_reply_out_of_sync").data[4:]
    session.receive(reply_frame(Reply.OK, header(0xFED2, 0x3916) + record))
    response = session.next_reply()
    assert response is not None
    assert response.message_number == 0x3916
    assert response.payload == record


# -- GETPARAM / SETPARAM ----------------------------------------------------------------------
_SERIAL = "DDG8130016092200401"
_GETPARAM_REPLIES: list[tuple[str, tuple[int, int] | None, int, dict[str, str]]] = [
    (
        "cap_getparam_sl_reply_4",
        None,
        1,
        {"~SerialNumber": _SERIAL, "LockCount": "4", "AuxInCount": "4", "AuxOutCount": "4"},
    ),
    (
        "cap_getparam_sl_reply_7",
        None,
        1,
        {
            "~ZKFPVersion": "",
            "~SerialNumber": _SERIAL,
            "LockCount": "4",
            "ReaderCount": "4",
            "AuxInCount": "4",
            "AuxOutCount": "4",
            "DateTime": "754732325",
        },
    ),
    (
        "fx_getparam_session_reply",
        (0x8AD1, 0x0002),
        1,
        {
            "~ZKFPVersion": "10",
            "LockCount": "2",
            "ReaderCount": "4",
            "AuxInCount": "2",
            "AuxOutCount": "2",
        },
    ),
    (
        "fx_getparam_session_reply_door1",
        (0x9C4D, 0xFF08),
        0,
        {"Door1SensorType": "2", "Door1Drivertime": "1", "Door1Detectortime": "250"},
    ),
    (
        "fx_getparam_sl_reply_addr0",
        None,
        0,
        {"~SerialNumber": _SERIAL, "LockCount": "4", "AuxInCount": "4", "AuxOutCount": "4"},
    ),
]


@pytest.mark.parametrize(
    ("name", "session", "address", "expected"),
    _GETPARAM_REPLIES,
    ids=[r[0] for r in _GETPARAM_REPLIES],
)
def test_getparam_reply_decodes_to_the_stated_values(
    name: str, session: tuple[int, int] | None, address: int, expected: dict[str, str]
) -> None:
    client = sessionless() if session is None else session_at(*session)
    names = encode_param_names(expected)
    response = exchange(client, Command.GET_DEVICE_PARAM, names, vector(name).wire)
    assert response.is_ok
    assert response.address == address
    got = decode_params(response.payload)
    assert got == expected
    assert list(got) == list(expected)  # request order is kept


def test_getparam_datetime_is_packed_time() -> None:
    values = decode_params(_data("cap_getparam_sl_reply_7"))
    assert decode_time(int(values["DateTime"])) == panel_time(2023, 6, 25, 7, 52, 5)


@pytest.mark.parametrize(
    ("name", "names"),
    [
        ("cap_getparam_sl_req_4", ["~SerialNumber", "LockCount", "AuxInCount", "AuxOutCount"]),
        (
            "cap_getparam_sl_req_7",
            [
                "~ZKFPVersion",
                "~SerialNumber",
                "LockCount",
                "ReaderCount",
                "AuxInCount",
                "AuxOutCount",
                "DateTime",
            ],
        ),
        (
            "cap_getparam_sl_req_6",
            ["~SerialNumber", "FirmVer", "DeviceName", "LockCount", "AuxInCount", "AuxOutCount"],
        ),
    ],
)
def test_getparam_request_is_reproduced(name: str, names: list[str]) -> None:
    wire = sessionless().request(Command.GET_DEVICE_PARAM, encode_param_names(names))
    assert wire == vector(name).wire
    assert decode_param_names(vector(name).data) == names


def test_setparam_datetime_in_session_is_reproduced() -> None:
    moment = panel_time(2025, 4, 13, 15, 54, 12)
    assert encode_time(moment) == 812649252
    # Connect (0xFEFE) answered with session 0x8AD1, one request (0xFEFF), then SETPARAM (0xFF00).
    session = Session()
    session.connect(Dialect.SESSION)
    session.receive(reply_frame(Reply.OK, header(0x8AD1, 0xFEFE)))
    assert session.next_reply() is not None
    names = encode_param_names(["LockCount"])
    exchange(
        session, Command.GET_DEVICE_PARAM, names, reply_frame(Reply.OK, header(0x8AD1, 0xFEFF))
    )
    wire = session.request(
        Command.SET_DEVICE_PARAM, encode_params({"DateTime": encode_time(moment)})
    )
    assert wire == vector("fx_setparam_datetime_session").wire

    panel = PanelSession(session_firmware=True)
    panel.establish(0x8AD1)
    (request,) = panel.receive(wire)
    assert (request.session_id, request.message_number) == (0x8AD1, 0xFF00)
    assert decode_params(request.payload) == {"DateTime": "812649252"}
    assert decode_time(int(decode_params(request.payload)["DateTime"])) == moment


def test_setparam_sessionless_is_reproduced() -> None:
    payload = encode_params({"Door1Drivertime": 6, "Door1Intertime": 3})
    wire = sessionless().request(Command.SET_DEVICE_PARAM, payload)
    assert wire == vector("con_setparam_sl").wire
    assert decode_params(vector("con_setparam_sl").data) == {
        "Door1Drivertime": "6",
        "Door1Intertime": "3",
    }


# -- requests we produce, reproduced exactly -------------------------------------------------
def _connect(dialect: Dialect, password: str = "") -> bytes:
    return Session().connect(dialect, password)


def _sl(command: int, payload: bytes = b"") -> bytes:
    return sessionless().request(command, payload)


def _at(session_id: int, number: int, command: int, payload: bytes = b"") -> bytes:
    return session_at(session_id, number).request(command, payload)


_TRANSACTION_ALL = GetDataRequest(5, (1, 2, 3, 4, 5, 6, 7))
_REQUESTS: dict[str, Callable[[], bytes]] = {
    "cap_connect_session_req_nopw": lambda: _connect(Dialect.SESSION),
    "cap_connect_session_req_pw_admin123": lambda: _connect(Dialect.SESSION, "Admin123"),
    "fx_connect_session_req_pw_banana123": lambda: _connect(Dialect.SESSION, "banana123"),
    "cap_connect_sessionless_req_nopw": lambda: _connect(Dialect.SESSIONLESS),
    "cap_connect_sl_req_pw_admin123": lambda: _connect(Dialect.SESSIONLESS, "Admin123"),
    "cap_disconnect_sl_req": lambda: _sl(Command.DISCONNECT),
    "cap_rtlog_sl_req": lambda: _sl(Command.GET_REALTIME_LOG),
    "cap_rtlog_session_req": lambda: _at(0xFED2, 0x3A07, Command.GET_REALTIME_LOG),
    "cap_rtlog_session_req_2": lambda: _at(0xFED2, 0x3B18, Command.GET_REALTIME_LOG),
    "cap_rtlog_session_req_out_of_sync": lambda: _at(0xFED2, 0x3916, Command.GET_REALTIME_LOG),
    "cap_control_session_req_close_door1": lambda: _at(
        0xFED2, 0x3AE7, Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 0)
    ),
    "con_get_table_struct_sl": lambda: _sl(Command.GET_TABLE_STRUCT),
    "con_getdata_transaction_all_sl": lambda: _sl(
        Command.GET_DATA, encode_get_data(_TRANSACTION_ALL)
    ),
    "con_getdatacount_transaction_sl": lambda: _sl(Command.GET_DATA_COUNT, bytes((5,))),
    "con_getdata_ok_transaction_sl": lambda: _sl(Command.GET_DATA_OK, bytes((5,))),
    "con_control_open_door1_5s_sl": lambda: _sl(
        Command.CONTROL_DEVICE, output_control(1, OutputType.DOOR, 5)
    ),
    "con_control_open_aux2_100s_sl": lambda: _sl(
        Command.CONTROL_DEVICE, output_control(2, OutputType.AUX, 100)
    ),
    "con_control_cancel_alarm_sl": lambda: _sl(
        Command.CONTROL_DEVICE, encode_control(ControlOperation.CANCEL_ALARM)
    ),
    "con_control_restart_sl": lambda: _sl(
        Command.CONTROL_DEVICE, encode_control(ControlOperation.RESTART)
    ),
    "con_control_normal_open_enable_door2_sl": lambda: _sl(
        Command.CONTROL_DEVICE, encode_control(ControlOperation.NORMAL_OPEN, 2, 1)
    ),
    "con_discover_udp_broadcast": lambda: encode_frame(
        Frame(command=Command.BROADCAST, data=b"CallSecurityDevice")
    ),
}


@pytest.mark.parametrize(("name", "build"), _REQUESTS.items(), ids=list(_REQUESTS))
def test_request_we_produce_is_reproduced_exactly(name: str, build: Callable[[], bytes]) -> None:
    assert build() == vector(name).wire


def test_getdata_request_decodes_back_simulator_side() -> None:
    assert decode_get_data(_data("con_getdata_transaction_all_sl")) == _TRANSACTION_ALL


# -- RT log replies ---------------------------------------------------------------------------
_RT_REPLIES: list[tuple[str, tuple[int, int] | None, list[tuple[type, dict[str, object]]]]] = [
    (
        "cap_rtlog_sl_reply_status",
        None,
        [
            (
                DoorStatus,
                {
                    "alarms": (0, 0, 0, 0),
                    "sensors": (1, 1, 1, 1),
                    "verified": 200,
                    "aux": 0,
                    "time_raw": 0x2E04AFDE,
                    "time": panel_time(2024, 1, 8, 20, 51, 42),
                },
            )
        ],
    ),
    (
        "cap_rtlog_sl_reply_status_b",
        None,
        [(DoorStatus, {"sensors": (1, 1, 1, 1), "time": panel_time(2024, 1, 8, 20, 51, 41)})],
    ),
    (
        "cap_rtlog_session_reply_status",
        (0xFED2, 0x3A07),
        [
            (
                DoorStatus,
                {
                    "alarms": (1, 0, 0, 0),
                    "sensors": (1, 0, 2, 2),
                    "verified": 0,
                    "aux": 1,
                    "time": panel_time(2023, 12, 7, 21, 33, 49),
                },
            )
        ],
    ),
    (
        "cap_rtlog_session_reply_event_remote_open",
        (0xFED2, 0x3B18),
        [
            (
                RtEvent,
                {
                    "card": 0,
                    "pin": 0,
                    "verified": 200,
                    "door": 2,
                    "event_type": 8,
                    "inout": 2,
                    "time": panel_time(2023, 12, 7, 21, 38, 20),
                },
            )
        ],
    ),
    (
        "cap_rtlog_session_reply_event_remote_close",
        (0xFED2, 0x3AE9),
        [
            (
                RtEvent,
                {
                    "verified": 200,
                    "door": 1,
                    "event_type": 9,
                    "inout": 2,
                    "time": panel_time(2023, 12, 7, 21, 37, 38),
                },
            )
        ],
    ),
    ("cap_rtlog_session_reply_out_of_sync", (0xFED2, 0x3915), [(DoorStatus, {"aux": 0})]),
    (
        "fx_rtlog_session_status_dss11",
        (0x66EB, 0x0003),
        [(DoorStatus, {"alarms": (3, 0, 0, 0), "sensors": (1, 0, 0, 0), "aux": 1})],
    ),
    (
        "fx_rtlog_event_aux_in_shorted",
        (0x66EB, 0x003C),
        [(RtEvent, {"event_type": 221, "door": 2, "verified": 200, "inout": 2})],
    ),
    (
        "fx_rtlog_event_aux_in_disconnected",
        (0x66EB, 0x003E),
        [(RtEvent, {"event_type": 220, "door": 2})],
    ),
    ("fx_rtlog_event_open_aux_out", (0x66EB, 0x0043), [(RtEvent, {"event_type": 12, "door": 2})]),
    ("fx_rtlog_event_close_aux_out", (0x66EB, 0x004C), [(RtEvent, {"event_type": 13, "door": 2})]),
    (
        "fx_rtlog_event_exit_button",
        (0x9C4D, 0xFF07),
        [(RtEvent, {"event_type": 202, "door": 2, "time": panel_time(2024, 1, 3, 17, 42, 45)})],
    ),
    (
        "fx_rtlog_status_two_doors",
        (0x9C4D, 0xFF06),
        [(DoorStatus, {"alarms": (3, 0, 0, 0), "sensors": (1, 0, 0, 0)})],
    ),
    ("fx_rtlog_status_verify_byte9_0b", (0x05D8, 0xFFE8), [(DoorStatus, {"aux": 0x0B})]),
    (
        "con_rtlog_sl_reply_two_events",
        None,
        [
            (RtEvent, {"event_type": 200, "door": 1}),
            (RtEvent, {"event_type": 201, "door": 1}),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "session", "expected"), _RT_REPLIES, ids=[r[0] for r in _RT_REPLIES]
)
def test_rtlog_reply_decodes_to_the_stated_records(
    name: str,
    session: tuple[int, int] | None,
    expected: list[tuple[type, dict[str, object]]],
) -> None:
    client = sessionless() if session is None else session_at(*session)
    response = exchange(client, Command.GET_REALTIME_LOG, b"", vector(name).wire)
    assert response.is_ok
    records = decode_rtlog(response.payload)
    assert [type(r) for r in records] == [kind for kind, _ in expected]
    assert [_facts(r, facts) for r, (_, facts) in zip(records, expected, strict=True)] == [
        facts for _, facts in expected
    ]


def test_rt_event_names() -> None:
    assert describe_event(8) == "Remote Opening"
    assert describe_event(9) == "Remote Closing"
    assert describe_event(220) == "Auxiliary Input Disconnected"
    assert describe_event(221) == "Auxiliary Input Shorted"
    assert describe_event(202) == "Exit Button Open"


@pytest.mark.parametrize(
    "name",
    ["fx_rtlog_session_status_dss11", "fx_rtlog_status_two_doors", "rec_status_alarm_closed"],
)
def test_dss_high_nibble_is_masked_but_kept_raw(name: str) -> None:
    vec = vector(name)
    payload = vec.wire if vec.kind == "rec" else vec.data[4:]
    (status,) = decode_rtlog(payload)
    assert isinstance(status, DoorStatus)
    assert status.sensor_raw & 0xFF == 0x11
    assert status.sensors[0] == 1  # 0x11 -> closed


def test_status_record_reencodes_in_the_simulator() -> None:
    status = DoorStatus(
        time=panel_time(2023, 12, 7, 21, 33, 49),
        sensors=(1, 0, 2, 2),
        alarms=(1, 0, 0, 0),
        verified=0,
        aux=1,
    )
    panel = PanelSession(session_firmware=True)
    panel.establish(0xFED2)
    (request,) = panel.receive(vector("cap_rtlog_session_req").wire)
    reply = panel.reply(request, Reply.OK, encode_door_status(status))
    assert reply == vector("cap_rtlog_session_reply_status").wire


def test_360_zero_bytes_are_not_an_rtlog() -> None:
    response = exchange(
        sessionless(),
        Command.GET_REALTIME_LOG,
        b"",
        vector("fx_rtlog_binary_not_multiple_of_16").wire,
    )
    assert response.payload == bytes(360)
    with pytest.raises(MessageError, match="multiple of 16"):
        decode_rtlog(response.payload)


def test_key_value_rtlog_events() -> None:
    response = exchange(
        sessionless(), Command.GET_REALTIME_LOG_KV, b"", vector("fx_rtlog_kv_events").wire
    )
    records = decode_rtlog_kv(response.payload)
    assert records == [
        RtEvent(panel_time(2023, 12, 6, 22, 33, 15), 0, 0, 0, 206, 2, 200, 769213995, index=8),
        RtEvent(panel_time(2023, 12, 6, 22, 57, 54), 0, 0, 1, 8, 2, 200, 769215474, index=9),
    ]
    assert encode_rtlog_kv(records) == response.payload


def test_key_value_rtlog_status_has_two_sensor_bits_per_door() -> None:
    (status,) = decode_rtlog_kv(_data("fx_rtlog_kv_status"))
    assert isinstance(status, DoorStatus)
    assert status.time == panel_time(2023, 12, 9, 15, 9, 33)
    assert status.sensors == (0, 1, 2, 0)  # 0x24: door 2 closed, door 3 open
    assert (status.relay, status.alarm_raw, status.alarms) == (0x04, 0, (0, 0, 0, 0))
    assert encode_rtlog_kv([status]) == _data("fx_rtlog_kv_status")


# -- tables ---------------------------------------------------------------------------------
_USER_FIELDS = [
    ("UID", "i", 1),
    ("CardNo", "i", 2),
    ("Pin", "i", 3),
    ("Password", "s", 4),
    ("Group", "i", 5),
    ("StartTime", "i", 6),
    ("EndTime", "i", 7),
    ("Name", "s", 8),
    ("SuperAuthorize", "i", 9),
]
_TABLE_IDS = {
    "user": 1,
    "userauthorize": 2,
    "holiday": 3,
    "timezone": 4,
    "transaction": 5,
    "firstcard": 6,
    "multimcard": 7,
    "inoutfun": 8,
    "template": 9,
    "templatev10": 10,
    "losscard": 11,
    "usertype": 12,
    "wiegandfmt": 13,
}


def _schema() -> dict[str, Table]:
    response = exchange(
        session_at(0xC74A, 0x0002),
        Command.GET_TABLE_STRUCT,
        b"",
        vector("fx_datatable_cfg_reply_session").wire,
    )
    assert response.address == 0
    return decode_table_struct(response.payload)


def test_table_struct_reply_lists_13_tables() -> None:
    tables = decode_table_struct(_data("fx_datatable_cfg_reply_session")[4:])
    assert {name: table.id for name, table in tables.items()} == _TABLE_IDS
    assert [(f.name, f.type, f.id) for f in tables["user"].fields] == _USER_FIELDS
    assert len(tables["timezone"].fields) == 31
    assert tables["timezone"].field("hol3time3").id == 31
    assert tables["templatev10"].field("Template").type == "B"
    assert [f.name for f in tables["transaction"].fields] == [
        "Cardno",
        "Pin",
        "Verified",
        "DoorID",
        "EventType",
        "InOutState",
        "Time_second",
    ]
    assert encode_table_struct(tables.values()) == _data("fx_datatable_cfg_reply_session")[4:]
    assert set(_schema()) == set(_TABLE_IDS)


def test_getdata_user_reply() -> None:
    tables = decode_table_struct(_data("fx_datatable_cfg_reply_session")[4:])
    user = tables["user"]
    request = GetDataRequest(1, tuple(range(1, 10)))
    response = exchange(
        session_at(0xC74A, 0x0004),
        Command.GET_DATA,
        encode_get_data(request),
        vector("fx_getdata_user_reply_session").wire,
    )
    decoder = RecordDecoder(request)
    raw_rows = decoder.feed(response.payload)
    decoder.finish()
    assert (decoder.table_id, decoder.field_ids, decoder.records) == (1, request.field_ids, 2)
    rows = [decode_row(user.fields, raw) for raw in raw_rows]
    assert rows[0]["CardNo"] == 1234567
    assert rows[1]["StartTime"] == 20220202
    assert rows == [
        {
            "UID": 1,
            "CardNo": 1234567,
            "Pin": 0x325476,
            "Password": "",
            "Group": 0,
            "StartTime": 0,
            "EndTime": 0,
            "Name": "",
            "SuperAuthorize": 0,
        },
        {
            "UID": 2,
            "CardNo": 0xA3A3A1,
            "Pin": 0xB3B2B1,
            "Password": "",
            "Group": 0,
            "StartTime": 20220202,
            "EndTime": 0x0134B09F,
            "Name": "",
            "SuperAuthorize": 0,
        },
    ]
    # Same bytes from our encoder (the simulator's side of the reply).
    assert (
        encode_records(1, request.field_ids, [list(r.values()) for r in rows]) == response.payload
    )


@pytest.mark.parametrize("chunk", [1, 2, 7, 100])
def test_getdata_user_reply_in_any_chunking(chunk: int) -> None:
    payload = _data("fx_getdata_user_reply_session")[4:]
    decoder, rows = RecordDecoder(GetDataRequest(1, tuple(range(1, 10)))), []
    for i in range(0, len(payload), chunk):
        rows += decoder.feed(payload[i : i + chunk])
    decoder.finish()
    assert len(rows) == 2
    assert rows[0][1] == (1234567).to_bytes(3, "little")


def test_getdata_transaction_reply_with_one_record() -> None:
    response = exchange(
        sessionless(),
        Command.GET_DATA,
        encode_get_data(_TRANSACTION_ALL),
        vector("con_getdata_transaction_reply_1rec").wire,
    )
    tables = decode_table_struct(_data("fx_datatable_cfg_reply_session")[4:])
    decoder = RecordDecoder(_TRANSACTION_ALL)
    (raw,) = decoder.feed(response.payload)
    decoder.finish()
    row = decode_row(tables["transaction"].fields, raw)
    assert row == {
        "Cardno": 1234567,
        "Pin": 5,
        "Verified": 4,
        "DoorID": 1,
        "EventType": 0,
        "InOutState": 0,
        "Time_second": 769296829,
    }
    assert decode_time(769296829) == panel_time(2023, 12, 7, 21, 33, 49)
    assert raw[4] == b"\x00"  # zero is one byte 00
    assert encode_records(5, _TRANSACTION_ALL.field_ids, [list(row.values())]) == response.payload


def test_getdatacount_reply_is_three() -> None:
    response = exchange(
        sessionless(),
        Command.GET_DATA_COUNT,
        bytes((5,)),
        vector("con_getdatacount_reply_sl").wire,
    )
    assert decode_count(response.payload) == 3


def test_firmware_example_frame_carries_its_two_data_bytes() -> None:
    (frame,) = FrameDecoder().feed(vector("fw_example_connect_with_data").wire)
    assert (frame.command, frame.data) == (Command.CONNECT, b"\xcd\xcd")


def test_0x76_without_header_reaches_the_panel_headerless() -> None:
    panel = PanelSession(session_firmware=False)
    (request,) = panel.receive(vector("cap_connect_0x76_no_header_req").wire)
    assert (request.command, request.payload, request.has_header) == (0x76, b"", False)
    assert panel.error(request, -13) == vector("cap_connect_session_reply_err13").wire

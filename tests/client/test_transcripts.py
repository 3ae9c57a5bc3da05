"""Byte-exact PanelClient conversations over ScriptedTransport, using captured replies.

Every scripted reply is a captured (or fixture) frame from the fact sheet's vectors where one
exists; replies built here are only those for message numbers no capture happens to carry.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.vectors.c3 import vector
from zkpull import PanelClient
from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import (
    AuthenticationError,
    ChecksumError,
    DeviceError,
    FrameError,
    TransportTimeout,
    UnexpectedReply,
)
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.rtlog import DoorStatus, RtEvent
from zkpull.protocol.tables import Field, Table, encode_table_struct
from zkpull.transport.memory import ScriptedTransport

ERR13 = "cap_connect_session_reply_err13"
SL_OK = "cap_connect_sessionless_reply_ok"
ADMIN123, BANANA123, WRONG = "Admin123", "banana123", "wrong"  # comm keys of the captures
PARAMS_4 = ["~SerialNumber", "LockCount", "AuxInCount", "AuxOutCount"]
PARAMS_4_VALUES = {
    "~SerialNumber": "DDG8130016092200401",
    "LockCount": "4",
    "AuxInCount": "4",
    "AuxOutCount": "4",
}


def local(text: str) -> datetime:
    """A panel wall-clock time: naive by design, panels send no zone (STYLE §4.5)."""
    return datetime.fromisoformat(text)


def wire(name: str) -> bytes:
    return vector(name).wire


def frame(code: int, data: bytes = b"") -> bytes:
    return encode_frame(Frame(command=code, data=data))


def session_reply(
    session_id: int, number: int, payload: bytes = b"", code: int = Reply.OK
) -> bytes:
    header = session_id.to_bytes(2, "little") + number.to_bytes(2, "little")
    return frame(code, header + payload)


def sent(data: bytes) -> Frame:
    [request] = FrameDecoder().feed(data)
    return request


def header_of(data: bytes) -> tuple[int, int]:
    """(session id, message number) of a session request."""
    payload = sent(data).data
    return int.from_bytes(payload[0:2], "little"), int.from_bytes(payload[2:4], "little")


async def sessionless(*replies: bytes) -> tuple[PanelClient, ScriptedTransport]:
    """A client logged in through the captured -13 fallback, then scripted with *replies*."""
    transport = ScriptedTransport([wire(ERR13), wire(SL_OK), *replies])
    client = PanelClient(transport)
    await client.connect()
    return client, transport


async def in_session(
    session_id: int, next_number: int, *replies: bytes
) -> tuple[PanelClient, ScriptedTransport]:
    """A session-dialect client whose next request carries message number *next_number*.

    Real panels accept any counter value (fact sheet §2.2), so jumping the counter lets us
    replay captures taken deep into a session.
    """
    transport = ScriptedTransport([session_reply(session_id, 0xFEFE), *replies])
    client = PanelClient(transport)
    await client.connect()
    assert client.session_id == session_id
    client._session._message_number = (next_number - 1) & 0xFFFF
    return client, transport


# -- connect -------------------------------------------------------------------------------------
async def test_connect_falls_back_to_sessionless_on_minus_13() -> None:
    client, transport = await sessionless()
    assert transport.written == [
        wire("cap_connect_session_req_nopw"),
        wire("cap_connect_sessionless_req_nopw"),
    ]
    assert client.connected
    assert client.dialect is Dialect.SESSIONLESS
    assert client.session_id is None


async def test_connect_with_password_sends_plain_ascii() -> None:
    transport = ScriptedTransport([wire(ERR13), wire(SL_OK)])
    client = PanelClient(transport, password=ADMIN123)
    await client.connect()
    assert transport.written == [
        wire("cap_connect_session_req_pw_admin123"),
        wire("cap_connect_sl_req_pw_admin123"),
    ]


async def test_preferred_dialect_skips_negotiation() -> None:
    transport = ScriptedTransport([wire(SL_OK)])
    client = PanelClient(transport, dialect=Dialect.SESSIONLESS)
    await client.connect()
    assert transport.written == [wire("cap_connect_sessionless_req_nopw")]
    assert client.dialect is Dialect.SESSIONLESS


async def test_session_connect_then_headers_and_counter() -> None:
    transport = ScriptedTransport(
        [
            wire("fx_connect_session_reply"),
            session_reply(0x2014, 0xFEFF, b"LockCount=4"),
            session_reply(0x2014, 0xFF00, b"ReaderCount=4"),
            session_reply(0x2014, 0xFF01, b"AuxInCount=2"),
        ]
    )
    client = PanelClient(transport, password=BANANA123)
    await client.connect()
    assert transport.written == [wire("fx_connect_session_req_pw_banana123")]
    assert client.dialect is Dialect.SESSION
    assert client.session_id == 0x2014
    assert await client.get_params(["LockCount"]) == {"LockCount": "4"}
    assert await client.get_params(["ReaderCount"]) == {"ReaderCount": "4"}
    assert await client.get_params(["AuxInCount"]) == {"AuxInCount": "2"}
    assert [header_of(data) for data in transport.written[1:]] == [
        (0x2014, 0xFEFF),
        (0x2014, 0xFF00),
        (0x2014, 0xFF01),
    ]
    assert sent(transport.written[1]).data[4:] == b"LockCount"
    assert {sent(data).command for data in transport.written[1:]} == {Command.GET_DEVICE_PARAM}


async def test_session_message_number_wraps() -> None:
    client, transport = await in_session(
        0x2014, 0xFFFF, session_reply(0x2014, 0xFFFF), session_reply(0x2014, 0x0000)
    )
    await client.cancel_alarm()
    await client.cancel_alarm()
    assert [header_of(data)[1] for data in transport.written[1:]] == [0xFFFF, 0x0000]


@pytest.mark.parametrize(
    ("script", "writes"),
    [
        pytest.param(["cap_connect_session_reply_err14"], 1, id="session"),
        pytest.param(["cap_connect_session_reply_err14_b"], 1, id="session-b"),
        pytest.param([ERR13, "cap_connect_sl_reply_err14"], 2, id="sessionless"),
    ],
)
async def test_wrong_password_is_authentication_error(script: list[str], writes: int) -> None:
    transport = ScriptedTransport([wire(name) for name in script])
    client = PanelClient(transport, password=WRONG)
    with pytest.raises(AuthenticationError) as info:
        await client.connect()
    assert info.value.code == -14
    assert "password" in info.value.meaning
    assert "-14" in str(info.value)
    assert len(transport.written) == writes  # no further dialect is tried after -14
    assert not client.connected
    assert not transport.is_open


async def test_connect_refused_with_other_code_is_device_error() -> None:
    transport = ScriptedTransport([frame(Reply.ERROR, b"\xf8")])  # -8, headerless
    client = PanelClient(transport)
    with pytest.raises(DeviceError) as info:
        await client.connect()
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.code == -8
    assert not client.connected


async def test_session_connect_timeout_closes() -> None:
    transport = ScriptedTransport([])
    client = PanelClient(transport)
    with pytest.raises(TransportTimeout):
        await client.connect()
    assert not client.connected
    assert not transport.is_open


async def test_disconnect_sends_captured_frame_and_closes() -> None:
    client, transport = await sessionless(wire(SL_OK))
    await client.disconnect()
    assert transport.written[-1] == wire("cap_disconnect_sl_req")
    assert not client.connected
    assert not transport.is_open
    await client.disconnect()  # not connected: nothing sent, no error
    assert len(transport.written) == 3


async def test_request_before_connect_is_runtime_error() -> None:
    transport = ScriptedTransport([])
    client = PanelClient(transport)
    with pytest.raises(RuntimeError, match="connect"):
        await client.get_params(["LockCount"])
    assert transport.written == []


# -- parameters ----------------------------------------------------------------------------------
async def test_get_params_captured() -> None:
    client, transport = await sessionless(wire("cap_getparam_sl_reply_4"))
    assert await client.get_params(PARAMS_4) == PARAMS_4_VALUES
    assert transport.written[2] == wire("cap_getparam_sl_req_4")


async def test_get_params_with_empty_value_and_other_address() -> None:
    client, transport = await sessionless(
        wire("cap_getparam_sl_reply_7"), wire("fx_getparam_sl_reply_addr0")
    )
    names = [
        "~ZKFPVersion",
        "~SerialNumber",
        "LockCount",
        "ReaderCount",
        "AuxInCount",
        "AuxOutCount",
        "DateTime",
    ]
    values = await client.get_params(names)
    assert transport.written[2] == wire("cap_getparam_sl_req_7")
    assert values["~ZKFPVersion"] == ""
    assert values["DateTime"] == "754732325"
    assert await client.get_params(PARAMS_4) == PARAMS_4_VALUES  # address byte 0x00 is fine


async def test_set_params_captured_request() -> None:
    client, transport = await sessionless(wire(SL_OK))
    await client.set_params({"Door1Drivertime": 6, "Door1Intertime": 3})
    assert transport.written[2] == wire("con_setparam_sl")


async def test_set_time_in_session_matches_fixture() -> None:
    client, transport = await in_session(0x8AD1, 0xFF00, session_reply(0x8AD1, 0xFF00))
    await client.set_time(local("2025-04-13 15:54:12"))
    assert transport.written[1] == wire("fx_setparam_datetime_session")


# -- real-time log -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "moment"),
    [
        ("cap_rtlog_sl_reply_status", local("2024-01-08 20:51:42")),
        ("cap_rtlog_sl_reply_status_b", local("2024-01-08 20:51:41")),
    ],
)
async def test_get_rtlog_status_sessionless(name: str, moment: datetime) -> None:
    client, transport = await sessionless(wire(name))
    [status] = await client.get_rtlog()
    assert transport.written[2] == wire("cap_rtlog_sl_req")
    assert isinstance(status, DoorStatus)
    assert status.time == moment
    assert status.sensors == (1, 1, 1, 1)
    assert status.alarms == (0, 0, 0, 0)
    assert status.verified == 200


async def test_get_rtlog_status_in_session_capture() -> None:
    client, transport = await in_session(0xFED2, 0x3A07, wire("cap_rtlog_session_reply_status"))
    [status] = await client.get_rtlog()
    assert transport.written[0] == wire("cap_connect_session_req_nopw")
    assert transport.written[1] == wire("cap_rtlog_session_req")
    assert isinstance(status, DoorStatus)
    assert status.time == local("2023-12-07 21:33:49")
    assert status.sensors == (1, 0, 2, 2)
    assert status.alarms == (1, 0, 0, 0)
    assert (status.verified, status.aux) == (0, 1)


async def test_get_rtlog_event_in_session_capture() -> None:
    client, transport = await in_session(
        0xFED2, 0x3B18, wire("cap_rtlog_session_reply_event_remote_open")
    )
    [event] = await client.get_rtlog()
    assert transport.written[1] == wire("cap_rtlog_session_req_2")
    assert event == RtEvent(
        time=local("2023-12-07 21:38:20"),
        pin=0,
        card=0,
        door=2,
        event_type=8,
        inout=2,
        verified=200,
        time_raw=event.time_raw,
    )


async def test_close_door_in_session_capture() -> None:
    client, transport = await in_session(0xFED2, 0x3AE7, wire("cap_control_session_reply"))
    await client.close_door(1)
    assert transport.written[1] == wire("cap_control_session_req_close_door1")


async def test_get_rtlog_switches_to_key_value_variant() -> None:
    client, transport = await sessionless(
        wire("fx_rtlog_binary_not_multiple_of_16"),
        wire("fx_rtlog_kv_events"),
        wire("fx_rtlog_kv_status"),
    )
    records = await client.get_rtlog()
    assert [sent(data).command for data in transport.written[2:]] == [0x0B, 0x79]
    assert all(isinstance(record, RtEvent) for record in records)
    assert [(r.event_type, r.door, r.index) for r in records] == [(206, 0, 8), (8, 1, 9)]  # type: ignore[union-attr]
    assert records[0].time == local("2023-12-06 22:33:15")

    [status] = await client.get_rtlog()  # stays on 0x79 without trying 0x0B again
    assert sent(transport.written[-1]).command == 0x79
    assert len(transport.written) == 5
    assert isinstance(status, DoorStatus)
    assert status.sensors == (0, 1, 2, 0)
    assert status.relay == 0x04


# -- error replies -------------------------------------------------------------------------------
async def test_error_reply_is_device_error_and_session_stays_up() -> None:
    client, _ = await sessionless(
        wire("con_reply_error_minus11_sl"), wire("cap_getparam_sl_reply_4")
    )
    with pytest.raises(DeviceError) as info:
        await client.set_params({"Door1Drivertime": 6})
    assert info.value.code == -11
    assert info.value.command == Command.SET_DEVICE_PARAM
    assert info.value.meaning == "data parameter error"
    assert client.connected
    assert await client.get_params(PARAMS_4) == PARAMS_4_VALUES


async def test_error_reply_in_session_keeps_session() -> None:
    client, transport = await in_session(
        0x2014,
        0xFEFF,
        session_reply(0x2014, 0xFEFF, b"\xf5", Reply.ERROR),
        session_reply(0x2014, 0xFF00, b"LockCount=2"),
    )
    with pytest.raises(DeviceError) as info:
        await client.get_params(["Bogus"])
    assert info.value.code == -11
    assert client.connected
    assert await client.get_params(["LockCount"]) == {"LockCount": "2"}
    assert header_of(transport.written[-1]) == (0x2014, 0xFF00)


async def test_get_data_ok_error_frame_with_code_0_is_success() -> None:
    client, transport = await sessionless(
        frame(Reply.ERROR, b"\x00"), frame(Reply.ERROR, b"\xf3"), frame(Reply.ERROR, b"\x00")
    )
    response = await client.request(Command.GET_DATA_OK, b"\x05")
    assert response.is_error  # the legacy firmware's quirk, passed through as a value
    assert transport.written[2] == wire("con_getdata_ok_transaction_sl")
    with pytest.raises(DeviceError) as info:
        await client.request(Command.GET_DATA_OK, b"\x05")
    assert info.value.code == -13
    with pytest.raises(DeviceError) as info:  # the exemption is for GET_DATA_OK only
        await client.request(Command.GET_DATA_COUNT, b"\x05")
    assert info.value.code == 0
    assert client.connected


async def test_commit_new_records_tolerates_quirk() -> None:
    transaction = Table("transaction", 5, (Field("Cardno", "i", 1), Field("Pin", "i", 2)))
    client, transport = await sessionless(
        frame(Reply.OK, encode_table_struct([transaction])), frame(Reply.ERROR, b"\x00")
    )
    await client.commit_new_records()
    assert transport.written[-1] == wire("con_getdata_ok_transaction_sl")


# -- timeouts and late replies -------------------------------------------------------------------
async def test_stale_reply_after_timeout_is_skipped_in_session() -> None:
    client, _ = await in_session(
        0x2014,
        0xFEFF,
        b"",  # the first request times out
        session_reply(0x2014, 0xFEFF, b"LockCount=1")
        + session_reply(0x2014, 0xFF00, b"LockCount=2"),
    )
    with pytest.raises(TransportTimeout):
        await client.get_params(["LockCount"])
    assert client.connected  # the session dialect survives a timeout
    assert await client.get_params(["LockCount"]) == {"LockCount": "2"}
    assert client.stale_replies == 1


async def test_captured_out_of_sync_reply_is_skipped() -> None:
    good = session_reply(0xFED2, 0x3916, vector("cap_rtlog_session_reply_status").data[4:])
    client, transport = await in_session(
        0xFED2, 0x3915, b"", wire("cap_rtlog_session_reply_out_of_sync") + good
    )
    with pytest.raises(TransportTimeout):
        await client.get_rtlog()
    [status] = await client.get_rtlog()
    assert transport.written[2] == wire("cap_rtlog_session_req_out_of_sync")
    assert isinstance(status, DoorStatus)
    assert status.aux == 1  # the capture's late reply has byte 9 = 0; ours has 1
    assert client.stale_replies == 1


async def test_sessionless_timeout_closes_link() -> None:
    client, transport = await sessionless(b"")
    with pytest.raises(TransportTimeout):
        await client.get_params(PARAMS_4)
    assert not client.connected
    assert not transport.is_open
    with pytest.raises(RuntimeError):
        await client.get_params(PARAMS_4)


# -- bad bytes -----------------------------------------------------------------------------------
async def test_corrupted_crc_is_checksum_error_and_closes() -> None:
    reply = bytearray(wire("cap_getparam_sl_reply_4"))
    reply[-3] ^= 0xFF  # CRC low byte
    client, transport = await sessionless(bytes(reply))
    with pytest.raises(ChecksumError) as info:
        await client.get_params(PARAMS_4)
    assert info.value.expected != info.value.actual
    assert not client.connected
    assert not transport.is_open


async def test_garbage_start_byte_is_frame_error_and_closes() -> None:
    reply = b"\x00" + wire("cap_getparam_sl_reply_4")[1:]
    client, transport = await sessionless(reply)
    with pytest.raises(FrameError) as info:
        await client.get_params(PARAMS_4)
    assert not isinstance(info.value, ChecksumError)
    assert "start byte" in str(info.value)
    assert not client.connected
    assert not transport.is_open


async def test_request_echoed_as_reply_is_unexpected() -> None:
    client, _ = await sessionless(wire("cap_getparam_sl_req_4"))  # a loopback echo, not a reply
    with pytest.raises(UnexpectedReply):
        await client.get_params(PARAMS_4)
    assert not client.connected


async def test_reply_for_another_session_is_unexpected() -> None:
    client, _ = await in_session(0x2014, 0xFEFF, session_reply(0x9C4D, 0xFEFF))
    with pytest.raises(UnexpectedReply):
        await client.cancel_alarm()
    assert not client.connected

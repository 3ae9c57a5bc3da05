"""Connecting in both dialects, passwords, authorisation, unknown commands, disconnect."""

from __future__ import annotations

import pytest

from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.session import SessionState
from zkpull.simulator import FakePanel, Firmware, PanelConfig, Simulator, make_configs

from .simhelpers import MemClient, TcpClient, clock

COMM_KEY = "Admin123"
SESSION = PanelConfig(firmware=Firmware.SESSION, password=COMM_KEY)
LEGACY = PanelConfig(firmware=Firmware.SESSIONLESS, password=COMM_KEY)


def test_session_connect_hands_out_a_nonzero_session_id_and_echoes_the_message_number() -> None:
    client = MemClient(FakePanel(SESSION, clock=clock()))
    reply = client.connect(Dialect.SESSION, "Admin123")
    assert reply.is_ok
    assert reply.payload == b""
    assert reply.session_id not in (None, 0, 0xFEFE)
    assert reply.message_number == 0xFEFE
    assert client.session.state is SessionState.CONNECTED
    follow_up = client.request(Command.GET_DEVICE_PARAM, b"LockCount")
    assert (follow_up.session_id, follow_up.message_number) == (reply.session_id, 0xFEFF)


def test_session_ids_are_deterministic_per_seed_and_differ_between_panels() -> None:
    ids = [
        MemClient(FakePanel(PanelConfig(index=i, seed=7), clock=clock())).connect().session_id
        for i in (0, 0, 1)
    ]
    assert ids[0] == ids[1] != ids[2]


def test_wrong_password_in_session_dialect_is_minus_14_with_a_header() -> None:
    client = MemClient(FakePanel(SESSION, clock=clock()))
    reply = client.connect(Dialect.SESSION, "wrong")
    assert reply.is_error
    assert reply.error_code == -14
    assert reply.message_number == 0xFEFE
    assert reply.session_id not in (None, 0xFEFE)  # captured: a fresh random id
    assert client.session.state is SessionState.IDLE


@pytest.mark.parametrize("firmware", [Firmware.SESSION, Firmware.SESSIONLESS])
def test_wrong_or_missing_password_sessionless_connect_is_minus_14(firmware: Firmware) -> None:
    panel = FakePanel(PanelConfig(firmware=firmware, password=COMM_KEY), clock=clock())
    assert MemClient(panel).connect(Dialect.SESSIONLESS, "nope").error_code == -14
    assert MemClient(panel).connect(Dialect.SESSIONLESS, "").error_code == -14
    assert MemClient(panel).connect(Dialect.SESSIONLESS, "Admin123").is_ok


def test_sessionless_firmware_answers_0x76_with_headerless_minus_13_then_accepts_0x01() -> None:
    client = MemClient(FakePanel(LEGACY, clock=clock()))
    raw = client.conn.receive(client.session.connect(Dialect.SESSION, "Admin123"))
    assert raw == bytes.fromhex("aa01c90100f313d955")  # the captured reply, byte for byte
    client.session.receive(raw)
    assert client.session.next_reply().error_code == -13  # type: ignore[union-attr]
    reply = client.connect(Dialect.SESSIONLESS, "Admin123")
    assert reply.is_ok
    assert reply.session_id is None


def test_sessionless_connect_reply_matches_the_capture() -> None:
    conn = FakePanel(PanelConfig(firmware=Firmware.SESSIONLESS), clock=clock()).connection()
    assert conn.receive(bytes.fromhex("aa01010000503c55")) == bytes.fromhex("aa01c80000800255")


def test_session_firmware_also_accepts_sessionless_connect() -> None:
    client = MemClient(FakePanel(SESSION, clock=clock()))
    assert client.connect(Dialect.SESSIONLESS, "Admin123").is_ok
    assert client.request(Command.GET_DEVICE_PARAM, b"LockCount").payload == b"LockCount=4"


@pytest.mark.parametrize("firmware", [Firmware.SESSION, Firmware.SESSIONLESS])
def test_requests_before_connect_are_not_authorized(firmware: Firmware) -> None:
    conn = FakePanel(PanelConfig(firmware=firmware), clock=clock()).connection()
    reply = FrameDecoder().feed(
        conn.receive(encode_frame(Frame(Command.GET_DEVICE_PARAM, b"LockCount")))
    )
    assert reply == [Frame(Reply.ERROR, (-8).to_bytes(1, "little", signed=True))]


def test_unknown_command_is_minus_13_with_header() -> None:
    client = MemClient(FakePanel(clock=clock()))
    client.connect()
    reply = client.request(0x55)
    assert reply.error_code == -13
    assert reply.session_id == client.session.session_id


def test_wrong_session_id_is_not_authorized() -> None:
    panel = FakePanel(clock=clock())
    client = MemClient(panel)
    client.connect()
    forged = (client.session.session_id ^ 0x5A5A).to_bytes(2, "little") + b"\x00\x01"  # type: ignore[operator]
    frames = FrameDecoder().feed(
        client.conn.receive(encode_frame(Frame(Command.GET_DATA_COUNT, forged + b"\x05")))
    )
    assert frames[0].command == Reply.ERROR
    assert frames[0].data[-1:] == b"\xf8"  # -8


def test_0x76_without_placeholder_header_on_session_firmware_is_minus_11() -> None:
    conn = FakePanel(clock=clock()).connection()
    frames = FrameDecoder().feed(conn.receive(bytes.fromhex("aa01760000e02655")))
    assert frames == [Frame(Reply.ERROR, b"\xf5")]


@pytest.mark.parametrize("dialect", [Dialect.SESSION, Dialect.SESSIONLESS])
async def test_tcp_connect_request_disconnect_closes(dialect: Dialect) -> None:
    async with Simulator([SESSION], clock=clock()) as sim:
        client = await TcpClient.open(sim.ports[0])
        assert (await client.connect(dialect, "Admin123")).is_ok
        reply = await client.request(Command.GET_DEVICE_PARAM, b"~SerialNumber")
        assert reply.payload == f"~SerialNumber={sim.panels[0].serial}".encode()
        assert (await client.request(Command.DISCONNECT)).is_ok
        assert await client.read_eof() == b""
        await client.close()


async def test_tcp_wrong_password_then_right_password_on_same_socket() -> None:
    async with Simulator([SESSION], clock=clock()) as sim:
        client = await TcpClient.open(sim.ports[0])
        assert (await client.connect(Dialect.SESSION, "bad")).error_code == -14
        assert (await client.connect(Dialect.SESSION, "Admin123")).is_ok
        await client.close()


async def test_mixed_firmware_alternates_dialects_over_tcp() -> None:
    async with Simulator(make_configs(2, firmware="mixed"), clock=clock()) as sim:
        session_panel = await TcpClient.open(sim.ports[0])
        legacy_panel = await TcpClient.open(sim.ports[1])
        assert (await session_panel.connect(Dialect.SESSION)).is_ok
        assert (await legacy_panel.connect(Dialect.SESSION)).error_code == -13
        assert (await legacy_panel.connect(Dialect.SESSIONLESS)).is_ok
        firmware = await legacy_panel.request(Command.GET_DEVICE_PARAM, b"FirmVer")
        assert firmware.payload == b"FirmVer=AC Ver 4.3.4 Apr 27 2017"
        firmware = await session_panel.request(Command.GET_DEVICE_PARAM, b"FirmVer")
        assert firmware.payload.startswith(b"FirmVer=AC Ver 5.0.9")
        await session_panel.close()
        await legacy_panel.close()

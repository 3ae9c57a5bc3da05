"""SerialBus / SerialTransport over a real pty; PanelClient.rs485 against a fake RS485 bus."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import pytest
import serial_asyncio_fast

from zkpull import PanelClient
from zkpull.protocol import params
from zkpull.protocol.codes import ErrorCode
from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import ConnectError, ConnectionClosed, TransportTimeout
from zkpull.protocol.frames import FrameDecoder, encode_frame
from zkpull.protocol.server import PanelSession, Request
from zkpull.transport import BAUD_RATES, SerialBus, SerialTransport, baudrate_from_index

TIMEOUT = 0.3


class Line:
    """The far end of a pty: what the panels on the bus see and say."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()  # keep the slave open: no EIO on the master
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self.received = bytearray()
        self.on_data: Callable[[bytes], None] | None = None
        self.loop = asyncio.get_running_loop()
        self._timers: list[asyncio.TimerHandle] = []
        self.loop.add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        self.received += data
        if self.on_data is not None:
            self.on_data(data)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def later(self, delay: float, callback: Callable[..., None], *args: object) -> None:
        self._timers.append(self.loop.call_later(delay, callback, *args))

    def send_later(self, delay: float, data: bytes) -> None:
        self.later(delay, self.send, data)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    pty = Line()
    yield pty
    pty.close()


@pytest.fixture
def open_count(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real open of a serial port."""
    opened: list[str] = []
    real = serial_asyncio_fast.open_serial_connection

    async def counting(*, url: str, baudrate: int) -> object:
        opened.append(url)
        await asyncio.sleep(0.01)  # opening a real port takes a moment: let others run
        return await real(url=url, baudrate=baudrate)

    monkeypatch.setattr(serial_asyncio_fast, "open_serial_connection", counting)
    return opened


# -- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "rate"), [(0, 9600), (1, 19200), (2, 38400), (3, 57600), (4, 115200)]
)
def test_baudrate_from_index(index: int, rate: int) -> None:
    assert baudrate_from_index(index) == rate
    assert BAUD_RATES[index] == rate


@pytest.mark.parametrize("index", [-1, 5, 38400])
def test_baudrate_from_invalid_index(index: int) -> None:
    with pytest.raises(ValueError, match="baud-rate index"):
        baudrate_from_index(index)


def test_bus_rejects_unsupported_baudrate() -> None:
    with pytest.raises(ValueError, match="unsupported baud rate"):
        SerialBus("/dev/null", baudrate=12345)


async def test_nonexistent_port_is_connect_error() -> None:
    bus = SerialBus("/dev/zkpull-no-such-port", timeout=TIMEOUT)
    transport = SerialTransport(bus)
    with pytest.raises(ConnectError):
        await transport.open()
    assert not transport.is_open
    assert not bus.is_open
    await transport.close()  # never opened: a no-op
    with pytest.raises(ConnectError):
        await transport.open()  # the failed attempt left no user count behind


# -- the bus -------------------------------------------------------------------------------------
async def test_bus_opens_once_and_closes_with_last_user(line: Line, open_count: list[str]) -> None:
    bus = SerialBus(line.path, timeout=TIMEOUT)
    first, second = SerialTransport(bus), SerialTransport(bus, timeout=0.1)
    assert second.timeout == 0.1
    assert first.timeout == TIMEOUT
    await asyncio.gather(first.open(), second.open())
    assert open_count == [line.path]
    assert first.is_open
    assert second.is_open
    await first.open()  # idempotent per transport
    assert open_count == [line.path]

    await first.close()
    await first.close()  # a second close must not release the other user's hold
    assert not first.is_open
    assert bus.is_open
    assert second.is_open
    await second.close()
    assert not bus.is_open
    assert not second.is_open

    await first.open()  # reopens for a new user
    assert open_count == [line.path, line.path]
    await first.close()
    assert not bus.is_open


async def test_write_and_read_when_closed(line: Line) -> None:
    transport = SerialTransport(SerialBus(line.path, timeout=TIMEOUT))
    with pytest.raises(ConnectionClosed):
        await transport.write(b"x")
    with pytest.raises(ConnectionClosed):
        await transport.read_exactly(1)


async def test_read_timeout(line: Line) -> None:
    transport = SerialTransport(SerialBus(line.path, timeout=TIMEOUT), timeout=0.1)
    await transport.open()
    try:
        await transport.write(b"ping")
        with pytest.raises(TransportTimeout):
            await transport.read_exactly(4)
    finally:
        await transport.close()


async def test_exchanges_never_interleave(line: Line) -> None:
    """Two panels' exchanges are serialised by `exclusive()`; replies come slowly, in halves."""
    pending: list[bytes] = []
    violations: list[str] = []
    buffer = bytearray()

    def panel(data: bytes) -> None:
        buffer.extend(data)
        while len(buffer) >= 4:
            request = bytes(buffer[:4])
            del buffer[:4]
            if pending:
                violations.append(f"{request!r} arrived while {pending[0]!r} was unanswered")
            pending.append(request)
            reply = b"<" + request + b">"
            line.send_later(0.005, reply[:3])
            line.later(0.015, finish, reply[3:])

    def finish(rest: bytes) -> None:
        line.send(rest)
        pending.pop(0)

    line.on_data = panel
    bus = SerialBus(line.path, timeout=TIMEOUT)
    transports = [SerialTransport(bus), SerialTransport(bus)]

    async def talk(transport: SerialTransport, tag: bytes) -> list[bytes]:
        await transport.open()
        replies = []
        for n in range(4):
            request = tag + f"{n:03d}".encode()
            replies.append(await exchange(transport, request, 6))
        return replies

    try:
        a, b = await asyncio.gather(talk(transports[0], b"A"), talk(transports[1], b"B"))
    finally:
        for transport in transports:
            await transport.close()
    assert a == [b"<A00%d>" % n for n in range(4)]
    assert b == [b"<B00%d>" % n for n in range(4)]
    assert violations == []


async def exchange(transport: SerialTransport, request: bytes, size: int) -> bytes:
    async with transport.exclusive():
        await transport.write(request)
        return await transport.read_exactly(size)


async def test_failed_exchange_drains_garbage_before_next(line: Line) -> None:
    answers = {b"req1": b"", b"req2": b"good"}
    buffer = bytearray()

    def panel(data: bytes) -> None:
        buffer.extend(data)
        while len(buffer) >= 4:
            request = bytes(buffer[:4])
            del buffer[:4]
            if answers[request]:
                line.send_later(0.005, answers[request])

    line.on_data = panel
    bus = SerialBus(line.path, timeout=TIMEOUT)
    transport = SerialTransport(bus, timeout=0.1)
    await transport.open()
    try:
        with pytest.raises(TransportTimeout):
            await exchange(transport, b"req1", 4)
        line.send(b"\xaa\x01late reply and noise")  # arrives after the caller gave up
        await asyncio.sleep(0.03)
        assert await exchange(transport, b"req2", 4) == b"good"
        # A clean exchange leaves the bus clean: nothing is drained before the next one.
        async with transport.exclusive():
            line.send(b"go")
            await asyncio.sleep(0.01)
            assert await transport.read_exactly(2) == b"go"
    finally:
        await transport.close()


# -- PanelClient.rs485 against a fake bus ----------------------------------------------------------
class FakeBus:
    """Session-less panels behind one line; each answers only frames with its own address."""

    def __init__(self, line: Line, addresses: list[int]) -> None:
        self.line = line
        self.decoder = FrameDecoder()
        self.panels = {address: PanelSession(address=address) for address in addresses}
        self.seen: list[tuple[int, int]] = []  # (address byte, command) of every request
        self.busy = False
        self.violations: list[str] = []
        line.on_data = self.feed

    def feed(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self.seen.append((frame.address, frame.command))
            if self.busy:
                self.violations.append(f"request {frame!r} while a reply was pending")
            panel = self.panels.get(frame.address)
            if panel is None:
                continue  # not for anyone here: the line stays silent
            [request] = panel.receive(encode_frame(frame))
            self.busy = True
            reply = self.answer(panel, request)
            self.line.send_later(0.003, reply[:4])
            self.line.later(0.008, self.finish, reply[4:])

    def finish(self, rest: bytes) -> None:
        self.line.send(rest)
        self.busy = False

    @staticmethod
    def answer(panel: PanelSession, request: Request) -> bytes:
        if request.command == Command.CONNECT_SESSION:
            return panel.error(request, ErrorCode.COMMAND_NOT_AVAILABLE)  # legacy firmware
        if request.command in (Command.CONNECT, Command.DISCONNECT):
            return panel.reply(request, Reply.OK)
        if request.command == Command.GET_DEVICE_PARAM:
            known = {"DeviceID": str(panel.address), "~SerialNumber": f"SN-{panel.address}"}
            names = params.decode_param_names(request.payload)
            return panel.reply(
                request, Reply.OK, params.encode_params({n: known.get(n, "") for n in names})
            )
        return panel.error(request, ErrorCode.COMMAND_NOT_AVAILABLE)


async def test_rs485_clients_share_a_bus(line: Line, open_count: list[str]) -> None:
    fake = FakeBus(line, [1, 2])
    bus = SerialBus(line.path, timeout=TIMEOUT)
    one, two = PanelClient.rs485(bus, 1), PanelClient.rs485(bus, 2)
    await asyncio.gather(one.connect(), two.connect())
    assert open_count == [line.path]
    assert one.dialect is Dialect.SESSIONLESS
    assert two.dialect is Dialect.SESSIONLESS

    names = ["DeviceID", "~SerialNumber"]
    results = await asyncio.gather(*(client.get_params(names) for client in [one, two] * 3))
    assert (
        results
        == [
            {"DeviceID": "1", "~SerialNumber": "SN-1"},
            {"DeviceID": "2", "~SerialNumber": "SN-2"},
        ]
        * 3
    )
    assert fake.violations == []
    assert {address for address, _ in fake.seen} == {1, 2}
    for address in (1, 2):
        commands = [command for addr, command in fake.seen if addr == address]
        assert commands == [0x76, 0x01] + [0x04] * 3

    await one.disconnect()
    assert bus.is_open
    assert two.connected
    await two.disconnect()
    assert not bus.is_open
    assert [command for _, command in fake.seen[-2:]] == [0x02, 0x02]


async def test_rs485_silent_address_times_out_and_others_still_work(line: Line) -> None:
    FakeBus(line, [1])
    bus = SerialBus(line.path, timeout=0.15)
    present, absent = PanelClient.rs485(bus, 1), PanelClient.rs485(bus, 9)
    await present.connect()
    try:
        with pytest.raises(TransportTimeout):
            await absent.connect()
        assert not absent.connected
        assert bus.is_open  # the other client still holds it
        assert await present.get_params(["DeviceID"]) == {"DeviceID": "1"}
    finally:
        await present.close()
    assert not bus.is_open

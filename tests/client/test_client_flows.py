"""PanelClient flows against a small in-test fake panel over MemoryTransport.

The fake shares our codec (PanelSession, tables, bigdata), so it checks flows, not bytes:
byte-level facts live in test_transcripts.py, which replays captures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from zkpull import PanelClient
from zkpull.protocol import bigdata, params, tables
from zkpull.protocol.codes import ErrorCode
from zkpull.protocol.constants import Command, Dialect, Reply
from zkpull.protocol.errors import MessageError, TransportTimeout
from zkpull.protocol.rtlog import RtEvent
from zkpull.protocol.server import PanelSession, Request
from zkpull.protocol.tables import Field, Table
from zkpull.protocol.timecodec import decode_time
from zkpull.transport.memory import MemoryTransport

USER = Table(
    "user",
    1,
    (
        Field("CardNo", "i", 1),
        Field("Pin", "i", 2),
        Field("Password", "s", 3),
        Field("Group", "i", 4),
        Field("StartTime", "i", 5),
        Field("EndTime", "i", 6),
    ),
)
TRANSACTION = Table(
    "transaction",
    5,
    tuple(
        Field(name, "i", number)
        for number, name in enumerate(
            ["Cardno", "Pin", "Verified", "DoorID", "EventType", "InOutState", "Time_second"], 1
        )
    ),
)
TABLES = {table.id: table for table in (USER, TRANSACTION)}
SESSION_ID = 0x5A17


class FakePanel:
    """A panel that answers from in-memory tables; `delay` answers asynchronously, later."""

    def __init__(
        self,
        *,
        session_firmware: bool = False,
        chunk: int = 64,
        bad_crc: bool = False,
        delay: float | None = None,
    ) -> None:
        self.session = PanelSession(session_firmware=session_firmware)
        self.chunk, self.bad_crc, self.delay = chunk, bad_crc, delay
        self.rows: dict[int, Sequence[Sequence[tables.Value]]] = {USER.id: [], TRANSACTION.id: []}
        self.requests: list[Request] = []
        self.big = b""
        self.busy = False
        self.violations: list[str] = []
        self.transport = MemoryTransport(self, timeout=0.2)

    def commands(self) -> list[int]:
        return [request.command for request in self.requests]

    def sent(self, command: int) -> list[Request]:
        return [request for request in self.requests if request.command == command]

    def __call__(self, data: bytes) -> bytes:
        if self.busy:
            self.violations.append(f"request {data.hex()} before the previous reply")
        reply = b"".join(self.handle(request) for request in self.session.receive(data))
        if self.delay is None:
            return reply
        self.busy = True
        asyncio.get_running_loop().call_later(self.delay, self.answer, reply)
        return b""

    def answer(self, reply: bytes) -> None:
        self.busy = False
        self.transport.feed(reply)

    def handle(self, request: Request) -> bytes:
        self.requests.append(request)
        handler: Callable[[Request], bytes] | None = getattr(
            self, f"on_{Command(request.command).name.lower()}", None
        )
        if handler is None:
            return self.session.error(request, ErrorCode.COMMAND_NOT_AVAILABLE)
        return handler(request)

    def ok(self, request: Request, payload: bytes = b"") -> bytes:
        return self.session.reply(request, Reply.OK, payload)

    def on_connect_session(self, request: Request) -> bytes:
        if not self.session.session_firmware:
            return self.session.error(request, ErrorCode.COMMAND_NOT_AVAILABLE)
        self.session.establish(SESSION_ID)
        return self.ok(request)

    def on_connect(self, request: Request) -> bytes:
        return self.ok(request)

    on_disconnect = on_control_device = on_set_device_param = on_connect

    def on_get_device_param(self, request: Request) -> bytes:
        names = params.decode_param_names(request.payload)
        return self.ok(request, params.encode_params({name: f"v-{name}" for name in names}))

    def on_get_table_struct(self, request: Request) -> bytes:
        return self.ok(request, tables.encode_table_struct(TABLES.values()))

    def on_get_data(self, request: Request) -> bytes:
        query = tables.decode_get_data(request.payload)
        positions = [field_id - 1 for field_id in query.field_ids]
        rows = [[row[p] for p in positions] for row in self.rows[query.table_id]]
        data = tables.encode_records(query.table_id, query.field_ids, rows)
        if len(data) <= self.chunk:
            return self.ok(request, data)
        self.big = data
        crc = bigdata.checksum(data) ^ (1 if self.bad_crc else 0)
        info = bigdata.BigDataInfo(0, len(data), len(data), crc, self.chunk)
        return self.session.reply(request, Reply.PREPARE_DATA, bigdata.encode_announce(info))

    def on_read_data(self, request: Request) -> bytes:
        offset = bigdata.decode_offset(request.payload)
        return self.ok(request, request.payload[:4] + self.big[offset : offset + self.chunk])

    def on_free_data(self, request: Request) -> bytes:
        self.big = b""
        return self.ok(request)

    def on_get_data_count(self, request: Request) -> bytes:
        return self.ok(request, len(self.rows[request.payload[0]]).to_bytes(4, "little"))

    def on_set_data(self, request: Request) -> bytes:
        decoder = tables.RecordDecoder()
        decoder.feed(request.payload)
        decoder.finish()
        return self.ok(request)

    def on_delete_data(self, request: Request) -> bytes:
        tables.decode_delete_data(request.payload)
        return self.ok(request)


@pytest.fixture(params=[False, True], ids=["sessionless", "session"])
def panel(request: pytest.FixtureRequest) -> FakePanel:
    return FakePanel(session_firmware=request.param)


async def connect(panel: FakePanel, **options: object) -> PanelClient:
    client = PanelClient(panel.transport, **options)  # type: ignore[arg-type]
    await client.connect()
    return client


def transaction_rows(count: int) -> list[tuple[int, ...]]:
    base = 769296829  # 2023-12-07 21:33:49
    return [(1_000_000 + n, n, 4, 1 + n % 4, n % 30, n % 2, base + 60 * n) for n in range(count)]


# -- big data ------------------------------------------------------------------------------------
async def test_iter_transactions_over_big_data(panel: FakePanel) -> None:
    expected = transaction_rows(25)
    panel.rows[TRANSACTION.id] = list(expected)
    client = await connect(panel)
    assert client.dialect is (
        Dialect.SESSION if panel.session.session_firmware else Dialect.SESSIONLESS
    )

    events = [event async for event in client.iter_transactions()]

    assert events == [
        RtEvent(
            time=decode_time(raw),
            pin=pin,
            card=card,
            door=door,
            event_type=event,
            inout=inout,
            verified=verified,
            time_raw=raw,
        )
        for card, pin, verified, door, event, inout, raw in expected
    ]
    reads = panel.sent(Command.READ_DATA)
    offsets = [bigdata.decode_offset(r.payload) for r in reads]
    assert offsets == list(range(0, 64 * len(offsets), 64))
    assert len(offsets) > 3
    assert panel.commands()[-1] == Command.FREE_DATA
    assert panel.big == b""  # FREE_DATA released the buffer


async def test_small_result_needs_no_big_data(panel: FakePanel) -> None:
    panel.rows[USER.id] = [(123, 7, "1234", 1, 20240101, 20251231)]
    client = await connect(panel)
    rows = await client.read_table("user", ["Pin", "CardNo", "Password"])
    assert rows == [{"Pin": 7, "CardNo": 123, "Password": "1234"}]
    assert Command.READ_DATA not in panel.commands()
    assert Command.FREE_DATA not in panel.commands()


async def test_big_data_crc_mismatch() -> None:
    panel = FakePanel(bad_crc=True)
    panel.rows[TRANSACTION.id] = transaction_rows(10)
    client = await connect(panel)
    seen: list[RtEvent] = []

    async def collect() -> None:
        async for event in client.iter_transactions():
            seen.append(event)  # noqa: PERF401 keep what streamed before the error

    with pytest.raises(MessageError, match="CRC-32"):
        await collect()
    assert len(seen) == 10  # rows stream before the whole-transfer check
    assert panel.commands()[-1] == Command.FREE_DATA
    assert client.connected

    other = FakePanel(bad_crc=True)
    other.rows[TRANSACTION.id] = transaction_rows(10)
    lenient = await connect(other, verify_bigdata_crc=False)
    assert len([event async for event in lenient.iter_transactions()]) == 10
    assert other.commands()[-1] == Command.FREE_DATA


async def test_new_only_and_count() -> None:
    panel = FakePanel()
    panel.rows[TRANSACTION.id] = transaction_rows(3)
    client = await connect(panel)
    assert await client.count("transaction") == 3
    assert len([e async for e in client.iter_transactions(new_only=True)]) == 3
    [query] = panel.sent(Command.GET_DATA)
    assert tables.decode_get_data(query.payload).new_only


# -- schema --------------------------------------------------------------------------------------
async def test_table_schema_is_cached_per_connection(panel: FakePanel) -> None:
    client = await connect(panel)
    first = await client.get_tables()
    assert set(first) == {"user", "transaction"}
    assert await client.get_tables() is first
    assert (await client.table("TRANSACTION")).id == 5
    await client.count("user")
    assert len(panel.sent(Command.GET_TABLE_STRUCT)) == 1

    await client.get_tables(refresh=True)
    assert len(panel.sent(Command.GET_TABLE_STRUCT)) == 2

    await client.connect()  # a new connection may be new firmware: fetch again
    await client.table("user")
    assert len(panel.sent(Command.GET_TABLE_STRUCT)) == 3

    with pytest.raises(KeyError, match="timezone"):
        await client.table("timezone")


# -- writes --------------------------------------------------------------------------------------
async def test_set_data_batches_under_4_kb(panel: FakePanel) -> None:
    client = await connect(panel)
    users = [
        {"Pin": n, "CardNo": 5_000_000 + n, "Password": f"pw{n:018d}", "StartTime": 20240101}
        for n in range(400)
    ]
    await client.set_data("user", users)

    batches = panel.sent(Command.SET_DATA)
    assert len(batches) > 1
    decoded: list[tuple[bytes, ...]] = []
    for request in batches:
        assert len(request.payload) < 4096
        decoder = tables.RecordDecoder()
        decoded += decoder.feed(request.payload)
        decoder.finish()
        assert decoder.table_id == USER.id
        assert decoder.field_ids == (1, 2, 3, 5)  # schema order, only the fields given
    fields = [USER.field(name) for name in ("CardNo", "Pin", "Password", "StartTime")]
    assert [tables.decode_row(fields, raw) for raw in decoded] == [
        {"CardNo": u["CardNo"], "Pin": u["Pin"], "Password": u["Password"], "StartTime": 20240101}
        for u in users
    ]


async def test_set_data_validates_before_sending() -> None:
    panel = FakePanel()
    client = await connect(panel)
    await client.set_data("user", [])
    with pytest.raises(ValueError, match="no field"):
        await client.set_data("user", [{"Pin": 1, "Nickname": "x"}])
    assert Command.SET_DATA not in panel.commands()


async def test_delete_data() -> None:
    panel = FakePanel()
    client = await connect(panel)
    await client.delete_data("user", None)
    await client.delete_data("user", [])
    await client.delete_data("user", [{"pin": 5}, {"Pin": "300"}])
    clear, keyed = panel.sent(Command.DELETE_DATA)
    assert clear.payload == bytes((USER.id, 0))  # c=0: the whole table
    assert keyed.payload == bytes((USER.id, 1, 2, 1, 5, 2)) + (300).to_bytes(2, "little")


# -- parameters and control ------------------------------------------------------------------------
async def test_params_are_chunked(panel: FakePanel) -> None:
    client = await connect(panel)
    names = [f"Param{n}" for n in range(35)]
    values = await client.get_params([*names, "Param0"])  # duplicates are asked once
    assert values == {name: f"v-{name}" for name in names}
    chunks = [params.decode_param_names(r.payload) for r in panel.sent(Command.GET_DEVICE_PARAM)]
    assert chunks == [names[:30], names[30:]]

    await client.set_params({f"Door{n}Drivertime": n for n in range(25)})
    sets = [params.decode_params(r.payload) for r in panel.sent(Command.SET_DEVICE_PARAM)]
    assert [len(chunk) for chunk in sets] == [20, 5]
    with pytest.raises(ValueError, match="nothing"):
        await client.set_params({})


async def test_get_info_and_time() -> None:
    panel = FakePanel()
    client = await connect(panel)
    info = await client.get_info()
    assert info.serial_number == "v-~SerialNumber"
    assert info.lock_count == 0  # "v-LockCount" is not a number: tolerated as 0
    assert info.time is None
    with pytest.raises(MessageError, match="DateTime"):
        await client.get_time()


@pytest.mark.parametrize("seconds", [0, 255, -1, 300])
async def test_open_door_validates_seconds(seconds: int) -> None:
    panel = FakePanel()
    client = await connect(panel)
    with pytest.raises(ValueError, match="seconds"):
        await client.open_door(1, seconds)
    assert Command.CONTROL_DEVICE not in panel.commands()


async def test_control_payloads() -> None:
    panel = FakePanel()
    client = await connect(panel)
    await client.open_door(1, 5)
    await client.hold_door(2)
    await client.close_door(1)
    await client.set_aux_output(2, 100)
    await client.set_normal_open(2, True)
    await client.cancel_alarm()
    await client.restart()
    assert [r.payload.hex() for r in panel.sent(Command.CONTROL_DEVICE)] == [
        "0101010500",
        "010201ff00",
        "0101010000",
        "0102026400",
        "0402010000",
        "0200000000",
        "0300000000",
    ]


@pytest.mark.parametrize("password", ["x" * 16, "pässwort", "密码"])
def test_password_validation(password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        PanelClient(FakePanel().transport, password=password)


def test_password_and_address_limits() -> None:
    PanelClient(FakePanel().transport, password="x" * 15)
    with pytest.raises(ValueError, match="address"):
        PanelClient(FakePanel().transport, address=256)


async def test_request_before_connect_is_runtime_error() -> None:
    panel = FakePanel()
    client = PanelClient(panel.transport)
    with pytest.raises(RuntimeError, match="connect"):
        await client.get_params(["LockCount"])
    await panel.transport.open()  # even with the link up, there is no login yet
    with pytest.raises(RuntimeError, match="connect"):
        await client.request(Command.GET_REALTIME_LOG)
    assert panel.requests == []


# -- concurrency ---------------------------------------------------------------------------------
@pytest.mark.parametrize("session_firmware", [False, True], ids=["sessionless", "session"])
async def test_concurrent_callers_are_serialised(session_firmware: bool) -> None:
    panel = FakePanel(session_firmware=session_firmware, delay=0.002)
    client = await connect(panel)
    results = await asyncio.gather(*(client.get_params([f"P{n}"]) for n in range(10)))
    assert results == [{f"P{n}": f"v-P{n}"} for n in range(10)]
    assert panel.violations == []
    assert len(panel.sent(Command.GET_DEVICE_PARAM)) == 10
    if session_firmware:
        numbers = [r.message_number for r in panel.requests]
        assert numbers == [(0xFEFE + n) & 0xFFFF for n in range(len(numbers))]


async def test_context_manager_connects_and_disconnects() -> None:
    panel = FakePanel(session_firmware=True)
    async with PanelClient(panel.transport) as client:
        assert client.connected
        assert client.session_id == SESSION_ID
    assert not client.connected
    assert panel.commands()[-1] == Command.DISCONNECT


async def test_late_reply_after_sessionless_timeout_does_not_leak_into_reconnect() -> None:
    panel = FakePanel()
    client = await connect(panel)
    panel.delay = 0.25  # longer than the transport's 0.2 s timeout
    with pytest.raises(TransportTimeout):
        await client.get_params(["LockCount"])
    assert not client.connected
    await asyncio.sleep(0.1)  # the late reply lands on the dead link
    panel.delay = None
    await client.connect()
    assert client.dialect is Dialect.SESSIONLESS
    assert await client.get_params(["AuxInCount"]) == {"AuxInCount": "v-AuxInCount"}

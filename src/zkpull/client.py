"""PanelClient: the one place where the protocol meets I/O.

It owns the read-until-reply loop, the dialect negotiation and the typed commands. It does
not retry or schedule: an error is raised to the caller, who decides (reconnect, back off).
After a ProtocolError or a TransportError other than a session-dialect timeout, the
connection is closed and `connect()` must be called again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from .protocol import bigdata, params, rtlog, tables
from .protocol.codes import ErrorCode
from .protocol.constants import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_DATA,
    DEFAULT_PORT,
    MAX_GET_PARAMS,
    MAX_PASSWORD_LENGTH,
    MAX_SET_PARAMS,
    OUTPUT_CLOSE,
    OUTPUT_HOLD_OPEN,
    Command,
    ControlOperation,
    Dialect,
    OutputType,
    Reply,
)
from .protocol.errors import (
    AuthenticationError,
    ConnectionClosed,
    DeviceError,
    MessageError,
    ProtocolError,
    TransportError,
    TransportTimeout,
)
from .protocol.rtlog import RtEvent, RtRecord
from .protocol.session import Response, Session, SessionState
from .protocol.tables import GetDataRequest, Table, Value
from .protocol.timecodec import decode_time, encode_time
from .transport.base import DEFAULT_TIMEOUT, Transport
from .transport.serial import SerialBus, SerialTransport
from .transport.tcp import TcpTransport

INFO_PARAMS: Final = (
    "~SerialNumber",
    "FirmVer",
    "~DeviceName",
    "LockCount",
    "ReaderCount",
    "AuxInCount",
    "AuxOutCount",
    "DateTime",
)
SET_DATA_BATCH_BYTES: Final = 4000  # keep each SETDATA/DELETEDATA within one firmware packet
_LITTLE: Final[tuple[Literal["little"]]] = ("little",)
TRANSACTION_FIELDS: Final = (
    "Cardno",
    "Pin",
    "Verified",
    "DoorID",
    "EventType",
    "InOutState",
    "Time_second",
)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a panel says about itself (GETPARAM of `INFO_PARAMS`)."""

    serial_number: str
    firmware: str
    device_name: str
    lock_count: int
    reader_count: int
    aux_in_count: int
    aux_out_count: int
    time: datetime | None
    params: Mapping[str, str]


class PanelClient:
    """An asyncio client for one panel. Not safe to share across event loops.

    Concurrent callers are serialised: the panel serves one request at a time. *timeout* is
    in seconds, per read/write; *dialect* None means "try the session dialect, fall back to
    session-less on -13", as the fact sheet recommends.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        password: str = "",
        address: int = DEFAULT_ADDRESS,
        dialect: Dialect | None = None,
        max_data: int = DEFAULT_MAX_DATA,
        verify_bigdata_crc: bool = True,
    ) -> None:
        if len(password) > MAX_PASSWORD_LENGTH or not password.isascii():
            raise ValueError(
                f"comm password must be ASCII, at most {MAX_PASSWORD_LENGTH} characters"
            )
        if not 0 <= address <= 0xFF:
            raise ValueError("address must be 0..255")
        self.transport = transport
        self.password = password
        self.preferred_dialect = dialect
        self.verify_bigdata_crc = verify_bigdata_crc
        self._session = Session(address=address, max_data=max_data)
        self._lock = asyncio.Lock()  # one exchange at a time
        self._transfer_lock = asyncio.Lock()  # one big-data transfer at a time (one panel buffer)
        self._tables: dict[str, Table] | None = None
        self._kv_rtlog = False

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        **options: object,
    ) -> PanelClient:
        """A client for a panel on TCP (panels listen on 4370)."""
        return cls(TcpTransport(host, port, timeout=timeout), **options)  # type: ignore[arg-type]

    @classmethod
    def rs485(
        cls, bus: SerialBus, address: int, *, timeout: float | None = None, **options: object
    ) -> PanelClient:
        """A client for the panel with DeviceID *address* on a shared RS485 bus."""
        return cls(SerialTransport(bus, timeout=timeout), address=address, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<PanelClient {self.transport!r} {self._session.state.value}>"

    async def __aenter__(self) -> PanelClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # -- connection -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._session.state is SessionState.CONNECTED and self.transport.is_open

    @property
    def dialect(self) -> Dialect | None:
        return self._session.dialect if self.connected else None

    @property
    def session_id(self) -> int | None:
        return self._session.session_id

    @property
    def stale_replies(self) -> int:
        """Late replies dropped so far (session dialect, after timeouts)."""
        return self._session.stale_replies

    async def connect(self) -> None:
        """Open the link and log in; raises AuthenticationError on a wrong password."""
        await self.close()
        await self.transport.open()
        dialects = (
            [self.preferred_dialect]
            if self.preferred_dialect
            else [Dialect.SESSION, Dialect.SESSIONLESS]
        )
        for dialect in dialects:
            response = await self._exchange(self._session.connect(dialect, self.password))
            if response.is_ok:
                return
            code = response.error_code
            if code == ErrorCode.WRONG_PASSWORD:
                await self.close()
                raise AuthenticationError(response.command, code)
            if (
                code == ErrorCode.COMMAND_NOT_AVAILABLE
                and dialect is Dialect.SESSION
                and len(dialects) > 1
            ):
                continue  # session-less firmware: fall back on the same socket (§2)
            await self.close()
            raise DeviceError(response.command, code)
        await self.close()  # pragma: no cover - the loop always returns or raises
        raise DeviceError(Command.CONNECT, ErrorCode.UNKNOWN)

    async def disconnect(self) -> None:
        """Say goodbye if connected (best effort), then close the link."""
        if self.connected:
            with contextlib.suppress(TransportError, ProtocolError, DeviceError):
                await self.request(Command.DISCONNECT)  # best effort: we are leaving anyway
        await self.close()

    async def close(self) -> None:
        """Drop the link without a DISCONNECT."""
        self._session.close()
        self._tables = None
        await self.transport.close()

    # -- raw requests -----------------------------------------------------------------------
    async def request(self, command: int, payload: bytes = b"") -> Response:
        """Send one request; return the reply (OK or big-data announce), raise DeviceError on error."""
        response = await self._exchange_request(command, payload)
        if response.is_error and not _is_hidden_success(command, response):
            raise DeviceError(command, response.error_code)
        return response

    # -- parameters ---------------------------------------------------------------------------
    async def get_params(self, names: Iterable[str]) -> dict[str, str]:
        """Read parameters (in chunks of 30 names, the firmware's limit)."""
        wanted = list(dict.fromkeys(names))
        result: dict[str, str] = {}
        for start in range(0, len(wanted), MAX_GET_PARAMS):
            chunk = wanted[start : start + MAX_GET_PARAMS]
            reply = await self.request(Command.GET_DEVICE_PARAM, params.encode_param_names(chunk))
            result.update(params.decode_params(reply.payload))
        return result

    async def set_params(self, values: Mapping[str, object]) -> None:
        """Write parameters (in chunks of 20 pairs, the SDK's limit)."""
        items = list(values.items())
        if not items:
            raise ValueError("nothing to set")
        for start in range(0, len(items), MAX_SET_PARAMS):
            chunk = dict(items[start : start + MAX_SET_PARAMS])
            await self.request(Command.SET_DEVICE_PARAM, params.encode_params(chunk))

    async def get_info(self) -> DeviceInfo:
        """Serial, firmware, model, door/reader/aux counts and the panel clock."""
        values = await self.get_params(INFO_PARAMS)
        return DeviceInfo(
            serial_number=values.get("~SerialNumber", ""),
            firmware=values.get("FirmVer", ""),
            device_name=values.get("~DeviceName", ""),
            lock_count=_int(values.get("LockCount")),
            reader_count=_int(values.get("ReaderCount")),
            aux_in_count=_int(values.get("AuxInCount")),
            aux_out_count=_int(values.get("AuxOutCount")),
            time=_time(values.get("DateTime")),
            params=values,
        )

    async def get_time(self) -> datetime:
        """The panel clock (local wall-clock time, naive)."""
        value = (await self.get_params(["DateTime"])).get("DateTime", "")
        moment = _time(value)
        if moment is None:
            raise MessageError(f"panel sent no usable DateTime: {value!r}")
        return moment

    async def set_time(self, moment: datetime) -> None:
        """Set the panel clock to the wall-clock fields of *moment*."""
        await self.set_params({"DateTime": encode_time(moment)})

    # -- control ------------------------------------------------------------------------------
    async def control_output(self, number: int, kind: OutputType, seconds: int) -> None:
        """Drive a lock or aux relay: 0 closes, 1..254 opens for seconds, 255 holds open."""
        await self.request(Command.CONTROL_DEVICE, params.output_control(number, kind, seconds))

    async def open_door(self, door: int, seconds: int) -> None:
        if not 1 <= seconds <= 254:
            raise ValueError("open a door for 1..254 seconds (255 is hold_door, 0 is close_door)")
        await self.control_output(door, OutputType.DOOR, seconds)

    async def close_door(self, door: int) -> None:
        await self.control_output(door, OutputType.DOOR, OUTPUT_CLOSE)

    async def hold_door(self, door: int) -> None:
        """Keep the door unlocked until closed."""
        await self.control_output(door, OutputType.DOOR, OUTPUT_HOLD_OPEN)

    async def set_aux_output(self, aux: int, seconds: int) -> None:
        await self.control_output(aux, OutputType.AUX, seconds)

    async def cancel_alarm(self, door: int = 0) -> None:
        """Cancel alarms; legacy ZKECO passes the door number, 0 (the SDK's form) means all."""
        payload = params.encode_control(ControlOperation.CANCEL_ALARM, door)
        await self.request(Command.CONTROL_DEVICE, payload)

    async def restart(self) -> None:
        """Reboot the panel; the connection drops soon after the reply."""
        await self.request(Command.CONTROL_DEVICE, params.encode_control(ControlOperation.RESTART))

    async def set_normal_open(self, door: int, enabled: bool) -> None:
        """Enable or disable the door's normal-open (passage) state."""
        payload = params.encode_control(ControlOperation.NORMAL_OPEN, door, int(enabled))
        await self.request(Command.CONTROL_DEVICE, payload)

    # -- real-time log ------------------------------------------------------------------------
    async def get_rtlog(self) -> list[RtRecord]:
        """Pending real-time records; a status record when nothing happened.

        Firmware that answers the binary request with a size that is not whole records (C3-400
        AC Ver 5.4.3) speaks the key/value variant 0x79; the client switches once and stays.
        """
        if self._kv_rtlog:
            return rtlog.decode_rtlog_kv((await self.request(Command.GET_REALTIME_LOG_KV)).payload)
        reply = await self.request(Command.GET_REALTIME_LOG)
        try:
            return rtlog.decode_rtlog(reply.payload)
        except MessageError:
            self._kv_rtlog = True
            return rtlog.decode_rtlog_kv((await self.request(Command.GET_REALTIME_LOG_KV)).payload)

    # -- tables -------------------------------------------------------------------------------
    async def get_tables(self, *, refresh: bool = False) -> dict[str, Table]:
        """The panel's table schemas (cached per connection: field ids differ by firmware)."""
        if self._tables is None or refresh:
            payload = b"".join(
                [chunk async for chunk in self._read_result(Command.GET_TABLE_STRUCT, b"")]
            )
            self._tables = tables.decode_table_struct(payload)
        return self._tables

    async def table(self, name: str) -> Table:
        """One schema by name (case-insensitive); raises KeyError for a table the panel lacks."""
        found = await self.get_tables()
        for table in found.values():
            if table.name.lower() == name.lower():
                return table
        raise KeyError(f"panel has no table {name!r}; it has {sorted(found)}")

    async def iter_table(
        self,
        name: str,
        fields: Iterable[str] | None = None,
        *,
        new_only: bool = False,
        filters: Mapping[str, object] | None = None,
    ) -> AsyncIterator[dict[str, Value]]:
        """Stream the rows of a table, decoded as they arrive (big tables come in chunks).

        *new_only* asks for records after the panel's read pointer (transaction table); the
        pointer moves only when `commit_new_records()` is called, after the rows are safe.
        """
        table = await self.table(name)
        selected = table.select(fields)
        async for batch in self._iter_raw(table, selected, new_only, filters):
            for raw in batch:
                yield tables.decode_row(selected, raw)

    async def _iter_raw(
        self,
        table: Table,
        selected: tuple[tables.Field, ...],
        new_only: bool,
        filters: Mapping[str, object] | None,
    ) -> AsyncIterator[list[tuple[bytes, ...]]]:
        """The raw records of a GETDATA, one list per chunk received."""
        conditions = tuple(
            (
                table.field(key).id,
                tables.encode_value(tables.coerce_value(table.field(key), value))[1:],
            )
            for key, value in (filters or {}).items()
        )
        request = GetDataRequest(table.id, tuple(f.id for f in selected), new_only, conditions)
        decoder = tables.RecordDecoder(request)
        async for chunk in self._read_result(Command.GET_DATA, tables.encode_get_data(request)):
            yield decoder.feed(chunk)
        decoder.finish()

    async def read_table(
        self, name: str, fields: Iterable[str] | None = None, **options: object
    ) -> list[dict[str, Value]]:
        """`iter_table` collected into a list (small tables)."""
        return [row async for row in self.iter_table(name, fields, **options)]  # type: ignore[arg-type]

    async def iter_transactions(self, *, new_only: bool = False) -> AsyncIterator[RtEvent]:
        """Stream the transaction table as typed events (time None for impossible dates)."""
        table = await self.table("transaction")
        selected = table.select(TRANSACTION_FIELDS)
        if any(field.type not in tables.INTEGER_TYPES for field in selected):
            # A firmware that types a field as text: the general path converts it.
            async for row in self.iter_table("transaction", TRANSACTION_FIELDS, new_only=new_only):
                yield _transaction(tuple(int(row[name]) for name in TRANSACTION_FIELDS))
            return
        # The hot path of a full download (100,000 rows): integers straight from the raw
        # values, no per-row dict. Same checks as decode_value: at most 4 bytes each.
        little = _LITTLE * len(selected)
        async for batch in self._iter_raw(table, selected, new_only, None):
            for raw in batch:
                if max(map(len, raw)) > 4:
                    raise MessageError(f"integer field of more than 4 bytes in {raw!r}")
                yield _transaction(tuple(map(int.from_bytes, raw, little)))

    async def commit_new_records(self, name: str = "transaction") -> None:
        """Move the panel's "new records" pointer past what was last downloaded (GET_DATA_OK)."""
        table = await self.table(name)
        await self.request(Command.GET_DATA_OK, bytes((table.id,)))

    async def count(self, name: str) -> int:
        """Number of valid rows in a table."""
        table = await self.table(name)
        return tables.decode_count(
            (await self.request(Command.GET_DATA_COUNT, bytes((table.id,)))).payload
        )

    async def set_data(self, name: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Upsert *rows* (field names case-insensitive; missing fields are written empty/0)."""
        table = await self.table(name)
        if not rows:
            return
        names = {key.lower() for row in rows for key in row}
        fields = tuple(f for f in table.fields if f.name.lower() in names)
        values = [tables.row_values(table, fields, row) for row in rows]
        ids = [f.id for f in fields]
        for batch in _batches(values):
            await self.request(Command.SET_DATA, tables.encode_records(table.id, ids, batch))

    async def delete_data(
        self, name: str, keys: Sequence[Mapping[str, object]] | None = None
    ) -> None:
        """Delete rows matching all fields of any key; None clears the whole table."""
        table = await self.table(name)
        if keys is None:
            await self.request(Command.DELETE_DATA, tables.encode_delete_data(table.id, (), ()))
            return
        if not keys:
            return
        names = list(dict.fromkeys(key.lower() for row in keys for key in row))
        fields = tuple(table.field(n) for n in names)
        values = [tables.row_values(table, fields, row) for row in keys]
        for batch in _batches(values):
            await self.request(
                Command.DELETE_DATA,
                tables.encode_delete_data(table.id, [f.id for f in fields], batch),
            )

    # -- internals ----------------------------------------------------------------------------
    async def _read_result(self, command: Command, payload: bytes) -> AsyncIterator[bytes]:
        """Yield the result of a GETDATA-like request, following the big-data path if announced."""
        async with self._transfer_lock:
            reply = await self.request(command, payload)
            if reply.code != Reply.PREPARE_DATA:
                yield reply.payload
                return
            assembler = bigdata.Assembler(bigdata.decode_announce(reply.payload))
            try:
                while not assembler.done:
                    chunk = await self.request(Command.READ_DATA, assembler.next_request())
                    yield assembler.add(chunk.payload)
            finally:
                if self.connected:
                    await self.request(Command.FREE_DATA)
            if self.verify_bigdata_crc and not assembler.crc_matches():
                raise MessageError(
                    "big-data CRC-32 mismatch (pass verify_bigdata_crc=False if this panel uses another CRC)"
                )

    async def _exchange_request(self, command: int, payload: bytes) -> Response:
        async with self._lock:
            if not self.connected:
                if self._session.state is SessionState.CONNECTED:
                    # Logged in, but the peer closed the link since the last exchange (a
                    # reset, a reboot): a link failure like any other, not a caller's bug.
                    await self.close()
                    raise ConnectionClosed(f"{self.transport!r}: closed by the peer")
                raise RuntimeError("not connected: call connect() first")
            return await self._exchange_locked(self._session.request(command, payload))

    async def _exchange(self, data: bytes) -> Response:
        async with self._lock:
            return await self._exchange_locked(data)

    async def _exchange_locked(self, data: bytes) -> Response:
        session = self._session
        try:
            async with self.transport.exclusive():
                await self.transport.write(data)
                while (reply := session.next_reply()) is None:
                    session.receive(await self.transport.read_exactly(session.needed()))
        except TransportTimeout:
            session.abandon()
            if session.state is SessionState.BROKEN:
                await self.close()
            raise
        except (TransportError, ProtocolError, asyncio.CancelledError):
            # A half-read frame cannot be resumed: the link is unusable.
            await self.close()
            raise
        return reply


def _transaction(row: tuple[int, ...]) -> RtEvent:
    """A transaction row (TRANSACTION_FIELDS order) as a typed event."""
    card, pin, verified, door, event, inout, packed = row
    try:
        when: datetime | None = decode_time(packed)
    except MessageError:
        when = None
    return RtEvent(when, pin, card, door, event, inout, verified, packed)


def _is_hidden_success(command: int, response: Response) -> bool:
    # Legacy firmware answers a successful GET_DATA_OK with an error frame (fact sheet §6.6).
    return command == Command.GET_DATA_OK and response.error_code == 0


def _batches(rows: list[list[Value]]) -> Iterable[list[list[Value]]]:
    batch: list[list[Value]] = []
    size = 0
    for row in rows:
        row_size = sum(len(tables.encode_value(v)) for v in row)
        if batch and size + row_size > SET_DATA_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _time(value: str | None) -> datetime | None:
    if not value or not value.isdigit():
        return None
    try:
        return decode_time(int(value))
    except MessageError:
        return None

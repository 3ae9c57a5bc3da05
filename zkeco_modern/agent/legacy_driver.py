"""LegacyDriverAdapter: the zkpull client seen through the legacy DataCommCenter's eyes.

It speaks in legacy terms: the command grammar of `devcmds` (`DEVICE SET 1 1 5`, ...), the
capability options read on connect, legacy return codes (>= 0 success, negative PullSDK or
app codes). RS485 devices on one COM port share one `SerialBus` (one process per port in the
legacy service; one lock per bus here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Final

from zkpull import (
    AuthenticationError,
    ChecksumError,
    ConnectError,
    ConnectionClosed,
    DeviceError,
    OutputType,
    PanelClient,
    ProtocolError,
    RtEvent,
    RtRecord,
    SerialBus,
    TransportTimeout,
)
from zkpull.client import INFO_PARAMS

from . import grammar
from .deviceconfig import DeviceConfig
from .logs import redact_text
from .ports import Outcome
from .returncodes import DISCONNECTED, UNKNOWN_COMMAND

# What the legacy `check_acpanel_args` reads after every connect (parity §1.3 step 4).
CAPABILITY_PARAMS: Final = (
    *(name for name in INFO_PARAMS if name != "DateTime"),
    "MachineType",
    "~IsOnlyRFMachine",
    "~MaxUserCount",
    "~MaxAttLogCount",
    "~MaxUserFingerCount",
    "~ZKFPVersion",
    "~CardFormatFunOn",
    "~Ext485ReaderFunOn",
    "~RelayStateFunOn",
    "AuxInMonitorFunOn",
    "~DSTF",
)
IDEMPOTENT_OPS: Final = (
    grammar.SetOption,
    grammar.OptionGet,
    grammar.DataUpdate,
    grammar.DataDelete,
    grammar.DataQuery,
    grammar.DataCount,
)
Download = Callable[..., Awaitable[int]]


def return_code_for(exc: BaseException) -> int:
    """The legacy return code for an error (offline codes are -400 < c < -200, as the UI reads)."""
    if isinstance(exc, DeviceError):
        return exc.code
    if isinstance(exc, TransportTimeout):
        return -2  # command has no response
    if isinstance(exc, ConnectError):
        return -307  # connection attempt failed
    if isinstance(exc, ConnectionClosed):
        return -305  # socket error
    if isinstance(exc, ChecksumError):
        return -9
    if isinstance(exc, ProtocolError):
        return -10
    return DISCONNECTED


class LegacyDriverAdapter:
    """One panel's driver. Create with `for_device()`; reuse across reconnects."""

    def __init__(self, config: DeviceConfig, client: PanelClient) -> None:
        self.config = config
        self.client = client

    @classmethod
    def for_device(
        cls, config: DeviceConfig, *, timeout: float, buses: dict[str, SerialBus] | None = None
    ) -> LegacyDriverAdapter:
        """Build the client: TCP from ipaddress/ip_port, RS485 from the shared bus of com_port."""
        if config.is_rs485:
            path, baudrate = config.serial_link
            registry = buses if buses is not None else {}
            bus = registry.get(path)
            if bus is None:
                bus = registry[path] = SerialBus(path, baudrate=baudrate, timeout=timeout)
            client = PanelClient.rs485(bus, config.address, password=config.password)
        else:
            host, port = config.tcp_endpoint
            client = PanelClient.tcp(host, port, timeout=timeout, password=config.password)
        return cls(config, client)

    def describe(self) -> str:
        dialect = self.client.dialect
        return f"{self.client.transport!r}, {dialect.name.lower() if dialect else 'not connected'}"

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def connect(self) -> dict[str, object]:
        """Log in and read the capability options; returns the facts to store on the device."""
        await self.client.connect()
        values = await self.client.get_params(CAPABILITY_PARAMS)
        return {
            "sn": values.get("~SerialNumber", ""),
            "fw_version": values.get("FirmVer", ""),
            "device_name": values.get("~DeviceName", ""),
            "lock_count": _int(values.get("LockCount")),
            "reader_count": _int(values.get("ReaderCount")),
            "aux_in_count": _int(values.get("AuxInCount")),
            "aux_out_count": _int(values.get("AuxOutCount")),
            "max_user_count": _int(values.get("~MaxUserCount")) or None,
            "max_attlog_count": _int(values.get("~MaxAttLogCount")) or None,
            "options": values,
        }

    async def disconnect(self) -> None:
        await self.client.disconnect()

    async def close(self) -> None:
        await self.client.close()

    async def set_time(self, local: datetime) -> None:
        """Legacy time sync: `SET OPTION DateTime=<packed local time>`."""
        await self.client.set_time(local)

    async def get_rtlog(self) -> list[RtRecord]:
        return await self.client.get_rtlog()

    def iter_transactions(self, *, new_only: bool) -> AsyncIterator[RtEvent]:
        return self.client.iter_transactions(new_only=new_only)

    async def commit_new_records(self) -> None:
        await self.client.commit_new_records("transaction")

    def is_idempotent(self, content: str) -> bool:
        """Whether running *content* twice is harmless (never true for door control)."""
        try:
            return isinstance(grammar.parse_command(content), IDEMPOTENT_OPS)
        except grammar.CommandSyntaxError:
            return False

    async def execute(self, content: str, *, download: Download) -> Outcome:
        """Run one legacy command; device refusals become a failed outcome, link errors raise."""
        try:
            operation = grammar.parse_command(content)
        except grammar.CommandSyntaxError as exc:
            return Outcome("failed", UNKNOWN_COMMAND, str(exc))
        try:
            code, text = await self._run(operation, download)
        except AuthenticationError:
            raise
        except DeviceError as exc:
            return Outcome("failed", exc.code, str(exc))
        except (KeyError, ValueError) as exc:  # e.g. a table this panel does not have
            return Outcome("failed", UNKNOWN_COMMAND, str(exc))
        return Outcome("done", code, text)

    async def _run(self, op: grammar.Operation, download: Download) -> tuple[int, str]:
        client = self.client
        match op:
            case grammar.Connect():
                return 0, "connected"
            case grammar.Disconnect():
                await client.disconnect()
                return 0, "disconnected"
            case grammar.DeviceSet(number=number, kind=kind, value=value):
                await client.control_output(number, OutputType(kind), value)
                return 0, ""
            case grammar.ControlNormalOpen(door=door, enable=enable):
                await client.set_normal_open(door, enable)
                return 0, ""
            case grammar.CancelAlarm(door=door):
                await client.cancel_alarm(door)
                return 0, ""
            case grammar.SetOption(values=values):
                await client.set_params(values)
                return 0, ""
            case grammar.OptionGet(names=names):
                found = await client.get_params(names)
                # The reply is stored and shown in the admin: never keep the panel's ComPwd there.
                return 0, redact_text(",".join(f"{k}={v}" for k, v in found.items()))
            case grammar.DataUpdate(table=table, rows=rows):
                await client.set_data(table, rows)
                return len(rows), ""
            case grammar.DataDelete(table=table, rows=rows):
                await client.delete_data(table, rows or None)
                return 0, ""
            case grammar.DataCount(table=table):
                count = await client.count(table)
                return count, str(count)
            case grammar.DataQuery(
                table=table, fields=fields, filters=filters, new_record=new_record
            ):
                if table.lower() == "transaction":
                    # Legacy parsed these downloads into acc_monitor_log: store them the same way.
                    count = await download(new_only=new_record)
                    return count, f"{count} records stored"
                table_rows: list[dict[str, object]] = [
                    dict(row)
                    async for row in client.iter_table(table, fields or None, filters=filters)
                ]
                return len(table_rows), _csv(table_rows)
        raise grammar.CommandSyntaxError(f"unsupported operation {op!r}")  # pragma: no cover


def _csv(rows: list[dict[str, object]]) -> str:
    """Legacy `DATA QUERY` answer: a header line, then one CSV line per record, CRLF."""
    if not rows:
        return ""
    header = ",".join(rows[0])
    lines = [
        ",".join(v.hex() if isinstance(v, bytes) else str(v) for v in row.values()) for row in rows
    ]
    return "\r\n".join([header, *lines])


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0

"""`python -m zkpull`: talk to one panel from a terminal.

    python -m zkpull 192.168.1.201 info
    python -m zkpull 192.168.1.201:4370 --password 1234 --json rtlog --follow
    python -m zkpull --serial /dev/ttyUSB0 --address 2 --baud 38400 door 1 open 5

Exit status: 0 ok, 1 the panel refused (its code and meaning are printed), 2 bad usage,
3 link failure, 4 the panel sent bytes we cannot accept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from .client import PanelClient
from .protocol.codes import describe_event, describe_inout, describe_verify
from .protocol.constants import DEFAULT_PORT, Dialect, OutputType
from .protocol.errors import DeviceError, ProtocolError, TransportError
from .protocol.rtlog import DoorStatus, RtEvent, RtRecord
from .transport.base import DEFAULT_TIMEOUT
from .transport.serial import BAUD_RATES, SerialBus

EXIT_OK, EXIT_DEVICE, EXIT_USAGE, EXIT_LINK, EXIT_PROTOCOL = 0, 1, 2, 3, 4


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    target, rest = _split_target(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    args.target = target
    if (args.target is None) == (args.serial is None):
        parser.error("give either HOST[:PORT] or --serial DEVICE")
    out = Output(sys.stdout, as_json=args.json)
    try:
        return asyncio.run(_run(args, out))
    except KeyboardInterrupt:
        return EXIT_OK
    except DeviceError as exc:
        print(f"error: {exc} [code {exc.code}]", file=sys.stderr)
        return EXIT_DEVICE
    except TransportError as exc:
        print(f"error: link failed: {exc}", file=sys.stderr)
        return EXIT_LINK
    except ProtocolError as exc:
        print(f"error: protocol violation: {exc}", file=sys.stderr)
        return EXIT_PROTOCOL
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _split_target(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str | None, list[str]]:
    """Take HOST[:PORT] (the first positional before COMMAND) out of *argv*.

    argparse cannot mix an optional positional with a subcommand: `HOST --json info` gave
    HOST to COMMAND ("invalid choice"), and `--serial DEV door 1 open 5` gave `door` to HOST.
    """
    takes_value = [
        option
        for action in parser._actions
        if action.nargs != 0
        for option in action.option_strings
    ]
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = "=" not in arg and any(option.startswith(arg) for option in takes_value)
        elif arg in COMMANDS:
            break
        else:
            return arg, argv[:index] + argv[index + 1 :]
    return None, argv


class Output:
    """Prints one value per call, as JSON lines or as readable text."""

    def __init__(self, stream: TextIO, *, as_json: bool) -> None:
        self.stream, self.as_json = stream, as_json

    def emit(self, value: Any, text: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(value, default=str), file=self.stream, flush=True)
        else:
            print(text if text is not None else _text(value), file=self.stream, flush=True)


async def _run(args: argparse.Namespace, out: Output) -> int:
    client = _client(args)
    async with client:
        await COMMANDS[args.command](client, args, out)
    return EXIT_OK


def _client(args: argparse.Namespace) -> PanelClient:
    dialect = {"auto": None, "session": Dialect.SESSION, "sessionless": Dialect.SESSIONLESS}[
        args.dialect
    ]
    options: dict[str, Any] = {"password": args.password, "dialect": dialect}
    if args.serial:
        bus = SerialBus(args.serial, baudrate=args.baud, timeout=args.timeout)
        return PanelClient.rs485(bus, args.address, **options)
    host, _, port = args.target.rpartition(":") if ":" in args.target else (args.target, "", "")
    return PanelClient.tcp(host, int(port or DEFAULT_PORT), timeout=args.timeout, **options)


async def _info(client: PanelClient, _args: argparse.Namespace, out: Output) -> None:
    info = await client.get_info()
    value = {
        "serial": info.serial_number,
        "firmware": info.firmware,
        "device": info.device_name,
        "doors": info.lock_count,
        "readers": info.reader_count,
        "aux_in": info.aux_in_count,
        "aux_out": info.aux_out_count,
        "time": info.time.isoformat(sep=" ") if info.time else None,
        "dialect": client.dialect.name.lower() if client.dialect else None,
    }
    out.emit(value)


async def _params(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    out.emit(await client.get_params(args.names))


async def _set_param(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    values = {}
    for item in args.pairs:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} is not NAME=VALUE")
        values[name] = value
    await client.set_params(values)
    out.emit({"ok": True, "set": values}, "ok")


async def _rtlog(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    while True:
        for record in await client.get_rtlog():
            if args.follow and isinstance(record, DoorStatus) and not args.status:
                continue  # one arrives on every idle poll; only show it when asked
            out.emit(_record(record), _record_text(record))
        if not args.follow:
            return
        await asyncio.sleep(args.interval)


async def _table(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    fields = args.fields.split(",") if args.fields else None
    filters = dict(item.split("=", 1) for item in args.filter or [])
    rows = 0
    async for row in client.iter_table(args.name, fields, new_only=args.new, filters=filters):
        rows += 1
        printable = {k: v.hex() if isinstance(v, bytes) else v for k, v in row.items()}
        out.emit(printable, ",".join(str(v) for v in printable.values()))
    if args.commit:
        await client.commit_new_records(args.name)
    if not out.as_json:
        print(f"# {rows} rows", file=sys.stderr)


async def _tables(client: PanelClient, _args: argparse.Namespace, out: Output) -> None:
    for table in (await client.get_tables()).values():
        fields = {f.name: f"{f.type}{f.id}" for f in table.fields}
        out.emit(
            {"table": table.name, "id": table.id, "fields": fields},
            f"{table.name}={table.id}: " + ", ".join(fields),
        )


async def _count(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    count = await client.count(args.table)
    out.emit({"table": args.table, "count": count}, str(count))


async def _output(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    kind = OutputType.DOOR if args.command == "door" else OutputType.AUX
    if args.action == "open":
        if args.seconds is None:
            raise ValueError("open needs SECONDS (1..254)")
        seconds = args.seconds
        if not 1 <= seconds <= 254:
            raise ValueError("SECONDS must be 1..254 (use hold to keep it open)")
    else:
        seconds = 0 if args.action == "close" else 255
    await client.control_output(args.number, kind, seconds)
    out.emit(
        {"ok": True, args.command: args.number, "action": args.action, "seconds": seconds}, "ok"
    )


async def _normal_open(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    await client.set_normal_open(args.door, args.state == "on")
    out.emit({"ok": True, "door": args.door, "normal_open": args.state == "on"}, "ok")


async def _cancel_alarm(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    await client.cancel_alarm(args.door)
    out.emit({"ok": True, "door": args.door}, "ok")


async def _set_time(client: PanelClient, args: argparse.Namespace, out: Output) -> None:
    if args.time:
        moment = datetime.fromisoformat(args.time)
    elif args.now:
        moment = datetime.now()  # noqa: DTZ005 the panel keeps local wall-clock time
    else:
        raise ValueError("give --now or a time (YYYY-MM-DD HH:MM:SS, panel local time)")
    await client.set_time(moment)
    out.emit({"ok": True, "time": moment.replace(microsecond=0).isoformat(sep=" ")}, "ok")


async def _restart(client: PanelClient, _args: argparse.Namespace, out: Output) -> None:
    await client.restart()
    out.emit({"ok": True}, "ok: panel restarting")
    with contextlib.suppress(TransportError, ProtocolError):
        await client.close()


COMMANDS = {
    "info": _info,
    "params": _params,
    "set-param": _set_param,
    "rtlog": _rtlog,
    "table": _table,
    "tables": _tables,
    "count": _count,
    "door": _output,
    "aux": _output,
    "normal-open": _normal_open,
    "cancel-alarm": _cancel_alarm,
    "set-time": _set_time,
    "restart": _restart,
}


def _record(record: RtRecord) -> dict[str, Any]:
    when = record.time.isoformat(sep=" ") if record.time else None
    if isinstance(record, DoorStatus):
        return {
            "kind": "status",
            "time": when,
            "sensors": list(record.sensors),
            "alarms": list(record.alarms),
        }
    return {
        "kind": "event",
        "time": when,
        "pin": record.pin,
        "card": record.card,
        "door": record.door,
        "event_type": record.event_type,
        "event": describe_event(record.event_type),
        "inout": record.inout,
        "verify": record.verified,
    }


def _record_text(record: RtRecord) -> str:
    if isinstance(record, RtEvent):
        return (
            f"{record.to_legacy_line()}  # {describe_event(record.event_type)}, "
            f"{describe_inout(record.inout)}, {describe_verify(record.verified)}"
        )
    doors = ", ".join(
        f"door {n}: {('no sensor', 'closed', 'open')[s] if s < 3 else s}{' ALARM' if a & 1 else ''}"
        f"{' OPEN-TIMEOUT' if a & 2 else ''}"
        for n, (s, a) in enumerate(zip(record.sensors, record.alarms, strict=True), start=1)
    )
    return f"{record.to_legacy_line()}  # status: {doors}"


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _parser() -> argparse.ArgumentParser:
    # HOST[:PORT] is taken out by _split_target: as an argparse positional it would swallow
    # COMMAND (or COMMAND would swallow it) whenever options sit between the two.
    parser = argparse.ArgumentParser(
        prog="python -m zkpull",
        usage="%(prog)s [options] (HOST[:PORT] | --serial DEVICE) [options] COMMAND ...",
        description="Talk to a ZKTeco C3/inBio panel.",
        epilog=f"HOST[:PORT]: panel address (port {DEFAULT_PORT} unless given)",
    )
    parser.set_defaults(target=None)
    parser.add_argument("--serial", metavar="DEVICE", help="RS485 serial port instead of HOST")
    parser.add_argument(
        "--address", type=int, default=1, help="RS485 device address (DIP switches)"
    )
    parser.add_argument("--baud", type=int, default=38400, choices=sorted(BAUD_RATES.values()))
    parser.add_argument("--password", default="", help="communication password (ComPwd)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per read")
    parser.add_argument("--dialect", choices=("auto", "session", "sessionless"), default="auto")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("info", help="serial, firmware, door/reader/aux counts, clock")
    sub.add_parser("params", help="read parameters").add_argument(
        "names", nargs="+", metavar="NAME"
    )
    sub.add_parser("set-param", help="write parameters").add_argument(
        "pairs", nargs="+", metavar="NAME=VALUE"
    )
    rt = sub.add_parser("rtlog", help="real-time events")
    rt.add_argument("--follow", action="store_true", help="keep polling until interrupted")
    rt.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    rt.add_argument(
        "--status", action="store_true", help="with --follow, also print status records"
    )
    table = sub.add_parser("table", help="read a data table")
    table.add_argument("name")
    table.add_argument(
        "--new", action="store_true", help="only records after the panel's read pointer"
    )
    table.add_argument(
        "--commit", action="store_true", help="then move the read pointer (GET_DATA_OK)"
    )
    table.add_argument("--fields", help="comma-separated field names (default all)")
    table.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="equality filter")
    sub.add_parser("tables", help="list table schemas")
    sub.add_parser("count", help="rows in a table").add_argument("table")
    for name in ("door", "aux"):
        out = sub.add_parser(name, help=f"{name} output: open SECONDS | close | hold")
        out.add_argument("number", type=int)
        out.add_argument("action", choices=("open", "close", "hold"))
        out.add_argument("seconds", type=int, nargs="?")
    no = sub.add_parser("normal-open", help="normal-open (passage) state of a door")
    no.add_argument("door", type=int)
    no.add_argument("state", choices=("on", "off"))
    sub.add_parser("cancel-alarm", help="cancel alarms (door 0 = all)").add_argument(
        "door", type=int, nargs="?", default=0
    )
    st = sub.add_parser("set-time", help="set the panel clock")
    st.add_argument("--now", action="store_true", help="this machine's local time")
    st.add_argument("time", nargs="?", help="YYYY-MM-DD HH:MM:SS")
    sub.add_parser("restart", help="reboot the panel")
    return parser

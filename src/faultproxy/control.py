"""Line-based control channel for proxies running in another process.

One command per line, one reply line each, `ok [...]` or `error <why>`. TARGET is a proxy
index, a comma list (`0,3,7`) or `all`; DIR is `upstream`, `client` or `both` (default):

    latency TARGET SECONDS [DIR]      0 turns it off
    stall TARGET SECONDS [DIR]        hold bytes for SECONDS
    cut TARGET NBYTES|off [DIR]       reset each connection after NBYTES more bytes
    slice TARGET on|off [DIR]         1-byte writes
    blackhole TARGET on|off [DIR]     accept, keep, forward nothing
    reset TARGET                      RST every current connection; replies `ok <count>`
    down TARGET / up TARGET           refuse and reset / listen again
    clear TARGET                      every fault off, listening
    status [TARGET]                   `ok <JSON list>`
    ports                             `ok <JSON list of listening ports>`
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
from typing import Any, Final

from .proxy import Direction, FaultProxy

MAX_LINE: Final = 4096


class ControlError(ValueError):
    """A control line that cannot be carried out."""


def _targets(proxies: list[FaultProxy], spec: str) -> list[FaultProxy]:
    if spec == "all":
        return list(proxies)
    try:
        indexes = [int(part) for part in spec.split(",")]
    except ValueError:
        raise ControlError(f"bad target {spec!r}: index, i,j,... or all") from None
    for i in indexes:
        if not 0 <= i < len(proxies):
            raise ControlError(f"no proxy {i} (have {len(proxies)})")
    return [proxies[i] for i in indexes]


def _direction(args: list[str], at: int) -> Direction:
    if len(args) <= at:
        return Direction.BOTH
    try:
        return Direction(args[at].lower())
    except ValueError:
        raise ControlError(f"bad direction {args[at]!r}: upstream, client or both") from None


def _onoff(word: str) -> bool:
    if word.lower() in {"on", "1", "true"}:
        return True
    if word.lower() in {"off", "0", "false"}:
        return False
    raise ControlError(f"expected on or off, not {word!r}")


def _number(word: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise ControlError(f"not a number: {word!r}") from None
    if value < 0 or not math.isfinite(value):
        raise ControlError(f"must be >= 0: {word!r}")
    return value


async def execute(proxies: list[FaultProxy], line: str) -> str:
    """Carry out one control line; returns the reply (no newline)."""
    words = line.split()
    if not words:
        return "error empty command"
    command, args = words[0].lower(), words[1:]
    try:
        return await _execute(proxies, command, args)
    except ControlError as exc:
        return f"error {exc}"


async def _execute(proxies: list[FaultProxy], command: str, args: list[str]) -> str:
    if command == "ports":
        return "ok " + json.dumps([p.port for p in proxies])
    if command == "status":
        chosen = _targets(proxies, args[0]) if args else proxies
        return "ok " + json.dumps([p.status() for p in chosen], separators=(",", ":"))
    if not args:
        raise ControlError(f"{command}: missing target")
    targets = _targets(proxies, args[0])
    rest = args[1:]
    if command in {"latency", "stall"}:
        if not rest:
            raise ControlError(f"{command}: missing seconds")
        seconds, direction = _number(rest[0]), _direction(rest, 1)
        for p in targets:
            (p.set_latency if command == "latency" else p.stall)(seconds, direction)
        return "ok"
    if command == "cut":
        if not rest:
            raise ControlError("cut: missing byte count")
        nbytes = None if rest[0].lower() == "off" else int(_number(rest[0]))
        direction = _direction(rest, 1)
        for p in targets:
            p.cut_after(nbytes, direction)
        return "ok"
    if command in {"slice", "blackhole"}:
        if not rest:
            raise ControlError(f"{command}: missing on|off")
        on, direction = _onoff(rest[0]), _direction(rest, 1)
        for p in targets:
            (p.set_slice if command == "slice" else p.set_blackhole)(on, direction)
        return "ok"
    if command == "reset":
        return f"ok {sum(p.reset_connections() for p in targets)}"
    if command in {"down", "up"}:
        for p in targets:
            await p.set_down(command == "down")
        return "ok"
    if command == "clear":
        for p in targets:
            await p.clear()
        return "ok"
    raise ControlError(f"unknown command {command!r}")


class ControlServer:
    """Serves the control protocol for a list of proxies (loopback by default)."""

    def __init__(self, proxies: list[FaultProxy]) -> None:
        self.proxies = proxies
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b"error line too long\n")
                    break
                if not raw:
                    break
                reply = await execute(self.proxies, raw.decode("utf-8", "replace"))
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # stopping; re-raised, asyncio's stream server would log it as an error
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class ControlClient:
    """Blocking client of a ControlServer (for test harnesses in another process)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rwb")

    def send(self, line: str) -> str:
        """Send one command; returns the reply without `ok `; raises ControlError on `error`."""
        self._file.write(line.strip().encode() + b"\n")
        self._file.flush()
        reply = self._file.readline().decode().rstrip("\n")
        if not reply:
            raise ConnectionError("control channel closed")
        if reply.startswith("error"):
            raise ControlError(reply[6:])
        return reply[3:]

    def status(self, target: str = "all") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = json.loads(self.send(f"status {target}"))
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

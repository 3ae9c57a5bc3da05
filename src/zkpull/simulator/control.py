"""Line-based control channel (TCP, loopback) for changing a running simulator from outside.

Commands, one per line; every command gets exactly one reply line, `ok [...]` or `error <why>`:

    fault <index|all|i,j,...> <name> [value]   turn a fault on (names: see faults.FAULT_NAMES)
    clear <index|all|i,j,...> [name]           turn one fault, or all, off
    reboot <index|all|i,j,...>                 reboot now (same as `fault ... reboot`)
    generate <index|all|i,j,...> [count]       generate events now; replies `ok <made>`
    status                                     `ok <JSON list, one object per panel>`
    help
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, Final

from .faults import FAULT_NAMES

if TYPE_CHECKING:
    from .panel import FakePanel
    from .server import Simulator

MAX_LINE: Final = 4096


class ControlServer:
    """Serves the control protocol for one Simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._clients:
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def execute(self, line: str) -> str:
        """Run one command line and return the reply line (without newline)."""
        words = line.split()
        if not words:
            return "error empty command"
        command, args = words[0].lower(), words[1:]
        try:
            if command == "status":
                return "ok " + json.dumps(self.simulator.status(), separators=(",", ":"))
            if command == "help":
                return "ok fault|clear|reboot|generate|status; faults: " + ",".join(FAULT_NAMES)
            if command in ("fault", "clear", "reboot", "generate") and not args:
                return f"error {command} needs a panel index or 'all'"
            panels = self._targets(args[0]) if args else []
            if command == "fault" and len(args) >= 2:
                for panel in panels:
                    panel.faults.set(args[1], args[2] if len(args) > 2 else None)
                return "ok"
            if command == "clear":
                for panel in panels:
                    panel.faults.clear(args[1] if len(args) > 1 else None)
                return "ok"
            if command == "reboot":
                for panel in panels:
                    panel.faults.set("reboot")
                return "ok"
            if command == "generate":
                count = int(args[1]) if len(args) > 1 else 1
                made = sum(
                    panel.generate_event() is not None for panel in panels for _ in range(count)
                )
                return f"ok {made}"
        except ValueError as exc:
            return f"error {exc}"
        return f"error unknown or incomplete command {line.strip()!r}"

    def _targets(self, spec: str) -> list[FakePanel]:
        panels = self.simulator.panels
        if spec == "all":
            return list(panels)
        indices = [int(part) for part in spec.split(",")]
        if any(not 0 <= i < len(panels) for i in indices):
            raise ValueError(f"panel index out of range 0..{len(panels) - 1}")
        return [panels[i] for i in indices]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while line := await reader.readline():
                reply = self.execute(line.decode("utf-8", "replace"))
                writer.write(reply.encode("utf-8") + b"\n")
                await writer.drain()
        except (OSError, ValueError):  # reset, or a line beyond MAX_LINE
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

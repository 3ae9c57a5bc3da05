"""An in-memory link to a FakePanel, shaped like zkpull's Transport (open/read/write/close).

Client tests can run the real client against a simulated panel without sockets. Faults behave
as on TCP: `delay` holds a reply back, `drop`/`truncate`/reboot end the link (read gives b"").
"""

from __future__ import annotations

import asyncio

from zkpull.protocol.errors import ConnectionClosed

from .connection import PanelConnection
from .panel import FakePanel


class MemoryLink:
    """One client-side link; each `open()` is a fresh connection to the panel."""

    def __init__(self, panel: FakePanel) -> None:
        self.panel = panel
        self.connection: PanelConnection | None = None
        self._inbox = bytearray()
        self._eof = False
        self._ready = asyncio.Event()

    async def open(self) -> None:
        if self.panel.faults.refuse:
            raise ConnectionRefusedError(f"panel {self.panel.serial} refuses connections")
        self.connection = self.panel.connection()
        self.connection.on_close = self._hang_up
        self._inbox.clear()
        self._eof = False

    async def write(self, data: bytes) -> None:
        connection = self.connection
        if connection is None or self._eof:
            raise ConnectionClosed("the simulated panel closed the link")
        reply = connection.receive(data)
        closing = connection.closed
        if closing:
            connection.release()
        delay = self.panel.faults.delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._deliver, reply, closing)
        else:
            self._deliver(reply, closing)

    async def read(self, max_bytes: int) -> bytes:
        """Up to *max_bytes* of reply; b"" once the panel has closed the link."""
        while not self._inbox and not self._eof:
            self._ready.clear()
            await self._ready.wait()
        chunk = bytes(self._inbox[:max_bytes])
        del self._inbox[:max_bytes]
        return chunk

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.eof()
            self.connection = None
        self._hang_up()

    def _deliver(self, reply: bytes, closing: bool) -> None:
        self._inbox += reply
        if closing:
            self._eof = True
        self._ready.set()

    def _hang_up(self) -> None:
        self._eof = True
        self._ready.set()

    def __repr__(self) -> str:
        return f"<MemoryLink {self.panel.serial}>"

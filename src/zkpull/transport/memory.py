"""In-memory transports for tests and for running the simulator without sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager

from zkpull.protocol.errors import ConnectionClosed, TransportTimeout

from .base import no_lock

Responder = Callable[[bytes], bytes | Awaitable[bytes]]


class MemoryTransport:
    """Each write is handed to *responder* (e.g. a simulated panel); what it returns is read back.

    An empty answer means "no reply": a read then times out after *timeout* seconds, as a
    silent panel would make it.
    """

    def __init__(self, responder: Responder, *, timeout: float = 0.5) -> None:
        self._responder = responder
        self.timeout = timeout
        self._buffer = bytearray()
        self._data = asyncio.Event()
        self._open = False
        self.written: list[bytes] = []

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        if not self._open:
            self._buffer.clear()  # a new link: nothing left over from the previous one
        self._open = True

    async def write(self, data: bytes) -> None:
        if not self._open:
            raise ConnectionClosed("memory transport is closed")
        self.written.append(data)
        answer = self._responder(data)
        if not isinstance(answer, bytes):
            answer = await answer
        self.feed(answer)

    def feed(self, data: bytes) -> None:
        """Make *data* readable (tests use it to inject bytes)."""
        if data:
            self._buffer += data
            self._data.set()

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._open:
                raise ConnectionClosed("memory transport is closed")
            self._data.clear()
            try:
                async with asyncio.timeout(self.timeout):
                    await self._data.wait()
            except TimeoutError as exc:
                raise TransportTimeout(f"no data within {self.timeout}s") from exc
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    async def close(self) -> None:
        self._open = False
        self._buffer.clear()
        self._data.set()

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return no_lock()


class ScriptedTransport(MemoryTransport):
    """Answers the n-th write with the n-th scripted reply (httpcore's `MockStream` idea)."""

    def __init__(self, replies: Iterable[bytes], *, timeout: float = 0.2) -> None:
        self._script = list(replies)
        super().__init__(self._next, timeout=timeout)

    def _next(self, _data: bytes) -> bytes:
        if not self._script:
            return b""
        return self._script.pop(0)

"""TCP transport over asyncio streams (panels listen on port 4370)."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from zkpull.protocol.constants import DEFAULT_PORT
from zkpull.protocol.errors import ConnectError, ConnectionClosed, TransportTimeout

from .base import DEFAULT_TIMEOUT, no_lock


class TcpTransport:
    """One TCP connection to one panel; *timeout* bounds connect, each read and each write."""

    def __init__(
        self, host: str, port: int = DEFAULT_PORT, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def __repr__(self) -> str:
        return f"<TcpTransport {self.host}:{self.port}>"

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        if self.is_open:
            return
        try:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as exc:
            raise ConnectError(f"{self}: no connection within {self.timeout}s") from exc
        except OSError as exc:
            raise ConnectError(f"{self}: {exc.strerror or exc}") from exc

    async def read_exactly(self, size: int) -> bytes:
        reader = self._require_reader()
        try:
            async with asyncio.timeout(self.timeout):
                return await reader.readexactly(size)
        except TimeoutError as exc:
            raise TransportTimeout(f"{self}: no data within {self.timeout}s") from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectionClosed(
                f"{self}: closed after {len(exc.partial)} of {size} bytes"
            ) from exc
        except OSError as exc:
            raise ConnectionClosed(f"{self}: {exc}") from exc

    async def write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionClosed(f"{self}: not open")
        try:
            self._writer.write(data)
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise TransportTimeout(f"{self}: write stalled for {self.timeout}s") from exc
        except OSError as exc:
            raise ConnectionClosed(f"{self}: {exc}") from exc

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            pass  # the socket is gone either way

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return no_lock()

    def _require_reader(self) -> asyncio.StreamReader:
        if self._reader is None:
            raise ConnectionClosed(f"{self}: not open")
        return self._reader

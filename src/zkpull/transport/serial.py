"""RS485: one serial bus, several panels behind it, one exchange on the wire at a time.

A `SerialBus` owns the port and a lock; each panel gets a `SerialTransport(bus, ...)` view.
Frames carry the panel's address (its DIP-switch DeviceID), so the client's session sets the
address byte; the bus only guarantees that request and reply are not interleaved with another
panel's. After a timeout or a bad frame the bus waits for the line to go quiet and discards
what arrived, so one panel's garbage cannot be read as the next panel's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Final

import serial
import serial_asyncio_fast

from zkpull.protocol.errors import ConnectError, ConnectionClosed, TransportTimeout

from .base import DEFAULT_TIMEOUT

# Legacy `iclock.baudrate` index -> bits per second (parity doc §2.1); 38400 is the default.
BAUD_RATES: Final = {0: 9600, 1: 19200, 2: 38400, 3: 57600, 4: 115200}
DEFAULT_BAUDRATE: Final = 38400
_QUIET_TIME = 0.05  # seconds of silence that mark the end of a garbled reply


def baudrate_from_index(index: int) -> int:
    """Map the legacy baud-rate index (0..4) to a rate; raises ValueError otherwise."""
    try:
        return BAUD_RATES[index]
    except KeyError:
        raise ValueError(
            f"baud-rate index must be one of {sorted(BAUD_RATES)}, got {index}"
        ) from None


class SerialBus:
    """One serial port shared by the panels on it; opened while any transport uses it."""

    def __init__(
        self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if baudrate not in BAUD_RATES.values():
            raise ValueError(
                f"unsupported baud rate {baudrate}; panels use {sorted(BAUD_RATES.values())}"
            )
        self.port, self.baudrate, self.timeout = port, baudrate, timeout
        self.lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()  # concurrent first users must not open the port twice
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._users = 0
        self._dirty = False

    def __repr__(self) -> str:
        return f"<SerialBus {self.port} @{self.baudrate}>"

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def acquire(self) -> None:
        """Open the port for one more user."""
        async with self._open_lock:
            if not self.is_open:
                try:
                    self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                        url=self.port, baudrate=self.baudrate
                    )
                except (serial.SerialException, OSError, ValueError) as exc:
                    raise ConnectError(f"{self}: {exc}") from exc
            self._users += 1

    async def release(self) -> None:
        """One user is done; the port closes with the last one."""
        async with self._open_lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                await self._close()

    @contextlib.asynccontextmanager
    async def exchange(self) -> AsyncIterator[None]:
        """Hold the bus for one request/reply; clean up after a failed one."""
        async with self.lock:
            if self._dirty:
                await self._drain_line()
            try:
                yield
            except BaseException:
                self._dirty = True
                raise

    async def read_exactly(self, size: int, timeout: float) -> bytes:
        if self._reader is None:
            raise ConnectionClosed(f"{self}: not open")
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.readexactly(size)
        except TimeoutError as exc:
            raise TransportTimeout(f"{self}: no data within {timeout}s") from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectionClosed(f"{self}: port closed") from exc
        except (serial.SerialException, OSError) as exc:
            raise ConnectionClosed(f"{self}: {exc}") from exc

    async def write(self, data: bytes, timeout: float) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionClosed(f"{self}: not open")
        try:
            self._writer.write(data)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise TransportTimeout(f"{self}: write stalled for {timeout}s") from exc
        except (serial.SerialException, OSError) as exc:
            raise ConnectionClosed(f"{self}: {exc}") from exc

    async def _drain_line(self) -> None:
        reader = self._reader
        self._dirty = False
        if reader is None:
            return
        with contextlib.suppress(TimeoutError, OSError, serial.SerialException):
            while True:
                async with asyncio.timeout(_QUIET_TIME):
                    if not await reader.read(4096):
                        return

    async def _close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, serial.SerialException):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


class SerialTransport:
    """The view of a `SerialBus` one panel's client uses."""

    def __init__(self, bus: SerialBus, *, timeout: float | None = None) -> None:
        self.bus = bus
        self.timeout = bus.timeout if timeout is None else timeout
        self._open = False

    def __repr__(self) -> str:
        return f"<SerialTransport {self.bus.port}>"

    @property
    def is_open(self) -> bool:
        return self._open and self.bus.is_open

    async def open(self) -> None:
        if not self._open:
            await self.bus.acquire()
            self._open = True

    async def read_exactly(self, size: int) -> bytes:
        return await self.bus.read_exactly(size, self.timeout)

    async def write(self, data: bytes) -> None:
        await self.bus.write(data, self.timeout)

    async def close(self) -> None:
        if self._open:
            self._open = False
            await self.bus.release()

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return self.bus.exchange()

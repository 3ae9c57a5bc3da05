"""TCP transport on an asyncio Protocol (panels listen on port 4370).

Not on StreamReader/StreamWriter: a real-time poll is one small request and one small reply,
and at thousands of panels per process the streams' per-call costs (a timeout context per
read and per drain, two reads per reply) were most of the client's CPU per poll. Here a read
that the buffer can satisfy returns without suspending, a write whose bytes the kernel took
does not wait, and a read that must wait arms one timer.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Final

from zkpull.protocol.constants import DEFAULT_PORT
from zkpull.protocol.errors import ConnectError, ConnectionClosed, TransportTimeout

from .base import DEFAULT_TIMEOUT, no_lock

READ_LIMIT: Final = 256 * 1024  # stop reading from the socket while this much is unread


class _Link(asyncio.Protocol):
    """Buffers what the socket delivers; wakes one waiting reader or writer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.paused_reading = False
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for bytes
        self.deadline = 0.0  # loop time by which the waiting read must have its bytes
        self.timer: asyncio.TimerHandle | None = None  # see `arm_timeout`
        self.drain: asyncio.Future[None] | None = None  # a write waiting for buffer space
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 create_connection gives one
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self.paused_reading = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return True  # half-close, as StreamReaderProtocol: what we still send may matter

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        self._wake_writer()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self.drain is None:
            self.drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        if self.paused_reading and len(self.buffer) <= READ_LIMIT and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()
        return data

    def arm_timeout(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make the waiting read fail at *deadline* (loop time).

        One timer serves many reads: it is re-armed only when it fires early, and left to
        lapse when no read is waiting. A timer per read (armed, then cancelled a millisecond
        later) was a tenth of the agent's CPU at 1,000 panels: its creation, the heap
        pushes and pops of the cancelled ones.
        """
        self.deadline = deadline
        timer = self.timer
        if timer is not None and timer.when() <= deadline:
            return
        if timer is not None:  # the timeout was shortened meanwhile
            timer.cancel()
        self.timer = loop.call_at(deadline, self._check_timeout, loop)

    def disarm(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.cancel()

    def _check_timeout(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # no read waiting: the next one arms a new timer
        if loop.time() >= self.deadline:
            waiter.set_exception(TimeoutError())
        else:
            self.timer = loop.call_at(self.deadline, self._check_timeout, loop)

    def _wake_reader(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)


class TcpTransport:
    """One TCP connection to one panel; *timeout* bounds connect, each read and each write."""

    def __init__(
        self, host: str, port: int = DEFAULT_PORT, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host, self.port, self.timeout = host, port, timeout
        self._link: _Link | None = None
        # The loop of open(): asyncio.get_running_loop() makes a getpid() system call on
        # Python 3.11, once per waiting read otherwise.
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<TcpTransport {self.host}:{self.port}>"

    @property
    def is_open(self) -> bool:
        link = self._link
        return link is not None and link.transport is not None and not link.transport.is_closing()

    async def open(self) -> None:
        if self.is_open:
            return
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, link = await loop.create_connection(_Link, self.host, self.port)
        except TimeoutError as exc:
            raise ConnectError(f"{self}: no connection within {self.timeout}s") from exc
        except OSError as exc:
            raise ConnectError(f"{self}: {exc.strerror or exc}") from exc
        self._link, self._loop = link, loop

    async def read_exactly(self, size: int) -> bytes:
        link = self._link
        if link is None:
            raise ConnectionClosed(f"{self}: not open")
        buffer = link.buffer
        if len(buffer) >= size:  # the common case for all but the first read of a reply
            return link.take(size)
        loop = self._loop or asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while len(buffer) < size:
            if link.error is not None:
                raise ConnectionClosed(f"{self}: {link.error}") from link.error
            if link.eof:
                partial = bytes(buffer)
                raise ConnectionClosed(
                    f"{self}: closed after {len(partial)} of {size} bytes"
                ) from asyncio.IncompleteReadError(partial, size)
            waiter = link.waiter = loop.create_future()
            link.arm_timeout(loop, deadline)
            try:
                await waiter
            except TimeoutError as exc:
                raise TransportTimeout(f"{self}: no data within {self.timeout}s") from exc
            finally:
                link.waiter = None
        return link.take(size)

    async def write(self, data: bytes) -> None:
        link = self._link
        if link is None or link.transport is None or link.transport.is_closing():
            raise ConnectionClosed(f"{self}: not open")
        link.transport.write(data)
        drain = link.drain
        if drain is not None:  # the kernel's buffer is full: wait until it takes more
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.shield(drain)
            except TimeoutError as exc:
                raise TransportTimeout(f"{self}: write stalled for {self.timeout}s") from exc
        if link.error is not None:
            raise ConnectionClosed(f"{self}: {link.error}") from link.error

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is None or link.transport is None:
            return
        link.disarm()
        link.transport.close()
        try:
            async with asyncio.timeout(1.0):
                await asyncio.shield(link.closed)
        except (OSError, TimeoutError):
            pass  # the socket is gone either way

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return no_lock()

"""One listener -> one upstream TCP proxy whose faults can be switched while it runs.

Faults, per direction where that means something (``upstream`` = client to server,
``client`` = server to client, ``both``):

- latency: every forwarded chunk waits this many seconds first;
- stall: bytes are held (not lost) for N seconds, connections stay open;
- cut: each connection is reset once it has forwarded N more bytes in that direction;
- slice: bytes are written one at a time (one TCP segment each, TCP_NODELAY);
- blackhole: connections are accepted and kept, but nothing is forwarded (bytes are
  dropped); a connection that lost bytes is reset when the blackhole ends, because its
  stream is no longer intact;
- reset: an action, not a state: every current connection gets an RST (SO_LINGER 0);
- down: the listener is closed (new connections are refused) and current connections are
  reset, so an outage of a real PostgreSQL or Redis behind the proxy is a real outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

CHUNK: Final = 65536
CONNECT_TIMEOUT: Final = 5.0
# How often a held (stalled/blackholed) pump looks again: short enough to react quickly.
_POLL: Final = 0.02


class Direction(enum.Enum):
    """Which way the bytes flow."""

    UPSTREAM = "upstream"  # client -> server
    CLIENT = "client"  # server -> client
    BOTH = "both"

    def members(self) -> tuple[Direction, ...]:
        """The concrete directions this value stands for."""
        if self is Direction.BOTH:
            return (Direction.UPSTREAM, Direction.CLIENT)
        return (self,)


@dataclass
class DirectionFaults:
    """The faults in force for one direction."""

    latency: float = 0.0
    stall_until: float = 0.0  # time.monotonic() deadline
    cut_after: int | None = None
    slice: bool = False
    blackhole: bool = False

    def active(self) -> dict[str, Any]:
        """The faults switched on, for status replies."""
        out: dict[str, Any] = {}
        if self.latency:
            out["latency"] = self.latency
        remaining = self.stall_until - time.monotonic()
        if remaining > 0:
            out["stall"] = round(remaining, 3)
        if self.cut_after is not None:
            out["cut"] = self.cut_after
        if self.slice:
            out["slice"] = True
        if self.blackhole:
            out["blackhole"] = True
        return out


@dataclass
class ProxyStats:
    """Counters since start (bytes are those actually forwarded)."""

    connections_total: int = 0
    connections_active: int = 0
    connections_failed: int = 0  # upstream could not be reached
    bytes_upstream: int = 0
    bytes_client: int = 0
    bytes_dropped: int = 0
    resets: int = 0  # connections ended with an RST by a fault
    cuts: int = 0  # of which by cut-after-N
    faults_set: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN: SO_LINGER on, timeout 0."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    # abort() drops buffered bytes and closes now; with linger 0 the kernel sends RST.
    transport.abort()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Connection:
    """One proxied client connection and its upstream twin."""

    def __init__(
        self,
        proxy: FaultProxy,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.client_reader = client_reader
        self.client_writer = client_writer
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.budget: dict[Direction, int | None] = {
            d: proxy.faults[d].cut_after for d in Direction.BOTH.members()
        }
        self.tainted = False  # lost bytes in a blackhole
        self.closed = False

    def reset(self) -> None:
        """End both sides with an RST."""
        if self.closed:
            return
        self.closed = True
        _rst(self.client_writer)
        if self.upstream_writer is not None:
            _rst(self.upstream_writer)
        for task in self.tasks:
            task.cancel()

    def close(self) -> None:
        """End both sides with a FIN (the peer closed its side)."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def run(self) -> None:
        proxy = self.proxy
        # Until the upstream is connected, a blackhole holds the client: nothing goes on.
        while proxy.faults[Direction.UPSTREAM].blackhole and not self.closed:
            await self._drain_into_void(self.client_reader)
        if self.closed:
            return
        if self.tainted:
            proxy.stats.resets += 1
            self.reset()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(proxy.upstream_host, proxy.upstream_port),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError):
            proxy.stats.connections_failed += 1
            self.reset()
            return
        self.upstream_writer = up_writer
        _nodelay(up_writer)
        _nodelay(self.client_writer)
        self.tasks = [
            asyncio.create_task(self._pump(self.client_reader, up_writer, Direction.UPSTREAM)),
            asyncio.create_task(self._pump(up_reader, self.client_writer, Direction.CLIENT)),
        ]
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.close()

    async def _drain_into_void(self, reader: asyncio.StreamReader) -> None:
        """Read and drop bytes for a short while (blackhole before the upstream exists)."""
        try:
            data = await asyncio.wait_for(reader.read(CHUNK), _POLL * 5)
        except TimeoutError:
            return
        if not data:
            self.close()
            return
        self.proxy.stats.bytes_dropped += len(data)
        self.tainted = True

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: Direction
    ) -> None:
        proxy = self.proxy
        faults = proxy.faults[direction]
        try:
            while not self.closed:
                data = await reader.read(CHUNK)
                if not data:
                    # Half-close: pass the FIN on, the other pump ends when its side does.
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                await self._wait_stall(faults)
                if faults.blackhole:
                    proxy.stats.bytes_dropped += len(data)
                    self.tainted = True
                    continue
                if faults.latency > 0:
                    await asyncio.sleep(faults.latency)
                budget = self.budget[direction]
                cut = False
                if budget is not None and len(data) >= budget:
                    data, cut = data[:budget], True
                if budget is not None:
                    self.budget[direction] = budget - len(data)
                await self._write(writer, data, direction, faults.slice)
                if cut:
                    proxy.stats.cuts += 1
                    proxy.stats.resets += 1
                    self.reset()
                    return
        except (ConnectionError, OSError):
            self.reset()
        finally:
            if not self.closed and direction is Direction.CLIENT:
                self.close()

    @staticmethod
    async def _wait_stall(faults: DirectionFaults) -> None:
        # Polled, not an Event: a stall may be extended or ended while we wait.
        while (left := faults.stall_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(_POLL, left))

    async def _write(
        self, writer: asyncio.StreamWriter, data: bytes, direction: Direction, one_by_one: bool
    ) -> None:
        counter = "bytes_upstream" if direction is Direction.UPSTREAM else "bytes_client"
        if not data:
            return
        if one_by_one:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
                setattr(self.proxy.stats, counter, getattr(self.proxy.stats, counter) + 1)
                # Let the kernel send it as its own segment before the next byte.
                await asyncio.sleep(0)
            return
        writer.write(data)
        await writer.drain()
        setattr(self.proxy.stats, counter, getattr(self.proxy.stats, counter) + len(data))


class FaultProxy:
    """TCP proxy with run-time switchable faults. Use inside one asyncio event loop."""

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        upstream_host: str,
        upstream_port: int,
        *,
        name: str = "",
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.name = name or f"{upstream_host}:{upstream_port}"
        self.faults: dict[Direction, DirectionFaults] = {
            d: DirectionFaults() for d in Direction.BOTH.members()
        }
        self.stats = ProxyStats()
        self.down = False
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = listen_port

    @property
    def port(self) -> int:
        """The bound listening port (useful with listen_port 0)."""
        return self._port

    async def start(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        """Close the listener and every connection."""
        await self._unlisten()
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self._port, reuse_address=True
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _unlisten(self, *, reset: bool = False) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # stops listening now: new connections are refused
        if reset:
            self._reset_all()
        # Since 3.12 wait_closed() also waits for the accepted connections; bounded.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            _rst(writer)
            return
        self.stats.connections_total += 1
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        self.stats.connections_active = len(self._connections)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.run()
        except asyncio.CancelledError:
            # Not re-raised: asyncio's stream server logs a cancelled client task as an error.
            conn.reset()
        finally:
            self._connections.discard(conn)
            self.stats.connections_active = len(self._connections)
            if task is not None:
                self._tasks.discard(task)

    # -- faults ------------------------------------------------------------------------

    def _count(self, kind: str) -> None:
        self.stats.faults_set[kind] = self.stats.faults_set.get(kind, 0) + 1

    def set_latency(self, seconds: float, direction: Direction = Direction.BOTH) -> None:
        """Delay every chunk by `seconds` (0 turns it off)."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        for d in direction.members():
            self.faults[d].latency = seconds
        if seconds:
            self._count("latency")

    def stall(self, seconds: float, direction: Direction = Direction.BOTH) -> None:
        """Hold bytes for `seconds`, keeping the connections (0 ends a stall)."""
        if seconds < 0:
            raise ValueError("stall must be >= 0")
        until = time.monotonic() + seconds if seconds else 0.0
        for d in direction.members():
            self.faults[d].stall_until = until
        if seconds:
            self._count("stall")

    def cut_after(self, nbytes: int | None, direction: Direction = Direction.BOTH) -> None:
        """Reset each connection once it forwarded `nbytes` more bytes (None turns it off)."""
        if nbytes is not None and nbytes < 0:
            raise ValueError("cut must be >= 0")
        for d in direction.members():
            self.faults[d].cut_after = nbytes
            for conn in self._connections:
                conn.budget[d] = nbytes
        if nbytes is not None:
            self._count("cut")

    def set_slice(self, on: bool, direction: Direction = Direction.BOTH) -> None:
        """Write bytes one at a time."""
        for d in direction.members():
            self.faults[d].slice = on
        if on:
            self._count("slice")

    def set_blackhole(self, on: bool, direction: Direction = Direction.BOTH) -> None:
        """Drop every byte but keep connections; when it ends, reset the damaged ones."""
        for d in direction.members():
            self.faults[d].blackhole = on
        if on:
            self._count("blackhole")
            return
        if not any(f.blackhole for f in self.faults.values()):
            for conn in list(self._connections):
                if conn.tainted:
                    self.stats.resets += 1
                    conn.reset()

    def reset_connections(self) -> int:
        """RST every current connection; returns how many."""
        self._count("reset")
        return self._reset_all()

    def _reset_all(self) -> int:
        conns = [c for c in self._connections if not c.closed]
        for conn in conns:
            conn.reset()
        self.stats.resets += len(conns)
        return len(conns)

    async def set_down(self, down: bool) -> None:
        """Down: refuse new connections (listener closed) and reset the current ones."""
        if down == self.down:
            return
        self.down = down
        if down:
            self._count("down")
            await self._unlisten(reset=True)
        else:
            await self._listen()

    async def clear(self) -> None:
        """Turn every fault off (and come back up)."""
        for d in Direction.BOTH.members():
            self.faults[d].latency = 0.0
            self.faults[d].stall_until = 0.0
            self.faults[d].slice = False
            self.cut_after(None, d)
        self.set_blackhole(False)
        await self.set_down(False)

    def status(self) -> dict[str, Any]:
        """Faults in force and counters, JSON-ready."""
        return {
            "name": self.name,
            "port": self._port,
            "upstream": f"{self.upstream_host}:{self.upstream_port}",
            "down": self.down,
            "faults": {d.value: self.faults[d].active() for d in Direction.BOTH.members()},
            "stats": self.stats.as_dict(),
        }

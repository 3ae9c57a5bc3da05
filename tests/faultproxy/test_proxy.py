"""FaultProxy with real sockets: every fault, observed from both ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from faultproxy import Direction, FaultProxy


class Upstream:
    """An echo server that records every read it gets and every connection it accepts."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while data := await reader.read(65536):
                self.reads.append(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    @property
    def received(self) -> bytes:
        return b"".join(self.reads)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(upstream: Upstream) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", 0, "127.0.0.1", upstream.port) as p:
        yield p


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def roundtrip(proxy: FaultProxy, payload: bytes) -> bytes:
    reader, writer = await connect(proxy)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    writer.close()
    return data


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_passthrough_and_counters(proxy: FaultProxy, upstream: Upstream) -> None:
    assert await roundtrip(proxy, b"hello world") == b"hello world"
    await until(lambda: proxy.stats.bytes_client == 11)
    assert proxy.stats.bytes_upstream == 11
    assert proxy.stats.connections_total == 1
    assert upstream.accepted == 1


async def test_latency_delays_every_chunk(proxy: FaultProxy) -> None:
    proxy.set_latency(0.3)
    started = time.monotonic()
    assert await roundtrip(proxy, b"x") == b"x"
    # Both directions delayed: at least two latencies for one round trip.
    assert time.monotonic() - started >= 0.6
    assert proxy.status()["faults"]["upstream"] == {"latency": 0.3}


async def test_latency_one_direction_only(proxy: FaultProxy) -> None:
    proxy.set_latency(0.4, Direction.CLIENT)
    assert proxy.faults[Direction.UPSTREAM].latency == 0
    started = time.monotonic()
    assert await roundtrip(proxy, b"x") == b"x"
    assert time.monotonic() - started >= 0.4


async def test_stall_holds_bytes_without_losing_them(proxy: FaultProxy, upstream: Upstream) -> None:
    reader, writer = await connect(proxy)
    proxy.stall(1.5, Direction.UPSTREAM)
    writer.write(b"held")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    assert upstream.received == b""
    assert proxy.stats.connections_active == 1  # connection kept
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"held"
    writer.close()


async def test_stall_ended_early(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.stall(60)
    writer.write(b"a")
    await writer.drain()
    await asyncio.sleep(0.2)
    proxy.stall(0)
    assert await asyncio.wait_for(reader.readexactly(1), 10) == b"a"
    writer.close()


async def test_reset_sends_rst_to_current_connections(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    assert proxy.reset_connections() == 1
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 10)
    writer.close()
    assert proxy.stats.resets == 1
    # New connections are fine.
    assert await roundtrip(proxy, b"again") == b"again"


async def test_cut_after_n_bytes(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.cut_after(5, Direction.UPSTREAM)
    reader, writer = await connect(proxy)
    writer.write(b"0123456789")
    await writer.drain()
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(10), 10)
    writer.close()
    await until(lambda: upstream.received == b"01234")
    assert proxy.stats.cuts == 1
    # Still in force for new connections until cleared.
    await proxy.clear()
    assert await roundtrip(proxy, b"0123456789") == b"0123456789"


async def test_cut_counts_bytes_across_chunks(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.cut_after(6, Direction.UPSTREAM)
    reader, writer = await connect(proxy)
    writer.write(b"abcd")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"abcd"
    writer.write(b"efgh")
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(4), 10)
    await until(lambda: upstream.received == b"abcdef")
    writer.close()


async def test_slice_writes_one_byte_at_a_time(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.set_slice(True, Direction.UPSTREAM)
    payload = bytes(range(200))
    assert await roundtrip(proxy, payload) == payload
    # One write per byte: the upstream sees many small reads, never the whole block at once.
    assert len(upstream.reads) >= 10
    assert max(len(r) for r in upstream.reads) < len(payload)


async def test_blackhole_keeps_connection_forwards_nothing(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"first")
    assert await asyncio.wait_for(reader.readexactly(5), 10) == b"first"
    proxy.set_blackhole(True)
    writer.write(b"lost")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(10), 0.5)
    assert upstream.received == b"first"
    assert proxy.stats.connections_active == 1
    await until(lambda: proxy.stats.bytes_dropped == 4)
    # The stream lost bytes: when the blackhole ends, that connection is reset.
    proxy.set_blackhole(False)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 10)
    writer.close()
    assert await roundtrip(proxy, b"fresh") == b"fresh"


async def test_blackhole_new_connections_never_reach_upstream(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.set_blackhole(True)
    reader, writer = await connect(proxy)  # accepted by the proxy
    writer.write(b"hello?")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(10), 0.5)
    assert upstream.accepted == 0
    proxy.set_blackhole(False)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 10)
    writer.close()


async def test_down_refuses_and_resets_then_comes_back(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(1), 10) == b"x"
    port = proxy.port
    await proxy.set_down(True)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 10)
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)
    await proxy.set_down(False)
    assert proxy.port == port
    assert await roundtrip(proxy, b"back") == b"back"
    assert proxy.stats.faults_set == {"down": 1}


async def test_unreachable_upstream_counts_failure() -> None:
    dead = Upstream()
    await dead.start()
    port = dead.port
    await dead.stop()
    assert dead.server is not None
    await dead.server.wait_closed()
    async with FaultProxy("127.0.0.1", 0, "127.0.0.1", port) as p:
        reader, writer = await connect(p)
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 10)
        writer.close()
        assert p.stats.connections_failed == 1


async def test_clear_turns_everything_off(proxy: FaultProxy) -> None:
    proxy.set_latency(1)
    proxy.stall(30)
    proxy.set_slice(True)
    proxy.cut_after(0)
    proxy.set_blackhole(True)
    await proxy.set_down(True)
    await proxy.clear()
    assert proxy.status()["faults"] == {"upstream": {}, "client": {}}
    assert not proxy.down
    assert await roundtrip(proxy, b"ok") == b"ok"


async def test_bad_values_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="latency"):
        proxy.set_latency(-1)
    with pytest.raises(ValueError, match="stall"):
        proxy.stall(-1)
    with pytest.raises(ValueError, match="cut"):
        proxy.cut_after(-1)

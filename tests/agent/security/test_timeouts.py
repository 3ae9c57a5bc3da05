"""Every socket operation has a timeout, every buffer a bound, every listener binds loopback.

Each test puts a real peer on the other end that misbehaves on purpose: accepts and never
answers, announces a frame longer than allowed, or connects and never sends. The bounds are
generous (a loaded 2-core machine); what matters is a typed error instead of a hang.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator

import psycopg
import pytest

from agent import conf
from agent.backends import BackendUnavailable, build_backends
from agent.metrics import Metrics, start_http_server
from agent.writer import PersistenceWriter, WriteJob
from zkeco_modern import settings as project_settings
from zkpull import PanelClient
from zkpull.protocol.bigdata import BigDataInfo, decode_announce, encode_announce
from zkpull.protocol.constants import DEFAULT_MAX_DATA, HEADER_SIZE
from zkpull.protocol.errors import FrameError, MessageError, TransportTimeout
from zkpull.protocol.frames import FrameDecoder
from zkpull.simulator import Simulator
from zkpull.simulator.server import start_simulator
from zkpull.transport import SerialBus

pytestmark = pytest.mark.timeout(60)


class SilentServer:
    """Accepts TCP connections on loopback, reads whatever comes, never answers."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply  # sent once on each connection (then silence)
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        if self.reply:
            writer.write(self.reply)
            await writer.drain()
        while await reader.read(4096):
            pass


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    async with SilentServer() as server:
        yield server


# --- panels ---------------------------------------------------------------------------------------


async def test_a_panel_that_accepts_and_never_answers_times_out(silent: SilentServer) -> None:
    client = PanelClient.tcp("127.0.0.1", silent.port, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TransportTimeout):
        async with client:
            pass
    assert silent.connections >= 1
    assert time.monotonic() - started < 10  # the session handshake tries both dialects


async def test_the_agents_panel_timeout_setting_reaches_the_transport() -> None:
    loaded = conf.load({"tcp_timeout_seconds": "0.75", "rs485_timeout_seconds": 1.5})
    assert (loaded.tcp_timeout_seconds, loaded.rs485_timeout_seconds) == (0.75, 1.5)
    with pytest.raises(Exception, match="positive"):
        conf.load({"tcp_timeout_seconds": 0})


async def test_an_oversized_length_field_is_a_frame_error_without_waiting_for_it() -> None:
    # Start byte, address, command 0xC8 (reply OK), length 0xFFFF: then nothing more.
    header = bytes([0xAA, 0x01, 0xC8, 0xFF, 0xFF])
    async with SilentServer(reply=header) as server:
        # A long timeout: the error must come from the length check, not from waiting.
        client = PanelClient.tcp("127.0.0.1", server.port, timeout=30.0)
        with pytest.raises(FrameError, match="exceeds the limit"):
            async with client:
                pass


def test_the_decoder_rejects_a_long_frame_from_its_header_alone() -> None:
    decoder = FrameDecoder()
    tracemalloc.start()
    try:
        with pytest.raises(FrameError, match=f"limit of {DEFAULT_MAX_DATA} bytes"):
            decoder.feed(bytes([0xAA, 0x01, 0xC8]) + (DEFAULT_MAX_DATA + 1).to_bytes(2, "little"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoder.buffered == HEADER_SIZE  # nothing was read or reserved for the body
    assert peak < 64 * 1024


def test_a_big_data_announce_beyond_4_mib_is_refused() -> None:
    huge = encode_announce(BigDataInfo(0, 5 * 1024 * 1024, 5 * 1024 * 1024, 0, 1024))
    with pytest.raises(MessageError, match="exceeds 4 MiB"):
        decode_announce(huge)


async def test_a_silent_rs485_bus_times_out() -> None:
    master, slave = os.openpty()
    try:
        bus = SerialBus(os.ttyname(slave), timeout=0.5)
        client = PanelClient.rs485(bus, 1, timeout=0.5)
        with pytest.raises(TransportTimeout):
            async with client:
                pass
    finally:
        os.close(master)
        os.close(slave)


# --- the agent's own buffers ------------------------------------------------------------------


async def test_the_persistence_queue_is_bounded_and_pushes_back() -> None:
    release = asyncio.Event()

    async def store(job: WriteJob) -> int:
        await release.wait()  # a database that does not answer
        return len(job.records)

    writer = PersistenceWriter(store, Metrics(), max_jobs=2)
    runner = asyncio.create_task(writer.run())
    try:
        for _ in range(3):  # one taken by the writer, two queued
            await asyncio.wait_for(writer.submit(WriteJob("events", 1, [1])), 5)
        blocked = asyncio.create_task(writer.submit(WriteJob("events", 1, [1])))
        await asyncio.sleep(0.3)
        assert not blocked.done()  # the producer waits instead of growing the queue
        release.set()
        await asyncio.wait_for(blocked, 5)
    finally:
        release.set()
        await writer.stop()
        await asyncio.wait_for(runner, 10)


# --- Redis ------------------------------------------------------------------------------------


async def test_redis_that_accepts_and_never_answers_is_backend_unavailable(
    silent: SilentServer,
) -> None:
    for scheme in ("redis", "rediss"):  # rediss: the TLS handshake itself never completes
        backends = build_backends(
            "redis",
            f"{scheme}://agent:pw-Never-Shown@127.0.0.1:{silent.port}/0",
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        started = time.monotonic()
        try:
            with pytest.raises(BackendUnavailable) as caught:
                await backends.queue.depth(1)
        finally:
            await backends.close()
        assert time.monotonic() - started < 15  # 3 attempts x 0.5 s, plus backoff
        assert "pw-Never-Shown" not in str(caught.value)


# --- PostgreSQL -------------------------------------------------------------------------------


def test_postgres_connections_have_a_connect_timeout_and_keepalives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://agent@db.example:5432/commcenter")
    options = project_settings._database()["OPTIONS"]
    assert options["connect_timeout"] == 5
    assert options["keepalives"] == 1
    assert options["keepalives_idle"] == 30


def test_a_postgres_that_accepts_and_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nobody ever answers
        port = listener.getsockname()[1]
        monkeypatch.setenv("DATABASE_URL", f"postgres://agent@127.0.0.1:{port}/commcenter")
        config = project_settings._database()
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match=r"(?i)timeout"):
            psycopg.connect(
                host=config["HOST"],
                port=config["PORT"],
                user=config["USER"],
                dbname=config["NAME"],
                **config["OPTIONS"],
            )
        assert time.monotonic() - started < 30  # connect_timeout=5, generously


# --- the metrics endpoint ---------------------------------------------------------------------


def test_metrics_bind_loopback_by_default() -> None:
    assert conf.load({}).metrics_host == "127.0.0.1"
    server, thread = start_http_server(Metrics(), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_metrics_client_that_never_sends_is_dropped_after_the_timeout() -> None:
    server, thread = start_http_server(Metrics(), port=0, timeout=0.5)
    try:
        port = server.server_address[1]
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            started = time.monotonic()
            assert idle.recv(1) == b""  # the server closed it
            assert time.monotonic() - started < 8
        finally:
            idle.close()
        # Meanwhile and afterwards, scrapes are served.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as scrape:
            scrape.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            reply = b""
            while chunk := scrape.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.0 200")
        assert b"commcenter_build_info" in reply
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not any(t.name == "metrics-http" and t.is_alive() for t in threading.enumerate())


def test_every_listener_defaults_to_loopback() -> None:
    from django.core.management import load_command_class  # noqa: PLC0415 (needs apps ready)

    commcenter = load_command_class("agent", "run_commcenter")
    parser = commcenter.create_parser("manage.py", "run_commcenter")
    assert parser.get_default("metrics_host") is None  # None: ZKAGENT metrics_host (loopback)
    assert conf.AgentSettings().metrics_host == "127.0.0.1"
    monitor = load_command_class("monitor", "run_monitor")
    assert monitor.create_parser("manage.py", "run_monitor").get_default("host") == "127.0.0.1"
    for function in (Simulator.__init__, start_simulator):
        assert inspect.signature(function).parameters["host"].default == "127.0.0.1"

"""Serve simulated panels: one TCP listener per panel, optionally an RS485 pty bus and a control port.

Everything runs on one asyncio loop with no per-panel tasks: listeners are cheap, each client
connection is one task, and a single ticker drives every panel's event generator, so a
benchmark can host thousands of panels in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, TextIO

from .control import ControlServer
from .groundtruth import GroundTruthWriter
from .model import Clock, PanelConfig, make_configs
from .panel import FakePanel
from .serialbus import PtyBus

READ_SIZE: Final = 64 * 1024
DEFAULT_TICK: Final = 0.1  # seconds between generator rounds


async def serve_stream(
    panel: FakePanel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one client over any asyncio stream pair until either side hangs up.

    Client misbehaviour (garbage, resets, half requests) ends this connection only; it is
    counted in `panel.stats.malformed` and never raised.
    """
    connection = panel.connection()
    connection.on_close = writer.close
    try:
        while not connection.closed:
            data = await reader.read(READ_SIZE)
            if not data:
                connection.eof()
                break
            reply = connection.receive(data)
            delay = panel.faults.delay
            if delay > 0:
                await asyncio.sleep(delay)
            if reply:
                writer.write(reply)
                await writer.drain()
    except OSError:  # reset by the client, or the panel rebooted under us
        pass
    finally:
        connection.release()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class Simulator:
    """A set of FakePanels served on consecutive TCP ports (base_port 0 = any free ports)."""

    def __init__(
        self,
        configs: Sequence[PanelConfig],
        *,
        host: str = "127.0.0.1",
        base_port: int = 0,
        clock: Clock | None = None,
        ground_truth: str | os.PathLike[str] | TextIO | None = None,
        control_port: int | None = None,
        serial_pty: bool = False,
        tick: float = DEFAULT_TICK,
    ) -> None:
        self.host = host
        self.base_port = base_port
        self.panels = [FakePanel(config, clock=clock, preload=False) for config in configs]
        self.ports: list[int] = []
        self.control_port: int | None = None
        self.pty_path: str | None = None
        self.ground_truth: GroundTruthWriter | None = None
        self._ground_truth_target = ground_truth
        self._control_request = control_port
        self._serial_pty = serial_pty
        self._tick = tick
        self._servers: list[asyncio.Server | None] = []
        self._connections: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._control: ControlServer | None = None
        self._bus: PtyBus | None = None
        self._running = False
        self.generating = True  # the event generator runs; see pause_generation()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on every port, preload transactions, start generating; ready when it returns."""
        if self._ground_truth_target is not None:
            self.ground_truth = GroundTruthWriter(self._ground_truth_target)
        try:
            for index, _panel in enumerate(self.panels):
                port = self.base_port + index if self.base_port else 0
                server = await self._listen(index, port)
                self._servers.append(server)
                self.ports.append(server.sockets[0].getsockname()[1])
            self._running = True
            for index, panel in enumerate(self.panels):
                panel.port = self.ports[index]
                panel.on_event = self.ground_truth.write if self.ground_truth is not None else None
                panel.faults.on_change = functools.partial(self._faults_changed, index)
                panel.preload(panel.config.transactions)
            if self._control_request is not None:
                self._control = ControlServer(self)
                self.control_port = await self._control.start("127.0.0.1", self._control_request)
            if self._serial_pty:
                self._bus = PtyBus(self.panels)
                self.pty_path = await self._bus.start()
            self._spawn(self._generate())
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close listeners, connections, the bus and the ground-truth file. Idempotent."""
        self._running = False
        for task in self._background:
            task.cancel()
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._bus is not None:
            self._bus.stop()
            self._bus = None
        servers = [server for server in self._servers if server is not None]
        for server in servers:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, *self._background, return_exceptions=True)
        for server in servers:
            await server.wait_closed()
        self._servers = [None] * len(self._servers)
        if self.ground_truth is not None:
            self.ground_truth.close()
            self.ground_truth = None

    async def serve_forever(self) -> None:
        """Run until cancelled."""
        await asyncio.Event().wait()

    def ready_line(self) -> str:
        """The one line the CLI prints once every port listens."""
        count = len(self.panels)
        return f"zkpull simulator: {count} panel{'s' if count != 1 else ''} listening on {self.host}:{_ranges(self.ports)}"

    async def settle(self) -> None:
        """Wait until listener changes requested by faults (refuse=stop and its clearing) are done."""
        pending = [task for task in self._background if task.get_name().startswith("relisten")]
        await asyncio.gather(*pending, return_exceptions=True)

    def status(self) -> list[dict[str, object]]:
        """Per-panel counters and active faults (the control channel's `status`)."""
        return [
            {
                "index": i,
                "serial": p.serial,
                "port": p.port,
                "address": p.address,
                "firmware": str(p.config.firmware),
                "model": p.spec.name,
                "events": p.stats.events,
                "generated": p.stats.generated,
                "transactions": len(p.transactions),
                "requests": p.stats.requests,
                "malformed": p.stats.malformed,
                "connections": p.stats.connections,
                "reboots": p.stats.reboots,
                "pending_rt": p.pending_rt,
                "listening": self._servers[i] is not None,
                "faults": p.faults.active(),
            }
            for i, p in enumerate(self.panels)
        ]

    # -- internals --------------------------------------------------------------------------------
    async def _listen(self, index: int, port: int) -> asyncio.Server:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # stop() cancels live connections; Python 3.11's start_server done-callback then
            # calls task.exception() on the cancelled task and logs a spurious traceback.
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept(index, reader, writer)

        return await asyncio.start_server(accept, self.host, port, reuse_address=True)

    async def _accept(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            panel = self.panels[index]
            if panel.faults.refuse or not self._running:
                writer.close()
                return
            await serve_stream(panel, reader, writer)
        finally:
            if task is not None:
                self._connections.discard(task)

    def _faults_changed(self, index: int) -> None:
        stop = self.panels[index].faults.refuse == "stop"
        server = self._servers[index]
        if stop and server is not None:
            server.close()  # stops accepting at once; live connections keep going
            self._servers[index] = None
        elif not stop and server is None and self._running:
            self._spawn(self._relisten(index), name=f"relisten-{index}")

    async def _relisten(self, index: int) -> None:
        server = await self._listen(index, self.ports[index])
        if self._servers[index] is None and self._running:
            self._servers[index] = server
        else:
            server.close()

    def pause_generation(self, paused: bool = True) -> None:
        """Stop (or resume) the event generator, e.g. so a consumer can catch up and compare."""
        self.generating = not paused

    async def _generate(self) -> None:
        active = [panel for panel in self.panels if panel.config.events_per_second > 0]
        if not active:
            return
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self._tick)
            now = loop.time()
            if self.generating:
                for panel in active:
                    panel.tick(now - last)
            last = now

    def _spawn(self, coroutine: Any, name: str | None = None) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def start_simulator(
    panels: int = 1,
    *,
    host: str = "127.0.0.1",
    base_port: int = 0,
    clock: Clock | None = None,
    ground_truth: str | os.PathLike[str] | TextIO | None = None,
    control_port: int | None = None,
    serial_pty: bool = False,
    **config: Any,
) -> Simulator:
    """Build configs with `make_configs(panels, **config)`, start a Simulator and return it."""
    simulator = Simulator(
        make_configs(panels, **config),
        host=host,
        base_port=base_port,
        clock=clock,
        ground_truth=ground_truth,
        control_port=control_port,
        serial_pty=serial_pty,
    )
    await simulator.start()
    return simulator


def _ranges(ports: list[int]) -> str:
    if not ports:
        return "-"
    if ports == list(range(ports[0], ports[0] + len(ports))):
        return f"{ports[0]}-{ports[-1]}" if len(ports) > 1 else str(ports[0])
    return ",".join(map(str, ports))

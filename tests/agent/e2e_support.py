"""Helpers for the agent ↔ simulator tests: fast settings, ORM off the event loop, a rig.

The agent does its ORM work on its own DbThread, so these tests use
`django_db(transaction=True)`: rows must be committed to be seen across threads. The test
side never touches the ORM from the event loop; `orm()` runs a call on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from django.db import OperationalError, connection, connections

from agent import conf, groundtruth
from agent.backends import Backends, build_backends
from agent.metrics import Metrics
from agent.models import CommType, Device
from agent.modern_comm_center import ModernCommCenter, RunOptions
from zkpull.simulator import FakePanel, PanelConfig, Simulator

T = TypeVar("T")

FAST: dict[str, Any] = {
    "interval": 0.2,
    "reconnect_seconds": 0.2,  # backoff base min(1, x) = 0.2 s, cap 0.2 s
    "tcp_timeout_seconds": 1.0,
    "device_reload_seconds": 0.3,
    "heartbeat_ttl_seconds": 3.0,
    "status_throttle_seconds": 1.0,
    "command_expiry_seconds": 30.0,
    "batch_size": 500,
    "agent_id": "e2e",
}


def agent_settings(**overrides: Any) -> conf.AgentSettings:
    """AgentSettings tuned for tests (loopback, 0.2 s cycles), validated like ZKAGENT."""
    return conf.load({**FAST, **overrides})


def utc_clock() -> datetime:
    """The simulator's host clock: naive UTC, so panels agree with devices in "UTC"."""
    return datetime.now(UTC).replace(tzinfo=None)


async def orm(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a sync ORM call on a worker thread, retrying a SQLite "locked" a few times.

    The in-memory SQLite test database uses a shared cache, where concurrent writers get
    SQLITE_LOCKED at once (the busy timeout does not apply); the agent's writer retries the
    same way.
    """

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()  # a worker thread's connection would outlive the test DB

    for attempt in range(20):
        try:
            return await asyncio.to_thread(call)
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 19:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")  # pragma: no cover


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str = "condition"
) -> None:
    """Poll *predicate* every 50 ms until true; AssertionError after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def register(
    ports: Sequence[int], *, passwords: Sequence[str] = (), first: int = 1, **fields: Any
) -> list[int]:
    """Create one TCP device per simulator port (alias sim-N from *first*); returns their ids."""
    ids = []
    for number, port in enumerate(ports, start=first):
        device = Device(
            alias=f"sim-{number}",
            comm_type=CommType.TCP,
            ipaddress="127.0.0.1",
            ip_port=port,
            acpanel_type=4,
            timezone="UTC",
            **fields,
        )
        if number - first < len(passwords) and passwords[number - first]:
            device.set_password(passwords[number - first])
        device.save()
        ids.append(device.pk)
    return ids


class Rig:
    """A Simulator with a ground-truth file, its registered devices, and agents to run on them."""

    def __init__(self, tmp_path: Path, configs: Sequence[PanelConfig]) -> None:
        self.truth = tmp_path / "ground-truth.jsonl"
        self.simulator = Simulator(configs, clock=utc_clock, ground_truth=self.truth)
        self.devices: list[int] = []
        self.center: ModernCommCenter | None = None
        self.metrics: Metrics | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def panels(self) -> list[FakePanel]:
        return self.simulator.panels

    async def __aenter__(self) -> Rig:
        await self.simulator.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.stop_agent()
        await self.simulator.stop()

    async def register(self, *, passwords: Sequence[str] = (), **fields: Any) -> list[int]:
        self.devices = await self.orm(register, self.simulator.ports, passwords=passwords, **fields)
        return self.devices

    async def orm(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An ORM call from the test while the agent may be running.

        On SQLite it goes through the agent's own DbThread: the in-memory test database's
        shared cache answers a second concurrent writer with "table is locked" at once (a
        file database would wait on its busy timeout), which would hit the agent, not the
        test. PostgreSQL gets real concurrent writers.
        """
        running = self._task is not None and not self._task.done()
        if running and self.center is not None and connection.vendor == "sqlite":
            return await self.center.db.run(fn, *args, **kwargs)
        return await orm(fn, *args, **kwargs)

    def start_agent(
        self,
        settings: conf.AgentSettings | None = None,
        backends: Backends | None = None,
        options: RunOptions | None = None,
    ) -> ModernCommCenter:
        """Start a (new) ModernCommCenter as a task; the previous one must be stopped."""
        assert self._task is None, "stop the running agent first"
        self.metrics = Metrics()
        self.center = ModernCommCenter(
            settings or agent_settings(),
            backends or build_backends("memory"),
            self.metrics,
            options or RunOptions(agent_id="e2e"),
        )
        self._task = asyncio.create_task(self.center.run(), name="agent-under-test")
        return self.center

    async def stop_agent(self, timeout: float = 10.0) -> None:
        """Stop the agent and wait until it has flushed and closed everything."""
        if self._task is None:
            return
        assert self.center is not None
        self.center.stop()
        task, self._task = self._task, None
        async with asyncio.timeout(timeout):
            await task

    async def drain(self, *, intervals: int = 2) -> None:
        """Pause the generator, then let the agent poll *intervals* more cycles."""
        self.simulator.pause_generation()
        assert self.center is not None
        await asyncio.sleep(intervals * self.center.settings.interval + 0.3)

    async def compare(
        self, devices: Iterable[int] | None = None, ports: Iterable[int] | None = None
    ) -> groundtruth.Comparison:
        """Ground truth of the simulator vs DeviceEventLog for the (given) devices."""
        ids = list(devices) if devices is not None else self.devices
        port_list = list(ports) if ports is not None else self.simulator.ports
        by_port = {
            port: device
            for port, device in zip(self.simulator.ports, self.devices, strict=True)
            if device in ids and port in port_list
        }
        if self.simulator.ground_truth is not None:
            self.simulator.ground_truth.flush()

        def read() -> groundtruth.Comparison:
            expected = groundtruth.read_ground_truth(self.truth, by_port)
            return groundtruth.compare(expected, groundtruth.stored_events(list(by_port.values())))

        return await self.orm(read)


def exact(report: groundtruth.Comparison) -> str:
    """An assertion message summarising a comparison."""
    return (
        f"expected {report.expected}, stored {report.stored}, missing {len(report.missing)} "
        f"{report.missing[:3]}, unexpected {len(report.unexpected)} {report.unexpected[:3]}, "
        f"duplicated {len(report.duplicated)} {report.duplicated[:3]}"
    )

"""`manage.py run_commcenter`: in-process with `call_command` (a simulator on a background
thread with its own event loop), and as a real process (JSON logs, Prometheus, SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from django.core.management import call_command
from django.core.management.base import CommandError

from agent import groundtruth
from agent.models import DeviceEventLog, DeviceStatus
from zkpull.simulator import PanelConfig, Simulator, make_configs

from .backends.support import REDIS_URL, redis_client_or_skip
from .e2e_support import register, utc_clock

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "zkeco_modern" / "manage.py"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """run_commcenter reconfigures the root logger and structlog: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


class ThreadedSimulator:
    """A Simulator served by its own event loop on a daemon thread (call_command blocks ours)."""

    def __init__(self, configs: Sequence[PanelConfig], ground_truth: Path | None = None) -> None:
        self.simulator = Simulator(configs, clock=utc_clock, ground_truth=ground_truth)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Simulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.simulator.start(), self.loop).result(10)
        return self.simulator

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def run_command(*args: str) -> str:
    """call_command("run_commcenter", ...) with the test's fast knobs; returns stdout."""
    out = _Buffer()
    call_command("run_commcenter", *args, stdout=out, stderr=_Buffer())
    return out.text


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.parts)


def counts(device_ids: Sequence[int]) -> list[int]:
    return [DeviceEventLog.objects.filter(device_id=d).count() for d in device_ids]


# -- in process -----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_once_stores_every_panel_event(tmp_path, caplog):
    truth = tmp_path / "truth.jsonl"
    configs = make_configs(2, firmware="mixed", seed=21, transactions=40)
    with ThreadedSimulator(configs, truth) as sim:
        devices = register(sim.ports)
        run_command("--once", "--interval", "0.2")
        pointers = [panel.read_pointer for panel in sim.panels]
    expected = groundtruth.read_ground_truth(truth, dict(zip(sim.ports, devices, strict=True)))
    report = groundtruth.compare(expected, groundtruth.stored_events(devices))

    assert report.ok
    assert report.expected == report.stored == 80
    assert pointers == [40, 40]  # committed after storing
    statuses = DeviceStatus.objects.filter(device_id__in=devices)
    assert statuses.count() == 2
    assert not any(s.online for s in statuses)  # --once disconnects at the end
    messages = caplog.text
    assert "sim-1: downloaded 40 transactions" in messages
    assert "agent stopped" in messages


@pytest.mark.django_db(transaction=True)
def test_device_option_limits_the_panels():
    configs = make_configs(3, seed=22, transactions=15)
    with ThreadedSimulator(configs) as sim:
        devices = register(sim.ports)
        run_command("--once", "--device", "sim-2")
        assert counts(devices) == [0, 15, 0]
        run_command("--once", "--device", str(devices[0]), "--device", "sim-3")  # id or alias
        assert counts(devices) == [15, 15, 15]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "25"], "download_hours: hour 25 is not 0..23"),
        (["--hours", "6,x"], "download_hours: expected an integer"),
        (["--interval", "-1"], "interval: must be a positive number of seconds"),
        (["--interval", "0"], "interval: must be a positive number of seconds"),
        (["--metrics-port", "70000"], "metrics_port: must be a TCP port 1..65535"),
        (["--redis-url", "http://localhost:6379/0"], "redis_url: must start with redis://"),
        (["--interval", "fast"], "invalid float value: 'fast'"),
    ],
)
def test_bad_settings_are_a_clear_command_error(args, message):
    with pytest.raises(CommandError) as caught:
        run_command("--once", *args)
    assert message in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_unreachable_redis_is_a_logged_outage_not_a_crash(caplog):
    """Behaviour: the cycle still stores events (the database is the truth); the queue and
    heartbeat outages are logged once each, as errors without tracebacks; exit is normal."""
    with ThreadedSimulator(make_configs(1, seed=23, transactions=12)) as sim:
        devices = register(sim.ports)
        run_command("--once", "--redis", "--redis-url", "redis://127.0.0.1:1/0")
    assert counts(devices) == [12]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == [
        "command queue backend unavailable",
        "heartbeat backend unavailable",
    ]
    assert all(r.exc_info is None for r in errors)
    assert "127.0.0.1:1" in errors[0].getMessage()


# -- as a process ---------------------------------------------------------------------------------
def free_port(pair: bool = False) -> int:
    """A free loopback port (and the next one too when *pair*)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if not pair:
                return port
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port pair")


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory) -> Path:
    """A migrated SQLite file with devices sim-1 and sim-2 (ports set per test)."""
    path = tmp_path_factory.mktemp("agentdb") / "template.sqlite3"
    script = (
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0, interactive=False)\n"
        "from agent.models import Device\n"
        "for n in (1, 2):\n"
        "    Device.objects.create(alias=f'sim-{n}', ipaddress='127.0.0.1', ip_port=n,"
        " timezone='UTC')\n"
    )
    subprocess.run(
        [sys.executable, str(MANAGE), "shell", "-c", script],
        env=_env(path),
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def _env(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZKAGENT_", "DATABASE_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        # A real key, as in production: the dev-key check would print a plain-text warning.
        DJANGO_SECRET_KEY="test-" + "x" * 60,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Process:
    """A child process whose stderr (or stdout) lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str], *, stream: str = "stderr") -> None:
        pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
        if stream == "stderr":
            pipe = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        self.popen = subprocess.Popen(args, env=env, cwd=REPO, text=True, **pipe)
        self.lines: list[str] = []
        source = self.popen.stderr if stream == "stderr" else self.popen.stdout
        assert source is not None
        self._source = source
        self._reader = threading.Thread(target=self._read, args=(source,), daemon=True)
        self._reader.start()

    def _read(self, source: Any) -> None:
        for line in source:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} line; got {self.lines[-20:]}")
            time.sleep(0.05)

    def stop(self, timeout: float) -> int:
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """Make sure it is gone (after stop(), or when a test failed) and close the pipe."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)
        self._reader.join(5)
        self._source.close()


@contextlib.contextmanager
def simulator_process(tmp_path: Path) -> Iterator[int]:
    port = free_port(pair=True)
    sim = Process(
        [
            sys.executable, "-m", "zkpull.simulator", "--panels", "2", "--base-port", str(port),
            "--firmware", "mixed", "--events-per-second", "5", "--transactions", "30",
            "--ground-truth", str(tmp_path / "truth.jsonl"),
        ],
        dict(os.environ),
        stream="stdout",
    )  # fmt: skip
    try:
        sim.wait_for_line("listening on", 15)
        yield port
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            sim.stop(5)
        sim.kill()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def run_agent_process(tmp_path: Path, template: Path, *extra: str) -> tuple[list[dict], dict]:
    """Start the simulator and run_commcenter as processes; return (log lines, last scrape)."""
    database = tmp_path / "agent.sqlite3"
    shutil.copy(template, database)
    metrics_port = free_port()
    with simulator_process(tmp_path) as base:
        with sqlite3.connect(database) as db:
            for n in (1, 2):
                db.execute(
                    "UPDATE agent_device SET ip_port = ? WHERE alias = ?",
                    (base + n - 1, f"sim-{n}"),
                )
        agent = Process(
            [
                sys.executable, "-X", "faulthandler", str(MANAGE), "run_commcenter",
                "--interval", "0.5",
                "--json-logs", "--metrics", "--metrics-port", str(metrics_port), *extra,
            ],
            _env(database),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            values: dict[str, float] = {}
            while time.monotonic() < deadline:
                assert agent.popen.poll() is None, agent.lines[-20:]
                with contextlib.suppress(OSError):
                    values = scrape(metrics_port)
                    live = sum(  # events stored from the real-time log, not just downloaded
                        v
                        for k, v in values.items()
                        if k.startswith("commcenter_event_logs_total{") and 'source="rt"' in k
                    )
                    up = [v for k, v in values.items() if k.startswith("commcenter_device_up{")]
                    if live > 0 and up == [1.0, 1.0]:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"metrics never showed both panels up: {values}")
            values["_redis"] = 0.0
            if "--redis" in extra:
                values["_redis"] = asyncio.run(_redis_sees_the_agent())
            started = time.monotonic()
            try:
                code = agent.stop(timeout=10)
            except subprocess.TimeoutExpired:
                agent.popen.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
                agent.popen.wait(5)
                agent.kill()
                tail = "\n".join(agent.lines[-80:])
                raise AssertionError(f"no exit within 10 s of SIGTERM:\n{tail}") from None
            values["_stop_seconds"] = time.monotonic() - started
            values["_exit"] = code
        finally:
            agent.kill()
    records = []
    for line in agent.lines:
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"stderr line is not JSON: {line!r}") from None
    return records, values


async def _redis_sees_the_agent() -> float:
    from agent.backends import RedisHeartbeat  # noqa: PLC0415

    heartbeat = RedisHeartbeat.from_url(REDIS_URL)
    try:
        agents = await heartbeat.agents()
        statuses = await heartbeat.all_device_status()
    finally:
        await heartbeat.close()
    ours = [info for name, info in agents.items() if name.startswith("pytest-")]
    assert ours, agents
    assert ours[0]["last_cycle"] > 0
    assert sum(1 for status in statuses.values() if status.online) >= 2, statuses
    return 1.0


def check_process_run(records: list[dict], values: dict) -> None:
    assert values["_exit"] == 0
    assert values["_stop_seconds"] < 5.0
    for name in ("commcenter_event_logs_total", "commcenter_rtlog_lines_total"):
        assert sum(v for k, v in values.items() if k.startswith(name + "{")) > 0, name
    event_logs = sum(v for k, v in values.items() if k.startswith("commcenter_event_logs_total{"))
    assert event_logs >= 60  # the preloaded transactions of both panels, at least
    assert values['commcenter_device_up{device="sim-1"}'] == 1.0
    assert all({"timestamp", "level", "logger", "event"} <= set(r) for r in records)
    events = [str(r["event"]) for r in records]
    assert any(e.startswith("metrics on http://127.0.0.1:") for e in events)
    assert any(e.startswith("stopping: disconnecting panels") for e in events)
    assert sum("is offline: agent stopping" in e for e in events) == 2  # both disconnected
    assert events[-1].startswith("agent stopped")
    assert not [r for r in records if r["level"] in ("error", "critical")], records


@pytest.mark.slow
def test_process_json_logs_metrics_and_sigterm(tmp_path, migrated_template):
    records, values = run_agent_process(tmp_path, migrated_template)
    check_process_run(records, values)


@pytest.mark.slow
@pytest.mark.redis
def test_process_with_redis_backends(tmp_path, migrated_template):
    asyncio.run(_reachable_or_skip())
    agent_id = f"pytest-{uuid.uuid4().hex[:12]}"
    try:
        records, values = run_agent_process(
            tmp_path, migrated_template, "--redis", "--redis-url", REDIS_URL, "--agent-id", agent_id
        )
    finally:
        asyncio.run(_cleanup())
    check_process_run(records, values)
    assert values["_redis"] == 1.0
    assert any("backend=redis" in str(r["event"]) for r in records)


async def _reachable_or_skip() -> None:
    client = await redis_client_or_skip()
    await client.aclose()


async def _cleanup() -> None:
    """Delete the default-prefix keys this run left in the test database (db 15)."""
    client = await redis_client_or_skip()
    keys = [key async for key in client.scan_iter(match="commcenter:*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()

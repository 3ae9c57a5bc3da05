"""Chaos harness: simulated panels, fault proxies, a real agent process, faults on a seed.

Run as a program (the chaos test and `bench/soak.py` do):

    python -m tests.chaos.harness --panels 20 --seconds 50 --seed 1 --json-out result.json

Everything is a real process on real sockets: the simulator (`python -m zkpull.simulator`,
with its ground-truth JSON lines and control channel), one `python -m faultproxy` process
serving one route per panel plus PostgreSQL and Redis, and the agent
(`manage.py run_commcenter --redis-url ...`) whose panel, database and Redis connections
all go through those proxies. It runs in its own PostgreSQL database (created, migrated,
dropped) and its own Redis db. During the run, on a timetable drawn from the seed:
proxy faults on panel links (latency, stall, reset, cut, slice, blackhole, down), panel
faults through the simulator (corrupt CRC, garbage, truncated replies, dropped requests,
reboots), PostgreSQL and Redis each cut for several seconds, the agent killed with SIGKILL
and restarted, commands queued (door control, some with a short expiry, and read-only ones).
Then the faults stop, the agent drains and stops, and the database is compared with the
ground truth. The result (JSON) has `ok` and the figures; `failures` says what broke.

Control commands are observed on the panel side: every executed door command makes the
panel log one event (remote opening / closing / normal opening) that the event generator
never makes, so each queued control command has a unique (panel, event type, door)
signature and its executions can be counted in the ground truth.
"""

# Django is set up at run time, inside the harness process, for its own database: the agent
# imports cannot sit at the top of the module.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from faultproxy import ControlClient, FaultSchedule

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "zkeco_modern" / "manage.py"
PROXY_KINDS = ("latency", "stall", "reset", "cut", "slice", "blackhole", "down")
PANEL_FAULTS = ("corrupt-next", "garbage", "truncate", "drop", "reboot")
# Door commands and the event a panel logs when it runs them (zkpull EventType values).
REMOTE_OPENING, REMOTE_CLOSING, REMOTE_NORMAL_OPENING = 8, 9, 205
CONTROL_SIGNATURES = tuple(
    (f"DEVICE SET {door} 1 {seconds}", event, door)
    for door in (1, 2, 3, 4)
    for seconds, event in ((5, REMOTE_OPENING), (0, REMOTE_CLOSING), (255, REMOTE_NORMAL_OPENING))
)
READ_COMMANDS = ("OPTION GET LockCount", "DATA COUNT user", "OPTION GET SerialNumber")


@dataclass
class ChaosConfig:
    panels: int = 20
    seconds: float = 50.0  # fault phase
    seed: int = 1
    events_per_second: float = 1.0  # per panel
    transactions: int = 50  # preloaded per panel
    fault_rate: float = 1.5  # proxy faults per second, over all panels
    panel_fault_rate: float = 0.5  # simulator faults per second
    command_rate: float = 1.5  # commands per second
    kills: int = 2
    db_outages: int = 1
    redis_outages: int = 1
    outage_seconds: float = 5.0
    interval: float = 0.5  # the agent's cycle
    drain_timeout: float = 60.0
    postgres_url: str = "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/3"
    workdir: str = ""
    keep_db: bool = False
    verbose: bool = False
    # Deliberate-breakage hook for the agent process (see docs/reliability.md); normally empty.
    agent_env: dict[str, str] = field(default_factory=dict)


@dataclass
class ChaosResult:
    ok: bool = False
    seed: int = 0
    panels: int = 0
    duration_seconds: float = 0.0
    events_expected: int = 0
    events_stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    faults_injected: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    db_outages: int = 0
    redis_outages: int = 0
    commands: int = 0
    command_outcomes: dict[str, int] = field(default_factory=dict)
    commands_without_outcome: int = 0
    control_commands: int = 0
    control_executed_twice: int = 0
    control_executed_after_expiry: int = 0
    control_outcome_mismatch: int = 0
    offline_transitions_logged: int = 0
    agent_errors_logged: int = 0
    agent_rss_max_mb: float = 0.0  # sampled every ~2 s during the fault phase
    drain_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"chaos summary: panels={self.panels} events={self.events_expected} "
            f"stored={self.events_stored} faults={self.faults_injected} restarts={self.restarts} "
            f"db_outages={self.db_outages} redis_outages={self.redis_outages} "
            f"commands={self.commands} outcomes={dict(sorted(self.command_outcomes.items()))} "
            f"lost={self.lost} duplicated={self.duplicated} unexpected={self.unexpected} "
            f"control_twice={self.control_executed_twice} "
            f"control_late={self.control_executed_after_expiry} "
            f"seconds={self.duration_seconds:.0f} ok={self.ok}"
        )


def _log(config: ChaosConfig, message: str) -> None:
    if config.verbose:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _with_db(url: str, name: str, port: int | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = re.sub(r":\d+$", "", netloc) + f":{port}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, ""))


def _redis_via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = re.sub(r":\d+$", "", parts.netloc) + f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class Processes:
    """Child processes, stopped in reverse order on exit (by pid, never by name)."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(args, text=True, **kwargs)
        self.children.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _read_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 30.0) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process {proc.args!r} ended before printing {pattern!r}")
        match = re.search(pattern, line)
        if match:
            return match
    raise RuntimeError(f"process {proc.args!r} did not print {pattern!r} in {timeout}s")


class SimulatorControl:
    """Blocking client of the simulator's control channel."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._file = self._sock.makefile("rwb")

    def send(self, line: str) -> str:
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        reply = self._file.readline().decode().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"simulator refused {line!r}: {reply}")
        return reply[3:]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()


@dataclass
class _Command:
    pk: int
    panel: int
    content: str
    signature: tuple[int, int] | None  # (event type, door) for control commands
    expires_at: datetime | None


class Chaos:
    """One run; `run()` returns the ChaosResult."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.result = ChaosResult(seed=config.seed, panels=config.panels)
        self.procs = Processes()
        self.db_name = f"chaos_{os.getpid()}"
        self.work = Path(config.workdir or tempfile.mkdtemp(prefix="chaos-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.truth = self.work / "ground-truth.jsonl"
        self.agent_log = self.work / "agent.log"
        self.agent: subprocess.Popen[str] | None = None
        self.agent_log_file: IO[str] | None = None
        self.commands: list[_Command] = []
        self.free_signatures: dict[int, list[tuple[str, int, int]]] = {}
        self.devices: list[int] = []
        self.panel_ports: list[int] = []
        self.kinds: Counter[str] = Counter()
        self._rss_at = 0.0

    # -- setup ------------------------------------------------------------------------------
    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.config.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        import redis

        redis.Redis.from_url(self.config.redis_url).flushdb()

    def _drop_database(self) -> None:
        import psycopg

        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with psycopg.connect(self.config.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _env(self, database_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TZ": "UTC",
                "TZ_NAME": "UTC",
                "DATABASE_URL": database_url,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "zkeco_modern")]),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # A throwaway key for this run: the development default only adds a warning here.
        env.setdefault("DJANGO_SECRET_KEY", f"chaos-{self.config.seed}-{os.getpid()}-" + "k" * 40)
        return env

    def _start_simulator(self) -> None:
        c = self.config
        proc = self.procs.start(
            [
                sys.executable,
                "-m",
                "zkpull.simulator",
                "--panels",
                str(c.panels),
                "--base-port",
                "0",
                "--firmware",
                "mixed",
                "--events-per-second",
                str(c.events_per_second),
                "--max-events",
                str(self.max_events),
                "--transactions",
                str(c.transactions),
                "--seed",
                str(c.seed),
                "--ground-truth",
                str(self.truth),
                "--control-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            env=self._env(""),
        )
        port = int(_read_line(proc, r"control channel on 127\.0\.0\.1:(\d+)").group(1))
        _read_line(proc, r"listening on")
        self.sim = SimulatorControl(port)
        status = json.loads(self.sim.send("status"))
        self.panel_ports = [int(p["port"]) for p in status]

    def _start_proxies(self) -> None:
        pg = urlsplit(self.config.postgres_url)
        rd = urlsplit(self.config.redis_url)
        routes = [f"127.0.0.1:0=127.0.0.1:{port}" for port in self.panel_ports]
        routes.append(f"127.0.0.1:0={pg.hostname}:{pg.port or 5432}")
        routes.append(f"127.0.0.1:0={rd.hostname}:{rd.port or 6379}")
        args = [sys.executable, "-m", "faultproxy", "--control-port", "0"]
        for route in routes:
            args += ["--map", route]
        proc = self.procs.start(args, stdout=subprocess.PIPE, env=self._env(""))
        ready = json.loads(_read_line(proc, r"^\{.*\}$").group(0))
        self.proxy_ports: list[int] = ready["ports"]
        self.pg_target, self.redis_target = len(routes) - 2, len(routes) - 1
        self.proxy = ControlClient("127.0.0.1", ready["control"])

    def _migrate_and_register(self) -> None:
        direct = _with_db(self.config.postgres_url, self.db_name)
        subprocess.run(
            [sys.executable, str(MANAGE), "migrate", "--verbosity", "0"],
            env=self._env(direct),
            check=True,
            timeout=300,
        )
        os.environ.update(self._env(direct))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")
        for path in (str(ROOT / "zkeco_modern"), str(ROOT / "src")):
            if path not in sys.path:
                sys.path.insert(0, path)
        import django

        django.setup()
        from agent.models import CommType, Device

        for index, port in enumerate(self.proxy_ports[: self.config.panels]):
            device = Device.objects.create(
                alias=f"chaos-{index + 1}",
                comm_type=CommType.TCP,
                ipaddress="127.0.0.1",
                ip_port=port,
                acpanel_type=4,
                timezone="UTC",
            )
            self.devices.append(device.pk)
            self.free_signatures[index] = list(CONTROL_SIGNATURES)
            self.rng.shuffle(self.free_signatures[index])

    # -- the agent ---------------------------------------------------------------------------
    def _start_agent(self) -> None:
        proxied = _with_db(
            self.config.postgres_url, self.db_name, port=self.proxy_ports[self.pg_target]
        )
        env = self._env(proxied)
        env.update(
            {
                "ZKAGENT_INTERVAL": str(self.config.interval),
                "ZKAGENT_RECONNECT_SECONDS": "2",
                "ZKAGENT_TCP_TIMEOUT_SECONDS": "1.5",
                "ZKAGENT_DEVICE_RELOAD_SECONDS": "5",
                "ZKAGENT_STATUS_THROTTLE_SECONDS": "5",
                "ZKAGENT_COMMAND_EXPIRY_SECONDS": "20",
                "ZKAGENT_HEARTBEAT_TTL_SECONDS": "6",
                "ZKAGENT_IO_ERROR_THRESHOLD": "5",
            }
        )
        env.update(self.config.agent_env)
        redis_url = _redis_via(self.config.redis_url, self.proxy_ports[self.redis_target])
        if self.agent_log_file is None:
            self.agent_log_file = self.agent_log.open("a", encoding="utf-8")
        self.agent = self.procs.start(
            [
                sys.executable,
                str(MANAGE),
                "run_commcenter",
                "--redis-url",
                redis_url,
                "--agent-id",
                "chaos",
                "--log-level",
                "INFO",
            ],
            stdout=self.agent_log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def _kill_agent(self) -> None:
        assert self.agent is not None
        if self.agent.poll() is not None:
            self.result.failures.append(
                f"the agent had exited by itself (rc {self.agent.returncode})"
            )
        else:
            os.kill(self.agent.pid, signal.SIGKILL)
            self.agent.wait(30)
        self.result.restarts += 1
        self._start_agent()

    # -- the timetable -----------------------------------------------------------------------
    def _timetable(self) -> list[tuple[float, str, Any]]:
        c = self.config
        plan: list[tuple[float, str, Any]] = []
        schedule = FaultSchedule(
            c.seed, c.seconds, c.panels, rate=c.fault_rate, kinds=PROXY_KINDS, max_fault_seconds=4
        )
        for event in schedule:
            plan.append((event.at, "proxy", event.start_line()))
            self.kinds[f"proxy:{event.kind}"] += 1
            end = event.end_line()
            if end is not None:
                plan.append((event.at + event.duration, "proxy-end", end))
        at = self.rng.expovariate(c.panel_fault_rate)
        while at < c.seconds:
            panel, kind = self.rng.randrange(c.panels), self.rng.choice(PANEL_FAULTS)
            line = (
                f"reboot {panel}"
                if kind == "reboot"
                else f"fault {panel} {kind} {self.rng.randint(1, 3)}"
            )
            plan.append((at, "panel", line))
            self.kinds[f"panel:{kind}"] += 1
            at += self.rng.expovariate(c.panel_fault_rate)
        # Outages and kills spread over the phase, apart from each other.
        slots = c.db_outages + c.redis_outages + c.kills
        span = c.seconds / (slots + 1)
        kinds = ["db"] * c.db_outages + ["redis"] * c.redis_outages + ["kill"] * c.kills
        self.rng.shuffle(kinds)
        for i, kind in enumerate(kinds):
            at = span * (i + 1) + self.rng.uniform(-span / 4, span / 4)
            if kind == "kill":
                plan.append((at, "kill", None))
            else:
                target = self.pg_target if kind == "db" else self.redis_target
                plan.append((at, "outage", (kind, target)))
                plan.append((at + c.outage_seconds, "proxy-end", f"up {target}"))
        at = self.rng.expovariate(c.command_rate)
        while at < c.seconds:
            plan.append((at, "command", None))
            at += self.rng.expovariate(c.command_rate)
        plan.sort(key=lambda item: item[0])
        return plan

    def _sample_rss(self) -> None:
        now = time.monotonic()
        if self.agent is None or now - self._rss_at < 2.0:
            return
        self._rss_at = now
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.agent.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    mb = int(line.split()[1]) / 1024
                    self.result.agent_rss_max_mb = round(max(self.result.agent_rss_max_mb, mb), 1)

    def _enqueue(self) -> None:
        from agent.commands import enqueue

        panel = self.rng.randrange(self.config.panels)
        roll = self.rng.random()
        signature: tuple[int, int] | None = None
        expires_in: timedelta | None = None
        if roll < 0.65 and self.free_signatures[panel]:
            content, event, door = self.free_signatures[panel].pop()
            signature = (event, door)
            if self.rng.random() < 0.3:
                expires_in = timedelta(seconds=self.rng.uniform(0.5, 3.0))  # short expiry
        else:
            content = self.rng.choice(READ_COMMANDS)
            if self.rng.random() < 0.3:
                expires_in = timedelta(seconds=self.rng.uniform(0.5, 3.0))
        row = enqueue(
            self.devices[panel], content, immediate=self.rng.random() < 0.5, expires_in=expires_in
        )
        if any(c.pk == row.pk for c in self.commands):
            return  # merged into an identical pending command
        self.commands.append(_Command(row.pk, panel, content, signature, row.expires_at))

    def _faults_phase(self) -> None:
        c = self.config
        plan = self._timetable()
        started = time.monotonic()
        for at, kind, arg in plan:
            delay = at - (time.monotonic() - started)
            if delay > 0:
                time.sleep(delay)
            if self.agent is not None and self.agent.poll() is not None:
                self.result.failures.append(
                    f"the agent exited by itself (rc {self.agent.returncode})"
                )
                self._start_agent()
            self._sample_rss()
            _log(c, f"{at:6.2f} {kind} {arg}")
            if kind in {"proxy", "proxy-end"}:
                self.proxy.send(arg)
            elif kind == "panel":
                self.sim.send(arg)
            elif kind == "outage":
                what, target = arg
                self.proxy.send(f"down {target}")
                if what == "db":
                    self.result.db_outages += 1
                else:
                    self.result.redis_outages += 1
                self.kinds[f"outage:{what}"] += 1
            elif kind == "kill":
                self._kill_agent()
                self.kinds["agent:sigkill"] += 1
            elif kind == "command":
                self._enqueue()

    # -- drain and verdict --------------------------------------------------------------------
    def _comparison(self) -> Any:
        from agent import groundtruth

        expected = groundtruth.read_ground_truth(
            self.truth, dict(zip(self.panel_ports, self.devices, strict=True))
        )
        stored = groundtruth.stored_events(self.devices)
        return expected, stored, groundtruth.compare(expected, stored)

    def _open_commands(self) -> int:
        from agent.models import FINAL_STATUSES, DeviceCommand

        return (
            DeviceCommand.objects.filter(pk__in=[cmd.pk for cmd in self.commands])
            .exclude(status__in=FINAL_STATUSES)
            .count()
        )

    def _drain(self) -> None:
        self.proxy.send("clear all")
        self.sim.send("clear all")
        # Generation stops by itself at --max-events; wait for it, then for the agent.
        deadline = time.monotonic() + self.config.drain_timeout
        while time.monotonic() < deadline:
            status = json.loads(self.sim.send("status"))
            if all(int(p["generated"]) >= self.max_events for p in status):
                break
            time.sleep(0.5)
        drain_started = time.monotonic()
        while time.monotonic() < deadline:
            _, _, report = self._comparison()
            if not report.missing and self._open_commands() == 0:
                break
            time.sleep(1.0)
        # One more full second: a late duplicate would show up now, not after the verdict.
        time.sleep(1.5)
        self.result.drain_seconds = round(time.monotonic() - drain_started, 1)
        assert self.agent is not None
        self.agent.send_signal(signal.SIGTERM)
        try:
            self.agent.wait(30)
        except subprocess.TimeoutExpired:
            self.result.failures.append("the agent did not stop within 30 s of SIGTERM")
            self.agent.kill()
            self.agent.wait(10)

    def _verdict(self) -> None:
        from agent.models import FINAL_STATUSES, DeviceCommand

        r = self.result
        expected, stored, report = self._comparison()
        r.events_expected, r.events_stored = report.expected, report.stored
        r.lost = sum(
            expected[k] - stored.get(k, 0) for k in expected if expected[k] > stored.get(k, 0)
        )
        r.duplicated = sum(n - 1 for n in stored.values() if n > 1)
        r.unexpected = sum(stored[k] for k in report.unexpected)
        r.examples = {
            "missing": [str(k) for k in report.missing[:5]],
            "duplicated": [str(k) for k in report.duplicated[:5]],
            "unexpected": [str(k) for k in report.unexpected[:5]],
        }
        # Commands: one final outcome each; control ones observed on the panel side.
        rows = {
            row.pk: row
            for row in DeviceCommand.objects.filter(pk__in=[c.pk for c in self.commands])
        }
        r.commands = len(self.commands)
        r.command_outcomes = dict(Counter(row.status for row in rows.values()))
        r.commands_without_outcome = sum(
            1 for row in rows.values() if row.status not in FINAL_STATUSES or row.over_time is None
        )
        executions = self._executions()
        slack = timedelta(seconds=1.5 + 1.0)  # reply timeout + the panel's whole-second clock
        for cmd in self.commands:
            if cmd.signature is None:
                continue
            r.control_commands += 1
            row = rows[cmd.pk]
            times = executions.get((cmd.panel, *cmd.signature), [])
            if len(times) > 1:
                r.control_executed_twice += 1
                r.examples.setdefault("executed_twice", []).append(
                    f"#{cmd.pk} {cmd.content} {times}"
                )
            if (
                cmd.expires_at is not None
                and any(t > cmd.expires_at + slack for t in times)
                and row.status == "done"
            ):
                r.control_executed_after_expiry += 1
                r.examples.setdefault("late", []).append(
                    f"#{cmd.pk} {cmd.content} {times} > {cmd.expires_at}"
                )
            consistent = (
                (row.status == "done" and len(times) == 1)
                or (row.status in {"expired", "cancelled"} and not times)
                or (row.status == "failed" and len(times) <= 1)
            )
            if not consistent:
                r.control_outcome_mismatch += 1
                r.examples.setdefault("mismatch", []).append(
                    f"#{cmd.pk} {cmd.content}: {row.status} {row.return_code} {row.return_content!r}, executed {len(times)}x"
                )
        log = (
            self.agent_log.read_text(encoding="utf-8", errors="replace")
            if self.agent_log.exists()
            else ""
        )
        r.offline_transitions_logged = log.count(" is offline: ")
        r.agent_errors_logged = len(re.findall(r"Traceback|unexpected error", log))
        r.faults_by_kind = dict(sorted(self.kinds.items()))
        r.faults_injected = sum(self.kinds.values())
        checks = {
            "lost": r.lost,
            "duplicated": r.duplicated,
            "unexpected": r.unexpected,
            "commands without one final outcome": r.commands_without_outcome,
            "control commands executed twice": r.control_executed_twice,
            "control commands executed after expiry": r.control_executed_after_expiry,
            "control outcomes that disagree with the panel": r.control_outcome_mismatch,
            "tracebacks / unexpected errors in the agent log": r.agent_errors_logged,
        }
        r.failures += [f"{name}: {value}" for name, value in checks.items() if value]
        if r.restarts < self.config.kills:
            r.failures.append(f"only {r.restarts} restarts")
        r.ok = not r.failures

    def _executions(self) -> dict[tuple[int, int, int], list[datetime]]:
        port_index = {port: i for i, port in enumerate(self.panel_ports)}
        events = {sig[1] for sig in CONTROL_SIGNATURES}
        found: dict[tuple[int, int, int], list[datetime]] = {}
        with self.truth.open(encoding="utf-8") as stream:
            for line in stream:
                item = json.loads(line)
                if item["event_type"] in events:
                    key = (port_index[int(item["port"])], item["event_type"], item["door"])
                    when = datetime.fromisoformat(item["time"]).replace(tzinfo=UTC)
                    found.setdefault(key, []).append(when)
        return found

    # -- run ---------------------------------------------------------------------------------
    @property
    def max_events(self) -> int:
        return max(1, int(self.config.events_per_second * self.config.seconds))

    def run(self) -> ChaosResult:
        started = time.monotonic()
        self._create_database()
        try:
            self._start_simulator()
            self._start_proxies()
            self._migrate_and_register()
            self._start_agent()
            self._faults_phase()
            self._drain()
            self._verdict()
        except Exception as exc:
            self.result.failures.append(f"harness error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.result.duration_seconds = round(time.monotonic() - started, 1)
            if self.agent is not None and self.agent.poll() is None:
                self.agent.kill()
            for client in (getattr(self, "sim", None), getattr(self, "proxy", None)):
                if client is not None:
                    client.close()
            self.procs.stop_all()
            if self.agent_log_file is not None:
                self.agent_log_file.close()
            if not self.config.keep_db:
                self._drop_database()
        return self.result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.harness", description=__doc__)
    defaults = ChaosConfig()
    for name, value in asdict(defaults).items():
        if name == "agent_env":
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--json-out", help="write the result here")
    parser.add_argument("--agent-env", action="append", default=[], help="K=V for the agent")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    out = args.pop("json_out")
    agent_env = dict(item.split("=", 1) for item in args.pop("agent_env"))
    config = ChaosConfig(**args, agent_env=agent_env)
    result = Chaos(config).run()
    document = asdict(result)
    document["workdir"] = str(Path(config.workdir).resolve()) if config.workdir else ""
    if out:
        Path(out).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(result.summary(), flush=True)
    for failure in result.failures:
        print(f"chaos FAILURE: {failure}", flush=True)
    for kind, items in result.examples.items():
        for item in items:
            print(f"  {kind}: {item}", flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

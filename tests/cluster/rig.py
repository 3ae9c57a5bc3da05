"""A real multi-agent rig: PostgreSQL database, simulator process, agent processes, Redis proxy.

Shared by tests/cluster/test_multi_agent.py and bench/cluster.py. Everything is a real
process or socket: `run_commcenter --cluster` agents on the real Redis (one of them, when
asked, through `faultproxy.FaultProxy` so it can be cut off), the simulator in its own
process keeping the panels' view of their clients, and a commander process enqueuing
commands the way the web side does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from agent.cluster.keys import Keys
from agent.cluster.shards import shard_of
from faultproxy import FaultProxy
from faultproxy.proxy import Direction

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "zkeco_modern" / "manage.py"
HERE = Path(__file__).resolve().parent
PG_URL = os.environ.get("CLUSTER_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "zkeco_modern")]),
        ZKAGENT_RECONNECT_SECONDS="1",
        ZKAGENT_DEVICE_RELOAD_SECONDS="2",
        ZKAGENT_HEARTBEAT_TTL_SECONDS="6",
        ZKAGENT_STATUS_THROTTLE_SECONDS="30",
        ZKAGENT_TCP_TIMEOUT_SECONDS="2",
        ZKAGENT_COMMAND_EXPIRY_SECONDS="300",
    )
    return env


def postgres_unreachable() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable at {PG_URL.split('@')[-1]}: {str(exc).strip()}"
    return None


def redis_unreachable() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis unreachable at {REDIS_URL.split('@')[-1]}: {exc}"
    finally:
        client.close()
    return None


class _ProxyThread:
    """A FaultProxy to the real Redis, on its own event loop in a daemon thread."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = FaultProxy("127.0.0.1", 0, upstream_host, upstream_port, name="redis")
        self._call(self.proxy.start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def blackhole(self, on: bool) -> None:
        """Partition: bytes in both directions are dropped; connections stay open."""

        async def switch() -> None:
            self.proxy.set_blackhole(on, Direction.BOTH)

        self._call(switch())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class Agent:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    via_proxy: bool = False


@dataclass
class ClusterRig:
    """The processes of one multi-agent run; `close()` ends every one it started."""

    tmp: Path
    panels: int = 60
    shards: int = 64
    lease: float = 6.0
    events_per_second: float = 1.0
    interval: float = 0.5
    prefix: str = field(default_factory=lambda: f"test:{uuid.uuid4().hex[:12]}:commcenter:")
    dbname: str = field(default_factory=lambda: f"cluster_e2e_{uuid.uuid4().hex[:8]}")
    agents: dict[str, Agent] = field(default_factory=dict)
    samples: list[tuple[float, list[int]]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    devices: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        base = PG_URL.rsplit("/", 1)[0]
        self.database_url = f"{base}/{self.dbname}"
        self.keys = Keys(self.prefix)
        self.redis = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._proxy: _ProxyThread | None = None
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self.truth = self.tmp / "truth.jsonl"
        self._sim: subprocess.Popen[str] | None = None
        self._control = 0
        self._files: list[Any] = []

    # -- setup ----------------------------------------------------------------------------------
    def start(self) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        subprocess.run(
            [sys.executable, str(MANAGE), "migrate", "-v", "0"],
            env=self.env(),
            cwd=REPO,
            check=True,
            timeout=120,
        )
        self._sim = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "simproc.py"),
                "--panels",
                str(self.panels),
                "--truth",
                str(self.truth),
                "--events-per-second",
                str(self.events_per_second),
            ],
            env=self.env(),
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._sim.stdout is not None
        ready = json.loads(self._sim.stdout.readline())
        self.ports, self._control = ready["ports"], ready["control"]
        self.devices = json.loads(self.tool("register", *map(str, self.ports)))
        upstream = redis.connection.parse_url(REDIS_URL)
        self._proxy = _ProxyThread(
            upstream.get("host", "127.0.0.1"), int(upstream.get("port", 6379))
        )

    def env(self, redis_url: str = REDIS_URL) -> dict[str, str]:
        return _env(self.database_url, redis_url)

    def tool(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(HERE / "rigtool.py"), *args],
            env=self.env(),
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    # -- agents ---------------------------------------------------------------------------------
    def start_agent(self, name: str, *, via_proxy: bool = False) -> Agent:
        url = REDIS_URL
        if via_proxy:
            assert self._proxy is not None
            parsed = redis.connection.parse_url(REDIS_URL)
            url = f"redis://127.0.0.1:{self._proxy.proxy.port}/{parsed.get('db', 0)}"
        log = self.tmp / f"agent-{name}.log"
        stderr = log.open("ab")
        self._files.append(stderr)
        popen = subprocess.Popen(
            [
                sys.executable,
                str(MANAGE),
                "run_commcenter",
                "--redis-url",
                url,
                "--cluster",
                "--agent-id",
                name,
                "--cluster-lease",
                str(self.lease),
                "--cluster-shards",
                str(self.shards),
                "--redis-prefix",
                self.prefix,
                "--interval",
                str(self.interval),
                "--hours",
                "0",
            ],
            env=self.env(url),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        self._procs.append(popen)
        agent = Agent(name, popen, log, via_proxy)
        self.agents[name] = agent
        return agent

    def kill(self, name: str) -> None:
        agent = self.agents.pop(name)
        agent.popen.send_signal(signal.SIGKILL)
        agent.popen.wait(10)

    def stop_agents(self, timeout: float = 30.0) -> dict[str, int | None]:
        for agent in self.agents.values():
            agent.popen.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, agent in self.agents.items():
            try:
                codes[name] = agent.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                agent.popen.kill()
                codes[name] = None
        return codes

    def partition(self, on: bool) -> None:
        assert self._proxy is not None
        self._proxy.blackhole(on)

    # -- observing ------------------------------------------------------------------------------
    def sim(self, command: str) -> Any:
        with socket.create_connection(("127.0.0.1", self._control), timeout=10) as conn:
            conn.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def clients(self) -> list[int]:
        return list(self.sim("clients"))

    def start_sampling(self, every: float = 0.25) -> None:
        def loop() -> None:
            while not self._sampling.is_set():
                with contextlib.suppress(OSError, ValueError):
                    self.samples.append((time.time(), self.clients()))
                self._sampling.wait(every)

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(5)

    def holders(self) -> dict[int, tuple[str, int, int]]:
        """shard -> (agent, epoch, ttl ms), read directly from Redis (never through the proxy)."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(self.shards):
            pipe.get(self.keys.lease(shard))
            pipe.pttl(self.keys.lease(shard))
        flat = pipe.execute()
        found = {}
        for shard in range(self.shards):
            value, ttl = flat[2 * shard], flat[2 * shard + 1]
            if value:
                agent, _, epoch = value.rpartition("|")
                found[shard] = (agent, int(epoch), int(ttl))
        return found

    def panels_of(self, shards: set[int]) -> list[int]:
        """Panel indexes whose device lives in one of *shards*."""
        return [i for i, d in enumerate(self.devices) if shard_of(d, self.shards) in shards]

    def balanced(self, names: set[str]) -> bool:
        """Every shard held, by exactly the agents *names*, evenly; every panel has one client."""
        held = self.holders()
        if len(held) != self.shards or {h[0] for h in held.values()} != names:
            return False
        counts = [sum(1 for h in held.values() if h[0] == n) for n in names]
        return max(counts) - min(counts) <= 1 and all(c == 1 for c in self.clients())

    @staticmethod
    def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll every 0.1 s; returns the time.time() it became true; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError, redis.RedisError):
                if predicate():
                    return time.time()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.1)

    def start_commander(self, rate: float = 4.0) -> subprocess.Popen[bytes]:
        popen = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "rigtool.py"),
                "commander",
                self.prefix,
                str(self.shards),
                str(self.tmp / "commands.json"),
                str(rate),
            ],
            env=self.env(),
            cwd=REPO,
        )
        self._procs.append(popen)
        return popen

    def compare(self) -> dict[str, Any]:
        return dict(json.loads(self.tool("compare", str(self.truth), *map(str, self.ports))))

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("agent-*.log")):
            lines = path.read_text(errors="replace").splitlines()
            parts.append(f"--- {path.name}\n" + "\n".join(lines[-15:]))
        return "\n".join(parts)

    # -- teardown -------------------------------------------------------------------------------
    def close(self) -> None:
        self.stop_sampling()
        for popen in self._procs:
            if popen.poll() is None:
                popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(10)
        if self._sim is not None:
            if self._sim.poll() is None:
                self._sim.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._sim.wait(10)
            if self._sim.stdout is not None:
                self._sim.stdout.close()
        for handle in self._files:
            handle.close()
        if self._proxy is not None:
            self._proxy.close()
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=500))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()
        with contextlib.suppress(psycopg.Error), psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

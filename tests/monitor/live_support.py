"""A real deployment in miniature for the monitor's end-to-end tests.

One on-disk SQLite database shared by three processes, as on a real host: the agent
(`run_commcenter` subprocess, short interval), the monitor (`run_monitor`, uvicorn, a
subprocess) and the test, which sets the database up with `manage.py` and reads it with
sqlite3. The simulator runs in a thread of the test (tests/cli/simthread.py), so the test
can look at the simulated panel's doors directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "zkeco_modern" / "manage.py"
PASSWORD = "live-monitor-test-Pw1"  # noqa: S105 (test data)
USER = "operator"
START_TIMEOUT = 60.0  # seconds: a loaded 2-core machine starts Django slowly
_UVICORN = re.compile(r"Uvicorn running on http://([0-9.]+):(\d+)")

FAST_AGENT = {
    "ZKAGENT_INTERVAL": "0.2",
    "ZKAGENT_RECONNECT_SECONDS": "0.5",
    "ZKAGENT_DEVICE_RELOAD_SECONDS": "0.5",
    "ZKAGENT_STATUS_THROTTLE_SECONDS": "1",
    "ZKAGENT_HEARTBEAT_TTL_SECONDS": "3",
    "ZKAGENT_TCP_TIMEOUT_SECONDS": "2",
    "ZKAGENT_BACKEND": "memory",
    "MONITOR_POLL_SECONDS": "0.3",
}


def environment(database: Path, **extra: str) -> dict[str, str]:
    """The environment of every process of the rig: the shared database, fast agent knobs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ZKAGENT_", "MONITOR_", "DATABASE_URL", "PYTEST_"))
    }
    env.update(FAST_AGENT)
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    """Run one manage.py command to completion; AssertionError with its output on failure."""
    done = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def prepare(env: dict[str, str], simulator_port: int) -> int:
    """Migrate, create the operator account and one device for the simulated panel; its id."""
    manage(env, "migrate", "-v0")
    env_user = {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    manage(
        env_user, "createsuperuser", "--noinput", "--username", USER, "--email", "op@example.com"
    )
    script = (
        "from agent.models import Device, CommType;"
        f"d = Device.objects.create(alias='door-sim', comm_type=CommType.TCP, ipaddress='127.0.0.1',"
        f" ip_port={simulator_port}, acpanel_type=4, timezone='UTC');"
        "print(d.pk)"
    )
    return int(manage(env, "shell", "-c", script).strip().splitlines()[-1])


class Process:
    """A manage.py server subprocess with its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(MANAGE), *args],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(
        self, pattern: re.Pattern[str], timeout: float = START_TIMEOUT
    ) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{pattern.pattern!r} not seen; output:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (the clean stop), then SIGKILL if it hangs; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


@contextlib.contextmanager
def monitor(env: dict[str, str], log: Path) -> Iterator[str]:
    """`run_monitor --port 0` until the block ends; yields its base URL."""
    server = Process(env, log, "run_monitor", "--host", "127.0.0.1", "--port", "0")
    try:
        found = server.wait_for_output(_UVICORN)
        yield f"http://{found.group(1)}:{found.group(2)}"
    finally:
        server.stop()


@contextlib.contextmanager
def agent(env: dict[str, str], log: Path) -> Iterator[Process]:
    """`run_commcenter` until the block ends."""
    process = Process(env, log, "run_commcenter", "--interval", "0.2", "--agent-id", "e2e-live")
    try:
        yield process
    finally:
        code = process.stop()
        assert code == 0, f"the agent exited with {code}:\n{process.output()[-4000:]}"


def query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the shared database directly (read-only, like another client would)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)
    ) as db:
        return db.execute(sql, params).fetchall()


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def get_json(url: str, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """GET *url*; (status, JSON body), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

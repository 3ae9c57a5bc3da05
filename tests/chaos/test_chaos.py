"""The chaos test: ≥ 20 panels, faults from a seed, PostgreSQL and Redis cut, SIGKILL twice.

Runs tests/chaos/harness.py in its own process (see its docstring and docs/reliability.md)
and asserts its verdict: nothing lost, nothing doubled, one outcome per command, no control
command run twice or after its expiry. Needs the real PostgreSQL and Redis: skipped with
the reason locally, failed when CI is set. CHAOS_SEED picks another timetable.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _urls() -> tuple[str, str]:
    pg = os.environ.get("CHAOS_POSTGRES_URL")
    if not pg:
        base = urlsplit(
            os.environ.get("POSTGRES_TEST_URL", "postgres://postgres@127.0.0.1:5432/test")
        )
        pg = urlunsplit((base.scheme, base.netloc, "/postgres", "", ""))
    rd = os.environ.get("CHAOS_REDIS_URL")
    if not rd:
        base = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"))
        rd = urlunsplit((base.scheme, base.netloc, "/3", "", ""))  # db 3: the chaos run's own
    return pg, rd


def _unreachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    try:
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ).close()
    except OSError as exc:
        return f"{parts.hostname}:{parts.port or default_port}: {exc}"
    return None


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(400)
def test_chaos_nothing_lost_nothing_doubled(tmp_path: Path) -> None:
    pg, rd = _urls()
    for what, url, port in (("PostgreSQL", pg, 5432), ("Redis", rd, 6379)):
        reason = _unreachable(url, port)
        if reason is not None:
            if os.environ.get("CI"):
                pytest.fail(f"CI is set but {what} is unreachable: {reason}")
            pytest.skip(f"{what} unreachable: {reason}")
    out = tmp_path / "chaos.json"
    seed = os.environ.get("CHAOS_SEED", "20261203")
    command = [
        sys.executable, "-m", "tests.chaos.harness",
        "--panels", "20", "--seconds", "45", "--seed", seed,
        "--postgres-url", pg, "--redis-url", rd,
        "--workdir", str(tmp_path / "work"), "--json-out", str(out),
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=380, check=False
    )
    print(run.stdout)
    assert out.exists(), f"the harness wrote no result (rc {run.returncode}):\n{run.stderr[-4000:]}"
    result = json.loads(out.read_text())
    log = tmp_path / "work" / "agent.log"
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    assert result["ok"], f"{result['failures']}\n{run.stdout}\nagent log tail:\n{tail}"
    # The run really was chaotic (a harness that injects nothing would pass trivially).
    assert result["panels"] >= 20
    assert result["restarts"] >= 2
    assert result["db_outages"] >= 1
    assert result["redis_outages"] >= 1
    assert result["faults_injected"] >= 40
    assert result["events_expected"] > 1000
    assert result["commands"] >= 20
    assert result["control_commands"] >= 10
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert run.returncode == 0

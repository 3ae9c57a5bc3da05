"""The control channel, the CLI in its own process, and the seeded schedule."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from faultproxy import (
    KINDS,
    ControlClient,
    ControlError,
    Direction,
    FaultProxy,
    FaultSchedule,
    execute,
)

from .test_proxy import Upstream


@pytest.fixture
async def proxies() -> AsyncIterator[list[FaultProxy]]:
    upstream = Upstream()
    await upstream.start()
    ps = [FaultProxy("127.0.0.1", 0, "127.0.0.1", upstream.port) for _ in range(3)]
    for p in ps:
        await p.start()
    yield ps
    for p in ps:
        await p.stop()
    await upstream.stop()


async def test_execute_every_command(proxies: list[FaultProxy]) -> None:
    assert await execute(proxies, "latency 0 0.25 client") == "ok"
    assert proxies[0].status()["faults"]["client"] == {"latency": 0.25}
    assert await execute(proxies, "stall 1,2 5") == "ok"
    assert "stall" in proxies[2].status()["faults"]["upstream"]
    assert await execute(proxies, "cut all 10 upstream") == "ok"
    assert all(p.faults[Direction.UPSTREAM].cut_after == 10 for p in proxies)
    assert await execute(proxies, "cut all off") == "ok"
    assert await execute(proxies, "slice 1 on") == "ok"
    assert await execute(proxies, "blackhole 2 on client") == "ok"
    assert await execute(proxies, "reset all") == "ok 0"
    assert await execute(proxies, "down 0") == "ok"
    assert proxies[0].down
    assert await execute(proxies, "up 0") == "ok"
    assert await execute(proxies, "clear all") == "ok"
    ports = json.loads((await execute(proxies, "ports"))[3:])
    assert ports == [p.port for p in proxies]
    status = json.loads((await execute(proxies, "status 1"))[3:])
    assert status[0]["port"] == proxies[1].port
    assert status[0]["stats"]["faults_set"] == {"stall": 1, "cut": 1, "slice": 1, "reset": 1}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "empty"),
        ("bogus all", "unknown command"),
        ("latency", "missing target"),
        ("latency 9 1", "no proxy 9"),
        ("latency x 1", "bad target"),
        ("latency 0", "missing seconds"),
        ("latency 0 -1", "must be >= 0"),
        ("latency 0 nan", "must be >= 0"),
        ("stall 0 abc", "not a number"),
        ("slice 0 maybe", "on or off"),
        ("slice 0 on sideways", "bad direction"),
        ("cut 0", "missing byte count"),
    ],
)
async def test_execute_rejects_bad_lines(proxies: list[FaultProxy], line: str, why: str) -> None:
    reply = await execute(proxies, line)
    assert reply.startswith("error")
    assert why in reply


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    return srv, srv.getsockname()[1]


def test_cli_process_with_control_channel() -> None:
    upstream_sock, upstream_port = _echo_server()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            f"127.0.0.1:{upstream_port}",
            "--map",
            f"127.0.0.1:0=127.0.0.1:{upstream_port}",
            "--control-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert len(ready["ports"]) == 2
        with ControlClient("127.0.0.1", ready["control"]) as control:
            client = socket.create_connection(("127.0.0.1", ready["ports"][1]), timeout=10)
            server_side, _ = upstream_sock.accept()
            client.sendall(b"abc")
            assert server_side.recv(10) == b"abc"
            assert control.send("reset 1") == "1"
            client.settimeout(10)
            with pytest.raises(ConnectionResetError):
                client.recv(10)
            client.close()
            server_side.close()
            control.send("down 0")
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", ready["ports"][0]), timeout=10)
            control.send("up 0")
            socket.create_connection(("127.0.0.1", ready["ports"][0]), timeout=10).close()
            with pytest.raises(ControlError, match="unknown command"):
                control.send("explode 0")
            status = control.status()
            assert status[0]["stats"]["faults_set"] == {"down": 1}
            assert status[1]["stats"]["resets"] == 1
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stdout is not None
        proc.stdout.close()
        upstream_sock.close()


def test_cli_rejects_bad_arguments() -> None:
    for args in (["--listen", "127.0.0.1:0"], ["--listen", "nohost", "--upstream", "x:1"], []):
        result = subprocess.run(
            [sys.executable, "-m", "faultproxy", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2
        assert "error" in result.stderr


async def test_schedule_is_reproducible_and_every_line_is_valid(
    proxies: list[FaultProxy],
) -> None:
    a = FaultSchedule(seed=42, duration=60, targets=3, rate=2.0)
    b = FaultSchedule(seed=42, duration=60, targets=3, rate=2.0)
    c = FaultSchedule(seed=43, duration=60, targets=3, rate=2.0)
    assert a.events == b.events
    assert a.events != c.events
    assert len(a) > 50
    assert {e.kind for e in a} == set(KINDS)
    assert all(0 <= e.target < 3 and 0 <= e.at < 60 for e in a)
    timeline = a.timeline()
    assert [t for t, _ in timeline] == sorted(t for t, _ in timeline)
    for _, line in timeline:
        assert (await execute(proxies, line)).startswith("ok"), line
    for p in proxies:
        await p.clear()


def test_schedule_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultSchedule(1, 10, 1, kinds=("meteor",))
    with pytest.raises(ValueError, match="targets"):
        FaultSchedule(1, 10, 0)


async def test_schedule_runs_against_live_connection(proxies: list[FaultProxy]) -> None:
    """Faults come and go; once they are cleared traffic flows again on the same proxy."""
    for event in FaultSchedule(seed=5, duration=3, targets=1, rate=10.0, max_fault_seconds=0.2):
        assert (await execute(proxies, event.start_line())).startswith("ok")
    await proxies[0].clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxies[0].port)
    writer.write(b"after")
    assert await asyncio.wait_for(reader.readexactly(5), 10) == b"after"
    writer.close()

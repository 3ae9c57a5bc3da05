"""The command line: ready line, serving, ground truth, pty line, clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest

from zkpull.protocol.constants import Command, Dialect

from .simhelpers import TcpClient

READY = re.compile(r"^zkpull simulator: (\d+) panels? listening on 127\.0\.0\.1:([\d,-]+)$")


async def start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zkpull.simulator", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(20):
        while not lines or not READY.match(lines[-1]):
            line = await process.stdout.readline()
            if not line:
                raise AssertionError(f"simulator exited: {(await process.stderr.read()).decode()}")  # type: ignore[union-attr]
            lines.append(line.decode().rstrip("\n"))
    return process, lines


def ports(ready: str) -> list[int]:
    match = READY.match(ready)
    assert match is not None
    spec = match.group(2)
    if "," in spec:
        return [int(p) for p in spec.split(",")]
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> int:
    process.send_signal(signum)
    async with asyncio.timeout(10):
        return await process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_until_signalled(tmp_path: Path, signum: int) -> None:
    truth = tmp_path / "truth.jsonl"
    process, lines = await start(
        "--panels", "3", "--base-port", "0", "--firmware", "mixed", "--transactions", "10",
        "--events-per-second", "0", "--seed", "4", "--ground-truth", str(truth),
        "--control-port", "0", "--fault-delay", "0", "--password", "pw",
    )  # fmt: skip
    try:
        assert lines[0].startswith("zkpull simulator: control channel on 127.0.0.1:")
        assert READY.match(lines[-1]).group(1) == "3"  # type: ignore[union-attr]
        served = ports(lines[-1])
        assert len(served) == 3
        client = await TcpClient.open(served[1])
        assert (
            await client.connect(Dialect.SESSION, "pw")
        ).error_code == -13  # odd panels are legacy
        assert (await client.connect(Dialect.SESSIONLESS, "pw")).is_ok
        count = await client.request(Command.GET_DATA_COUNT, b"\x05")
        assert int.from_bytes(count.payload, "little") == 10
        await client.close()
        records = [json.loads(line) for line in truth.read_text().splitlines()]
        assert len(records) == 30
        assert {r["port"] for r in records} == set(served)
    finally:
        code = await stop(process, signum)
    assert code == 0


async def test_cli_serial_pty_and_fixed_base_port() -> None:
    process, lines = await start(
        "--panels", "2", "--base-port", "0", "--serial-pty", "--events-per-second", "0"
    )
    try:
        assert re.match(r"^zkpull simulator: RS485 bus on /dev/\S+, addresses 1-2$", lines[-2])
    finally:
        assert await stop(process) == 0


async def test_cli_generates_events_and_faults_apply(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    process, lines = await start(
        "--panels", "1", "--base-port", "0", "--events-per-second", "100", "--max-events", "7",
        "--ground-truth", str(truth), "--fault-refuse", "close",
    )  # fmt: skip
    try:
        port = ports(lines[-1])[0]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # refused: accepted and closed
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(10):
            while len(truth.read_text().splitlines()) < 7:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert len(truth.read_text().splitlines()) == 7
    finally:
        assert await stop(process) == 0


async def test_cli_reports_a_port_in_use() -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zkpull.simulator", "--base-port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(20):
            _out, err = await process.communicate()
        assert process.returncode == 2
        assert b"cannot start" in err
    finally:
        blocker.close()
        await blocker.wait_closed()

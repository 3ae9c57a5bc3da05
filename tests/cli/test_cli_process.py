"""`python -m zkpull` as a real process against the simulator: info, rtlog --follow, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .conftest import PASSWORD, Serve
from .simthread import BackgroundSimulator

PROCESS_TIMEOUT = 20


def zkpull(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkpull", *argv],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


def test_info(serve: Serve) -> None:
    bg = serve(firmware="sessionless", model="inBio260", password=PASSWORD)
    done = zkpull(bg.target(), "--password", PASSWORD, "--json", "info")
    assert (done.returncode, done.stderr) == (0, "")
    (line,) = done.stdout.splitlines()
    assert json.loads(line) == {
        "serial": bg.panel().serial,
        "firmware": "AC Ver 4.3.4 Apr 27 2017",
        "device": "inBio260",
        "doors": 2,
        "readers": 4,
        "aux_in": 2,
        "aux_out": 2,
        "time": "2026-12-03 16:40:05",
        "dialect": "sessionless",
    }


def test_wrong_password(serve: Serve) -> None:
    bg = serve(password=PASSWORD)
    done = zkpull(bg.target(), "--password", "guess", "info")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "error -14 (communication password not correct)" in done.stderr
    assert "[code -14]" in done.stderr


def test_unreachable(serve: Serve) -> None:
    done = zkpull("127.0.0.1:1", "--timeout", "2", "info")
    assert done.returncode == 3
    assert "link failed" in done.stderr


def _wait_requests(bg: BackgroundSimulator, process: subprocess.Popen[str], minimum: int) -> None:
    """Until the panel has served *minimum* requests (connect attempts included)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while bg.call(lambda: bg.panel().stats.requests) < minimum:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the CLI never polled"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("firmware", "as_json"), [("session", True), ("sessionless", False)], ids=["json", "text"]
)
def test_rtlog_follow_prints_events_until_sigint(
    serve: Serve, firmware: str, as_json: bool
) -> None:
    bg = serve(firmware=firmware)
    panel = bg.panel()
    argv = [bg.target(), *(["--json"] if as_json else []), "rtlog", "--follow", "--interval", "0.1"]
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "zkpull", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_requests(bg, process, 3)  # connected (which emptied the ring) and polling
        bg.call(panel.emit, 27, door=1, card=111, verify=4, inout=0)
        bg.call(panel.emit, 23, door=2, card=222, pin=1002, verify=4, inout=1)
        time.sleep(0.5)
        bg.call(panel.emit, 8, door=3)
        bg.wait_until(lambda: panel.pending_rt == 0, timeout=5, what="the CLI to poll the ring")
        # One more poll: the CLI has printed what the previous one returned.
        _wait_requests(bg, process, bg.call(lambda: panel.stats.requests) + 1)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert err == ""
    lines = out.splitlines()
    if as_json:
        records = [json.loads(line) for line in lines]  # idle status records are not printed
        assert [(r["kind"], r["event_type"], r["door"], r["card"], r["pin"]) for r in records] == [
            ("event", 27, 1, 111, 0),
            ("event", 23, 2, 222, 1002),
            ("event", 8, 3, 0, 0),
        ]
        assert {r["time"] for r in records} == {"2026-12-03 16:40:05"}
    else:
        assert [line.split("  # ")[0] for line in lines] == [
            "2026-12-03 16:40:05,0,111,1,27,0,4",
            "2026-12-03 16:40:05,1002,222,2,23,1,4",
            "2026-12-03 16:40:05,0,0,3,8,2,200",
        ]
    bg.wait_until(lambda: len(panel._connections) == 0, what="the CLI to hang up")

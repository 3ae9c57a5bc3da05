"""The CLI's RS485 path: `--serial PTY --address N --baud 38400` on the simulator's pty bus."""

from __future__ import annotations

from .conftest import PASSWORD, Run, Serve
from .simthread import BackgroundSimulator


def serial_args(bg: BackgroundSimulator, address: int, *command: str) -> list[str]:
    assert bg.simulator.pty_path is not None
    return ["--serial", bg.simulator.pty_path, "--address", str(address), "--baud", "38400",
            "--password", PASSWORD, *command]  # fmt: skip


def test_info_per_address(serve: Serve, run: Run) -> None:
    bg = serve(2, serial_pty=True, firmware="mixed", password=PASSWORD)  # 1: session, 2: legacy
    for address, dialect in ((1, "session"), (2, "sessionless")):
        result = run(*serial_args(bg, address, "--json", "info"))
        assert (result.code, result.err) == (0, ""), result
        (info,) = result.json()
        assert info["serial"] == bg.panel(address - 1).serial
        assert info["dialect"] == dialect
        assert info["doors"] == 4


def test_control_reaches_only_the_addressed_panel(serve: Serve, run: Run) -> None:
    bg = serve(2, serial_pty=True, password=PASSWORD)
    result = run(*serial_args(bg, 2, "door", "1", "open", "5"))
    assert (result.code, result.out) == (0, "ok\n"), result
    assert bg.call(bg.panel(1).doors.door_unlocked, 1)
    assert not bg.call(bg.panel(0).doors.door_unlocked, 1)
    count = run(*serial_args(bg, 1, "count", "user"))
    assert (count.code, count.out) == (0, "20\n")
    params = run(*serial_args(bg, 2, "params", "DeviceID"))
    assert params.out == "DeviceID: 2\n"


def test_wrong_password_over_rs485(serve: Serve, run: Run) -> None:
    bg = serve(1, serial_pty=True, password=PASSWORD)
    result = run("--serial", str(bg.simulator.pty_path), "--password", "nope", "info")
    assert result.code == 1
    assert "[code -14]" in result.err


def test_absent_address_times_out(serve: Serve, run: Run) -> None:
    bg = serve(1, serial_pty=True, password=PASSWORD)
    result = run(*serial_args(bg, 7, "--timeout", "0.3", "info"))
    assert result.code == 3
    assert "link failed" in result.err


def test_missing_serial_device_exits_3(run: Run) -> None:
    result = run("--serial", "/dev/nonexistent-zkpull-tty", "info")
    assert result.code == 3
    assert "link failed" in result.err

"""`zkpull.cli.main()` in-process against the simulator, for every command, text and --json.

The simulator runs on a background thread's loop (main() calls asyncio.run itself); each test
checks both what the CLI printed and what changed inside the simulated panel.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from zkpull.simulator import FakePanel

from .conftest import PASSWORD, T0, Result, Run, Serve
from .simthread import BackgroundSimulator, free_port

TRANSACTION_FIELDS = (
    "Cardno",
    "Pin",
    "Verified",
    "DoorID",
    "EventType",
    "InOutState",
    "Time_second",
)


def cli_args(bg: BackgroundSimulator, *command: str, json_output: bool = False) -> list[str]:
    return [bg.target(), "--password", PASSWORD, *(["--json"] if json_output else []), *command]


def stored_events(bg: BackgroundSimulator, since: int = 0) -> list[tuple[int, ...]]:
    """Transaction rows (card, pin, verify, door, event, inout, time) from index *since*."""
    return bg.call(lambda: list(bg.panel().transactions.rows())[since:])


def event_count(bg: BackgroundSimulator) -> int:
    return bg.call(lambda: len(bg.panel().transactions))


def events_after_connect(
    monkeypatch: pytest.MonkeyPatch, panel: FakePanel, *events: dict[str, Any]
) -> None:
    """Emit *events* right after the next CONNECT has emptied the RT ring (so one poll sees them)."""
    clear = panel.clear_rt
    pending = list(events)

    def clear_then_emit() -> None:
        clear()
        while pending:
            spec = dict(pending.pop(0))
            panel.emit(spec.pop("event_type"), **spec)

    monkeypatch.setattr(panel, "clear_rt", clear_then_emit)


def ok(result: Result) -> Result:
    assert result.code == 0, result
    assert result.err == "", result
    return result


# -- info, params, set-param ----------------------------------------------------------------------
@pytest.mark.parametrize("firmware", ["session", "sessionless"])
def test_info_text(serve: Serve, run: Run, firmware: str) -> None:
    bg = serve(firmware=firmware, model="C3-200")
    panel = bg.panel()
    result = ok(run(bg.target(), "info"))
    assert result.lines == [
        f"serial: {panel.serial}",
        f"firmware: {panel.config.firmware_version}",
        "device: C3-200",
        "doors: 2",
        "readers: 4",
        "aux_in: 2",
        "aux_out: 2",
        "time: 2026-12-03 16:40:05",
        f"dialect: {firmware}",
    ]


def test_info_json(bg: BackgroundSimulator, run: Run) -> None:
    (info,) = ok(run(*cli_args(bg, "info", json_output=True))).json()
    assert info == {
        "serial": bg.panel().serial,
        "firmware": "AC Ver 5.0.9 4609-06 Jun 26 2018",
        "device": "C3-400",
        "doors": 4,
        "readers": 4,
        "aux_in": 4,
        "aux_out": 4,
        "time": "2026-12-03 16:40:05",
        "dialect": "session",
    }


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["TARGET", "--password", PASSWORD, "--json", "info"], id="host-first"),
        pytest.param(["--password", PASSWORD, "TARGET", "--json", "info"], id="host-between"),
        pytest.param(["--json", "--password", PASSWORD, "TARGET", "info"], id="host-last"),
        pytest.param(["--json", "--password=" + PASSWORD, "TARGET", "info"], id="equals-form"),
    ],
)
def test_options_may_sit_on_either_side_of_the_host(
    bg: BackgroundSimulator, run: Run, argv: list[str]
) -> None:
    """The documented `HOST [--password P] [--json] COMMAND` form (argparse once gave HOST to COMMAND)."""
    argv = [bg.target() if arg == "TARGET" else arg for arg in argv]
    (info,) = ok(run(*argv)).json()
    assert info["serial"] == bg.panel().serial


def test_params(bg: BackgroundSimulator, run: Run) -> None:
    result = ok(run(*cli_args(bg, "params", "LockCount", "~SerialNumber", "Door2Drivertime")))
    assert result.lines == [
        "LockCount: 4",
        f"~SerialNumber: {bg.panel().serial}",
        "Door2Drivertime: 5",
    ]
    (values,) = ok(run(*cli_args(bg, "params", "AuxOutCount", "MAC", json_output=True))).json()
    assert values == {"AuxOutCount": "4", "MAC": "00:17:61:00:00:00"}


def test_set_param_stores_values(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    result = ok(run(*cli_args(bg, "set-param", "Door1Drivertime=9", "Door3Detectortime=45")))
    assert result.out == "ok\n"
    assert bg.call(panel.param, "Door1Drivertime") == "9"
    assert bg.call(panel.param, "Door3Detectortime") == "45"
    (reply,) = ok(run(*cli_args(bg, "set-param", "AntiPassback=2", json_output=True))).json()
    assert reply == {"ok": True, "set": {"AntiPassback": "2"}}
    assert bg.call(panel.param, "AntiPassback") == "2"
    (values,) = ok(run(*cli_args(bg, "params", "Door1Drivertime", json_output=True))).json()
    assert values == {"Door1Drivertime": "9"}


def test_set_param_refused_and_malformed(bg: BackgroundSimulator, run: Run) -> None:
    refused = run(*cli_args(bg, "set-param", "LockCount=2"))  # read-only on the panel
    assert refused.code == 1
    assert "[code -12]" in refused.err
    assert "command not executed correctly" in refused.err
    assert bg.call(bg.panel().param, "LockCount") == "4"
    malformed = run(*cli_args(bg, "set-param", "Door1Drivertime"))
    assert malformed.code == 2
    assert "is not NAME=VALUE" in malformed.err


# -- rtlog ----------------------------------------------------------------------------------------
def test_rtlog_one_poll_prints_pending_events(
    bg: BackgroundSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_after_connect(
        monkeypatch,
        bg.panel(),
        {"event_type": 27, "door": 2, "card": 7125793, "verify": 4, "inout": 0},
        {"event_type": 0, "door": 1, "pin": 1001, "card": 11621758, "verify": 4, "inout": 1},
    )
    result = ok(run(*cli_args(bg, "rtlog")))
    # GetRTLog text order (§9): time,pin,cardno,door,eventtype,inoutstate,verifytype
    assert len(result.lines) == 2
    assert result.lines[0].startswith("2026-12-03 16:40:05,0,7125793,2,27,0,4  # Unregistered Card")
    assert result.lines[1].startswith(
        "2026-12-03 16:40:05,1001,11621758,1,0,1,4  # Normal Punch Open"
    )


def test_rtlog_one_poll_json(
    bg: BackgroundSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_after_connect(monkeypatch, bg.panel(), {"event_type": 8, "door": 3})
    (record,) = ok(run(*cli_args(bg, "rtlog", json_output=True))).json()
    assert record == {
        "kind": "event",
        "time": "2026-12-03 16:40:05",
        "pin": 0,
        "card": 0,
        "door": 3,
        "event_type": 8,
        "event": "Remote Opening",
        "inout": 2,
        "verify": 200,
    }


@pytest.mark.parametrize("firmware", ["session", "sessionless"])
def test_rtlog_idle_poll_prints_the_status_record(serve: Serve, run: Run, firmware: str) -> None:
    bg = serve(firmware=firmware)
    bg.call(bg.panel().emit, 200, door=3, to_ring=False)  # door 3 opened
    bg.call(bg.panel().emit, 102, door=2, to_ring=False)  # door 2 forced: alarm
    (line,) = ok(run(bg.target(), "rtlog")).lines
    assert line.endswith(
        "# status: door 1: closed, door 2: closed ALARM, door 3: open, door 4: closed"
    )
    assert line.startswith("2026-12-03 16:40:05,")
    (record,) = ok(run(bg.target(), "--json", "rtlog")).json()
    assert record == {
        "kind": "status",
        "time": "2026-12-03 16:40:05",
        "sensors": [1, 1, 2, 1],
        "alarms": [0, 1, 0, 0],
    }


def test_rtlog_key_value_firmware(serve: Serve, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    bg = serve(firmware="sessionless", kv_rtlog=True)
    events_after_connect(monkeypatch, bg.panel(), {"event_type": 202, "door": 4})
    (record,) = ok(run(bg.target(), "--json", "rtlog")).json()
    assert (record["kind"], record["event_type"], record["door"]) == ("event", 202, 4)


# -- tables ---------------------------------------------------------------------------------------
def test_table_all_rows_json(bg: BackgroundSimulator, run: Run) -> None:
    rows = ok(run(*cli_args(bg, "table", "user", json_output=True))).json()
    users = bg.call(bg.panel().users)
    assert len(rows) == 20
    assert [(r["Pin"], r["CardNo"]) for r in rows] == users
    assert set(rows[0]) == {
        "UID", "CardNo", "Pin", "Password", "Group", "StartTime", "EndTime", "Name", "SuperAuthorize",
    }  # fmt: skip


def test_table_fields_and_filter(bg: BackgroundSimulator, run: Run) -> None:
    pin, card = bg.call(bg.panel().users)[3]
    result = run(*cli_args(bg, "table", "user", "--fields", "Pin,CardNo", "--filter", f"Pin={pin}"))
    assert result.code == 0
    assert result.lines == [f"{pin},{card}"]
    assert result.err == "# 1 rows\n"
    rows = ok(
        run(*cli_args(bg, "table", "user", "--fields", "CardNo", "--filter", f"CardNo={card}",
                      json_output=True))
    ).json()  # fmt: skip
    assert rows == [{"CardNo": card}]


def test_table_transactions_new_and_commit(bg: BackgroundSimulator, run: Run) -> None:
    stored = [dict(zip(TRANSACTION_FIELDS, row, strict=True)) for row in stored_events(bg)]
    assert len(stored) == 5
    text = run(*cli_args(bg, "table", "transaction", "--new"))
    assert text.code == 0
    assert text.lines == [",".join(str(v) for v in row.values()) for row in stored]
    assert text.err == "# 5 rows\n"
    # Without --commit the read pointer stays: the same 5 are new again; --commit moves it.
    assert (
        ok(run(*cli_args(bg, "table", "transaction", "--new", "--commit", json_output=True))).json()
        == stored
    )
    assert bg.call(lambda: bg.panel().read_pointer) == 5
    after = run(*cli_args(bg, "table", "transaction", "--new"))
    assert (after.code, after.out, after.err) == (0, "", "# 0 rows\n")
    bg.call(bg.panel().emit, 27, door=1, card=99)
    (new,) = ok(run(*cli_args(bg, "table", "transaction", "--new", json_output=True))).json()
    assert (new["EventType"], new["DoorID"], new["Cardno"]) == (27, 1, 99)
    assert len(ok(run(*cli_args(bg, "table", "transaction", json_output=True))).json()) == 6


def test_table_unknown_name_is_a_usage_error(bg: BackgroundSimulator, run: Run) -> None:
    result = run(*cli_args(bg, "table", "nosuchtable"))
    assert result.code == 2
    assert "nosuchtable" in result.err


@pytest.mark.parametrize("firmware", ["session", "sessionless"])
def test_tables(serve: Serve, run: Run, firmware: str) -> None:
    bg = serve(firmware=firmware)
    text = ok(run(bg.target(), "tables"))
    assert (
        "transaction=5: Cardno, Pin, Verified, DoorID, EventType, InOutState, Time_second"
        in text.lines
    )
    listed = ok(run(bg.target(), "--json", "tables")).json()
    names = [t["table"] for t in listed]
    legacy = ["user", "userauthorize", "holiday", "timezone", "transaction", "firstcard",
              "multimcard", "inoutfun"]  # fmt: skip
    newer = ["template", "templatev10", "losscard", "usertype", "wiegandfmt"]
    assert names == (legacy + newer if firmware == "session" else legacy)
    user = next(t for t in listed if t["table"] == "user")
    if firmware == "sessionless":  # the captured legacy layout (§6.1)
        assert user == {
            "table": "user", "id": 1,
            "fields": {"CardNo": "i1", "Pin": "i2", "Password": "s3", "Group": "i4",
                       "StartTime": "i5", "EndTime": "i6", "SuperAuthorize": "i7"},
        }  # fmt: skip
    else:
        assert user["fields"]["UID"] == "i1"
        assert user["fields"]["Name"] == "s8"


def test_count(bg: BackgroundSimulator, run: Run) -> None:
    assert ok(run(*cli_args(bg, "count", "transaction"))).out == "5\n"
    assert ok(run(*cli_args(bg, "count", "user", json_output=True))).json() == [
        {"table": "user", "count": 20}
    ]
    assert ok(run(*cli_args(bg, "count", "holiday"))).out == "0\n"


# -- control --------------------------------------------------------------------------------------
def test_door_open_close_hold(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    start = event_count(bg)
    assert ok(run(*cli_args(bg, "door", "1", "open", "5"))).out == "ok\n"
    assert bg.call(panel.doors.door_unlocked, 1)
    assert not bg.call(panel.doors.door_unlocked, 2)
    bg.call(bg.clock.advance, 6)
    assert not bg.call(panel.doors.door_unlocked, 1)  # relocked after 5 s

    (reply,) = ok(run(*cli_args(bg, "door", "2", "hold", json_output=True))).json()
    assert reply == {"ok": True, "door": 2, "action": "hold", "seconds": 255}
    bg.call(bg.clock.advance, 3600)
    assert bg.call(panel.doors.door_unlocked, 2)
    (reply,) = ok(run(*cli_args(bg, "door", "2", "close", json_output=True))).json()
    assert reply == {"ok": True, "door": 2, "action": "close", "seconds": 0}
    assert not bg.call(panel.doors.door_unlocked, 2)
    # Each command logged the event a real panel would (§3.4): 8, 205, 9, door-addressed.
    assert [(r[3], r[4]) for r in stored_events(bg, start)] == [(1, 8), (2, 205), (2, 9)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["door", "1", "open"], "open needs SECONDS"),
        (["door", "1", "open", "0"], "SECONDS must be 1..254"),
        (["door", "1", "open", "255"], "SECONDS must be 1..254"),
    ],
)
def test_door_bad_usage(bg: BackgroundSimulator, run: Run, argv: list[str], message: str) -> None:
    result = run(*cli_args(bg, *argv))
    assert result.code == 2
    assert message in result.err
    assert not bg.call(bg.panel().doors.door_unlocked, 1)


def test_door_that_does_not_exist_is_refused(serve: Serve, run: Run) -> None:
    bg = serve(model="C3-100")
    result = run(bg.target(), "door", "2", "open", "5")
    assert result.code == 1
    assert "[code -11]" in result.err
    assert "data parameter error" in result.err


def test_aux_output(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    start = event_count(bg)
    assert ok(run(*cli_args(bg, "aux", "3", "open", "7"))).out == "ok\n"
    assert bg.call(panel.doors.aux_active, 3)
    bg.call(bg.clock.advance, 8)
    assert not bg.call(panel.doors.aux_active, 3)
    (reply,) = ok(run(*cli_args(bg, "aux", "1", "hold", json_output=True))).json()
    assert reply == {"ok": True, "aux": 1, "action": "hold", "seconds": 255}
    assert bg.call(panel.doors.aux_active, 1)
    ok(run(*cli_args(bg, "aux", "1", "close")))
    assert not bg.call(panel.doors.aux_active, 1)
    assert [(r[3], r[4]) for r in stored_events(bg, start)] == [(3, 12), (1, 12), (1, 13)]


def test_normal_open(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    start = event_count(bg)
    (reply,) = ok(run(*cli_args(bg, "normal-open", "3", "on", json_output=True))).json()
    assert reply == {"ok": True, "door": 3, "normal_open": True}
    bg.call(bg.clock.advance, 86400)
    assert bg.call(panel.doors.door_unlocked, 3)
    assert ok(run(*cli_args(bg, "normal-open", "3", "off"))).out == "ok\n"
    assert not bg.call(panel.doors.door_unlocked, 3)
    assert [(r[3], r[4]) for r in stored_events(bg, start)] == [(3, 11), (3, 10)]


@pytest.mark.parametrize("door", ["2", "0"])
def test_cancel_alarm(bg: BackgroundSimulator, run: Run, door: str) -> None:
    panel = bg.panel()
    bg.call(panel.emit, 102, door=2)  # forced open: alarm bit 0
    bg.call(panel.emit, 28, door=4)  # open too long: bit 1
    assert bg.call(lambda: list(panel.doors.alarms)) == [0, 1, 0, 2]
    start = event_count(bg)
    (reply,) = ok(run(*cli_args(bg, "cancel-alarm", door, json_output=True))).json()
    assert reply == {"ok": True, "door": int(door)}
    assert bg.call(lambda: list(panel.doors.alarms)) == [0, 0, 0, 0]
    assert [(r[3], r[4]) for r in stored_events(bg, start)] == [(int(door), 7)]
    (status,) = ok(run(*cli_args(bg, "--json", "rtlog"))).json()
    assert status["alarms"] == [0, 0, 0, 0]


def test_set_time_explicit(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    assert ok(run(*cli_args(bg, "set-time", "2027-01-02 03:04:05"))).out == "ok\n"
    assert bg.call(panel.now) == datetime(2027, 1, 2, 3, 4, 5)  # noqa: DTZ001
    (reply,) = ok(run(*cli_args(bg, "set-time", "2030-06-15 12:00:00", json_output=True))).json()
    assert reply == {"ok": True, "time": "2030-06-15 12:00:00"}
    assert bg.call(panel.now) == datetime(2030, 6, 15, 12, 0, 0)  # noqa: DTZ001
    (info,) = ok(run(*cli_args(bg, "info", json_output=True))).json()
    assert info["time"] == "2030-06-15 12:00:00"


def test_set_time_now(bg: BackgroundSimulator, run: Run) -> None:
    assert bg.call(bg.panel().now) == T0
    before = datetime.now().replace(microsecond=0)  # noqa: DTZ005 the panel keeps local time
    ok(run(*cli_args(bg, "set-time", "--now")))
    after = datetime.now()  # noqa: DTZ005
    moment = bg.call(bg.panel().now)
    assert before <= moment <= after + timedelta(seconds=1)


def test_set_time_needs_a_time(bg: BackgroundSimulator, run: Run) -> None:
    result = run(*cli_args(bg, "set-time"))
    assert result.code == 2
    assert "give --now or a time" in result.err
    assert bg.call(bg.panel().now) == T0


def test_restart(bg: BackgroundSimulator, run: Run) -> None:
    panel = bg.panel()
    assert ok(run(*cli_args(bg, "restart"))).out == "ok: panel restarting\n"
    assert bg.call(lambda: panel.stats.reboots) == 1
    assert stored_events(bg)[-1][3:5] == (0, 206)  # device start, door 0
    assert ok(run(*cli_args(bg, "restart", json_output=True))).json() == [{"ok": True}]
    assert bg.call(lambda: panel.stats.reboots) == 2
    ok(run(*cli_args(bg, "info")))  # it serves again after the reboot


# -- --json for every command ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["info"],
        ["params", "LockCount", "ReaderCount"],
        ["set-param", "Door4Intertime=3"],
        ["rtlog"],
        ["table", "transaction"],
        ["table", "user", "--fields", "Pin"],
        ["tables"],
        ["count", "transaction"],
        ["door", "1", "open", "3"],
        ["aux", "2", "close"],
        ["normal-open", "1", "on"],
        ["cancel-alarm"],
        ["set-time", "--now"],
        ["restart"],
    ],
    ids="-".join,
)
def test_json_output_is_one_object_per_line(
    bg: BackgroundSimulator, run: Run, command: list[str]
) -> None:
    result = ok(run(*cli_args(bg, *command, json_output=True)))
    assert result.lines, "no output"
    for line in result.lines:
        assert isinstance(json.loads(line), dict), line


# -- dialects, passwords, link failures -----------------------------------------------------------
@pytest.mark.parametrize(
    ("firmware", "dialect", "expected"),
    [
        ("session", "auto", "session"),
        ("session", "sessionless", "sessionless"),  # the session firmware also takes 0x01
        ("sessionless", "auto", "sessionless"),  # 0x76 -> -13 -> 0x01 on the same socket
        ("sessionless", "sessionless", "sessionless"),
    ],
)
def test_dialect(serve: Serve, run: Run, firmware: str, dialect: str, expected: str) -> None:
    bg = serve(firmware=firmware)
    (info,) = ok(run(bg.target(), "--dialect", dialect, "--json", "info")).json()
    assert info["dialect"] == expected


def test_forcing_session_on_sessionless_firmware_fails(serve: Serve, run: Run) -> None:
    bg = serve(firmware="sessionless")
    result = run(bg.target(), "--dialect", "session", "info")
    assert result.code == 1
    assert result.out == ""
    assert "[code -13]" in result.err
    assert "command not available" in result.err


@pytest.mark.parametrize("firmware", ["session", "sessionless"])
@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_password(serve: Serve, run: Run, firmware: str, password: str) -> None:
    bg = serve(firmware=firmware, password=PASSWORD)
    result = run(bg.target(), "--password", password, "door", "1", "open", "5")
    assert result.code == 1
    assert result.out == ""
    assert "error -14 (communication password not correct)" in result.err
    assert "[code -14]" in result.err
    assert not bg.call(bg.panel().doors.door_unlocked, 1)


def test_unreachable_port_exits_3(run: Run) -> None:
    result = run(f"127.0.0.1:{free_port()}", "--timeout", "2", "info")
    assert result.code == 3
    assert result.out == ""
    assert result.err.startswith("error: link failed:")


def test_silent_panel_times_out_with_exit_3(serve: Serve, run: Run) -> None:
    bg = serve()
    bg.call(bg.panel().faults.set, "delay", 5.0)
    result = run(bg.target(), "--timeout", "0.3", "info")
    assert result.code == 3
    assert "link failed" in result.err


def test_target_or_serial_is_required(run: Run) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("info")
    assert exit_info.value.code == 2

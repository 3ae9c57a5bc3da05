"""GETPARAM / SETPARAM: echo rules per firmware, DateTime, Reboot, ComPwd, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zkpull.protocol.constants import Command, Dialect
from zkpull.protocol.params import decode_params, encode_params
from zkpull.protocol.timecodec import decode_time, encode_time
from zkpull.simulator import FakePanel, Firmware, PanelConfig

from .simhelpers import T0, MemClient, clock

OLD_KEY = "old"


def connected(firmware: Firmware = Firmware.SESSION, **config: object) -> MemClient:
    client = MemClient(FakePanel(PanelConfig(firmware=firmware, **config), clock=clock()))  # type: ignore[arg-type]
    dialect = Dialect.SESSION if firmware is Firmware.SESSION else Dialect.SESSIONLESS
    assert client.connect(dialect, str(config.get("password", ""))).is_ok
    return client


def test_legacy_getparam_echoes_every_name_in_request_order() -> None:
    client = connected(Firmware.SESSIONLESS, model="C3-400")
    reply = client.request(
        Command.GET_DEVICE_PARAM, b"~ZKFPVersion,~SerialNumber,LockCount,Bogus,ReaderCount,"
    )
    serial = client.panel.serial
    assert (
        reply.payload
        == f"~ZKFPVersion=,~SerialNumber={serial},LockCount=4,Bogus=,ReaderCount=4".encode()
    )


def test_session_getparam_omits_unknown_names() -> None:
    client = connected(model="C3-200")
    reply = client.request(
        Command.GET_DEVICE_PARAM, b"~ZKFPVersion,LockCount,Bogus,ReaderCount,AuxInCount,AuxOutCount"
    )
    assert reply.payload == b"~ZKFPVersion=10,LockCount=2,ReaderCount=4,AuxInCount=2,AuxOutCount=2"
    assert client.request(Command.GET_DEVICE_PARAM, b"Bogus").error_code == -12


@pytest.mark.parametrize(
    ("model", "counts"),
    [
        ("C3-100", (1, 2, 0, 1)),
        ("C3-200", (2, 4, 2, 2)),
        ("C3-400", (4, 4, 4, 4)),
        ("inBio160", (1, 2, 1, 1)),
        ("inBio260", (2, 4, 2, 2)),
        ("inBio460", (4, 4, 4, 4)),
    ],
)
def test_model_capabilities(model: str, counts: tuple[int, int, int, int]) -> None:
    client = connected(model=model)
    values = decode_params(
        client.request(
            Command.GET_DEVICE_PARAM, b"LockCount,ReaderCount,AuxInCount,AuxOutCount"
        ).payload
    )
    assert tuple(int(v) for v in values.values()) == counts
    names = f"DeviceName,Door{counts[0]}Drivertime,Door{counts[0]}Detectortime".encode()
    assert decode_params(client.request(Command.GET_DEVICE_PARAM, names).payload) == {
        "DeviceName": model, f"Door{counts[0]}Drivertime": "5", f"Door{counts[0]}Detectortime": "20",
    }  # fmt: skip


def test_getparam_limits() -> None:
    client = connected()
    assert client.request(Command.GET_DEVICE_PARAM, b"").error_code == -11
    assert (
        client.request(Command.GET_DEVICE_PARAM, ",".join(["LockCount"] * 31).encode()).error_code
        == -12
    )
    assert client.request(Command.GET_DEVICE_PARAM, b"X" * 41).error_code == -12


def test_setparam_datetime_moves_the_panel_clock() -> None:
    client = connected()
    target = T0 + timedelta(days=3, hours=2, seconds=7)
    assert client.request(
        Command.SET_DEVICE_PARAM, encode_params({"DateTime": encode_time(target)})
    ).is_ok
    assert client.panel.now() == target
    client.panel.clock.advance(10)  # type: ignore[attr-defined]
    packed = decode_params(client.request(Command.GET_DEVICE_PARAM, b"DateTime").payload)[
        "DateTime"
    ]
    assert decode_time(int(packed)) == target + timedelta(seconds=10)


def test_setparam_comm_password_applies_to_the_next_connect() -> None:
    client = connected(password=OLD_KEY)
    assert client.request(Command.SET_DEVICE_PARAM, b"ComPwd=new").is_ok
    assert MemClient(client.panel).connect(Dialect.SESSION, "old").error_code == -14
    assert MemClient(client.panel).connect(Dialect.SESSION, "new").is_ok


def test_setparam_stores_other_values() -> None:
    client = connected()
    assert client.request(
        Command.SET_DEVICE_PARAM, b"Door1Drivertime=6,Door1Intertime=3,Custom=x"
    ).is_ok
    reply = client.request(Command.GET_DEVICE_PARAM, b"Door1Drivertime,Door1Intertime,Custom")
    assert reply.payload == b"Door1Drivertime=6,Door1Intertime=3,Custom=x"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", -11),
        (b"NoEquals", -11),
        (b"DateTime=soon", -11),
        (b"DateTime=%d" % (61 * 86400), -11),  # 31 February 2000: representable, not a date
        (b"~SerialNumber=X", -12),
        (b"LockCount=9", -12),
        (b"IPAddress=010.0.0.1", -12),
        (b"IPAddress=999.1.1.1", -12),
        (b"ComPwd=" + b"x" * 16, -12),
        (b",".join(b"A%d=1" % i for i in range(31)), -12),
    ],
)
def test_setparam_rejections(payload: bytes, code: int) -> None:
    client = connected()
    before = client.panel.now()
    assert client.request(Command.SET_DEVICE_PARAM, payload).error_code == code
    assert client.panel.now() == before


def test_setparam_is_all_or_nothing() -> None:
    client = connected()
    assert (
        client.request(Command.SET_DEVICE_PARAM, b"Door1Drivertime=9,LockCount=1").error_code == -12
    )
    assert (
        client.request(Command.GET_DEVICE_PARAM, b"Door1Drivertime").payload == b"Door1Drivertime=5"
    )


def test_setparam_reboot_replies_then_reboots() -> None:
    client = connected()
    reply = client.request(Command.SET_DEVICE_PARAM, b"Reboot=1")
    assert reply.is_ok
    assert client.conn.closed
    assert client.panel.stats.reboots == 1
    assert [e.event_type for e in client.panel.take_rt(30)] == [206]

"""Code tables: descriptions exist for every member and describe_* never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkpull.protocol import (
    AuthenticationError,
    DeviceError,
    ErrorCode,
    EventType,
    InOutState,
    VerifyMode,
    describe_error,
    describe_event,
    describe_inout,
    describe_verify,
    is_alarm_event,
)

ENUMS = [EventType, VerifyMode, InOutState, ErrorCode]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_member_has_a_description(enum: type[EventType]) -> None:
    for member in enum:
        assert isinstance(member.description, str), member
        assert member.description.strip(), member
        assert enum(int(member)) is member


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "Normal Punch Open"),
        (8, "Remote Opening"),
        (9, "Remote Closing"),
        (27, "Unregistered Card"),
        (102, "Opened Forcefully"),
        (206, "Device Started"),
        (255, "Current door and alarm status"),
    ],
)
def test_event_descriptions(code: int, text: str) -> None:
    assert describe_event(code) == text == EventType(code).description


def test_known_codes_are_described() -> None:
    assert describe_verify(4) == "Only card"
    assert describe_verify(200) == "Others"
    assert describe_inout(0) == "In"
    assert describe_inout(1) == describe_inout(3) == "Out"  # VPY reads 3 as exit (§7.3)
    assert describe_error(-13) == "command error: command not available"
    assert describe_error(-14) == "communication password not correct"


def test_unknown_codes_get_a_generic_text() -> None:
    assert describe_event(254) == "unknown event 254"
    assert describe_verify(7000) == "Others"
    assert describe_inout(9) == "unknown in/out state 9"
    assert describe_error(-12345) == "unknown error code -12345"


@given(st.integers(-(2**70), 2**70))
def test_describe_never_raises(code: int) -> None:
    for describe in (describe_event, describe_verify, describe_inout, describe_error):
        assert isinstance(describe(code), str)


@pytest.mark.parametrize(
    ("code", "alarm"), [(99, False), (100, True), (103, True), (199, True), (200, False)]
)
def test_alarm_events_are_100_to_199(code: int, alarm: bool) -> None:
    assert is_alarm_event(code) is alarm


def test_device_error_carries_the_meaning() -> None:
    error = DeviceError(0x76, -14)
    assert (error.command, error.code, error.meaning) == (0x76, -14, describe_error(-14))
    assert "0x76" in str(error)
    assert "-14" in str(error)
    assert str(AuthenticationError(0x01, -14, "check ComPwd")).endswith(": check ComPwd")

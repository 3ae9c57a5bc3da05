"""GETPARAM / SETPARAM text and CONTROL_DEVICE payloads."""

from __future__ import annotations

import pytest

from zkpull.protocol import ControlOperation, MessageError, OutputType
from zkpull.protocol.params import (
    decode_control,
    decode_param_names,
    decode_params,
    encode_control,
    encode_param_names,
    encode_params,
    output_control,
)


def test_names_and_pairs_are_comma_joined_ascii() -> None:
    assert encode_param_names(["~SerialNumber", "LockCount"]) == b"~SerialNumber,LockCount"
    assert encode_params({"Door1Drivertime": 6, "ComPwd": ""}) == b"Door1Drivertime=6,ComPwd="


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Lock,Count",
        "Lock=Count",
        "Lock Count",
        "Lock\r",
        "Lock\n",
        "Zähler",
        "x" * 41,
        "a\x00b",
        "a\tb",
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid parameter name"):
        encode_param_names([name])
    with pytest.raises(ValueError, match="invalid parameter name"):
        encode_params({name: 1})


def test_forty_character_name_is_the_limit() -> None:
    assert encode_param_names(["x" * 40]) == b"x" * 40


def test_empty_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one name"):
        encode_param_names([])
    with pytest.raises(ValueError, match="at least one"):
        encode_params({})


@pytest.mark.parametrize("value", ["a,b", "a\r\nb", "a\x00"])
def test_values_with_separators_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="separator"):
        encode_params({"ComPwd": value})


def test_non_ascii_value_is_refused() -> None:
    with pytest.raises(ValueError, match="ascii"):
        encode_params({"ComPwd": "pässwort"})


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", {}),
        (b"\x00", {}),
        (b"LockCount=4", {"LockCount": "4"}),
        (b"LockCount=4,", {"LockCount": "4"}),
        (b"LockCount=4\x00\x00", {"LockCount": "4"}),
        (b"LockCount=4\r\n", {"LockCount": "4"}),
        (b"~ZKFPVersion=,LockCount=2", {"~ZKFPVersion": "", "LockCount": "2"}),
        (b"A=1,,B=2", {"A": "1", "B": "2"}),
        (b"Name=a=b", {"Name": "a=b"}),
    ],
)
def test_decode_params_is_tolerant(payload: bytes, expected: dict[str, str]) -> None:
    assert decode_params(payload) == expected


@pytest.mark.parametrize("payload", [b"LockCount", b"A=1,B", b"=4", b"A=\xff"])
def test_decode_params_rejects_what_is_not_name_value(payload: bytes) -> None:
    with pytest.raises(MessageError):
        decode_params(payload)


def test_params_round_trip() -> None:
    values = {"Door1Drivertime": "6", "Door1Intertime": "3", "ComPwd": ""}
    assert decode_params(encode_params(values)) == values


def test_decode_param_names_tolerates_a_trailing_comma() -> None:
    assert decode_param_names(b"LockCount,AuxInCount,") == ["LockCount", "AuxInCount"]
    assert decode_param_names(b"LockCount\x00") == ["LockCount"]
    with pytest.raises(MessageError):
        decode_param_names(b"\xfe")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (output_control(1, OutputType.DOOR, 200), "0101 01c8 00"),
        (output_control(2, OutputType.AUX, 100), "0102 0264 00"),
        (output_control(1, OutputType.DOOR, 0), "0101 0100 00"),
        (output_control(4, OutputType.DOOR, 255), "0104 01ff 00"),
        (encode_control(ControlOperation.CANCEL_ALARM), "0200 0000 00"),
        (encode_control(ControlOperation.RESTART), "0300 0000 00"),
        (encode_control(ControlOperation.NORMAL_OPEN, 2, 1), "0402 0100 00"),
    ],
)
def test_control_payloads_match_the_fact_sheet(payload: bytes, expected: str) -> None:
    assert payload == bytes.fromhex(expected)
    assert decode_control(payload) == tuple(payload[:4])


@pytest.mark.parametrize(("number", "seconds"), [(0, 5), (256, 5), (1, -1), (1, 256)])
def test_output_control_ranges(number: int, seconds: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        output_control(number, OutputType.DOOR, seconds)


@pytest.mark.parametrize("params", [(256, 0, 0), (0, -1, 0), (0, 0, 1000)])
def test_control_parameters_are_bytes(params: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="bytes"):
        encode_control(ControlOperation.OUTPUT, *params)


def test_short_control_payload_is_a_message_error() -> None:
    with pytest.raises(MessageError):
        decode_control(b"\x01\x01\x01")

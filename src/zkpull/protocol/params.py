"""Device parameters (GETPARAM 0x04 / SETPARAM 0x03) and CONTROL_DEVICE (0x05) payloads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .constants import OUTPUT_CLOSE, OUTPUT_HOLD_OPEN, ControlOperation, OutputType
from .errors import MessageError

_NAME_LIMIT = 40  # firmware rejects longer names


def encode_param_names(names: Iterable[str]) -> bytes:
    """`Name,Name,...` for GETPARAM; raises ValueError for names the panel would reject."""
    checked = [_check_name(name) for name in names]
    if not checked:
        raise ValueError("GETPARAM needs at least one name")
    return ",".join(checked).encode("ascii")


def encode_params(values: Mapping[str, object]) -> bytes:
    """`Name=Value,...` for SETPARAM."""
    if not values:
        raise ValueError("SETPARAM needs at least one name=value pair")
    pairs = []
    for name, value in values.items():
        text = str(int(value)) if isinstance(value, bool) else str(value)  # panels take 0/1
        if any(ch in text for ch in ",\r\n\x00"):
            raise ValueError(f"value of {name!r} contains a separator: {text!r}")
        pairs.append(f"{_check_name(name)}={text}")
    return ",".join(pairs).encode("ascii")


def decode_params(payload: bytes) -> dict[str, str]:
    """Parse a GETPARAM reply (or a SETPARAM request) into an ordered dict.

    Tolerant as the fact sheet asks (§3.3): empty values, a trailing comma or a terminating NUL
    are fine; a field without '=' is not.
    """
    text = _ascii(payload).rstrip("\x00").strip()
    result: dict[str, str] = {}
    if not text:
        return result
    for item in text.split(","):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise MessageError(f"parameter item {item!r} is not name=value")
        result[name] = value
    return result


def decode_param_names(payload: bytes) -> list[str]:
    """Parse a GETPARAM request (simulator side)."""
    return [name for name in _ascii(payload).rstrip("\x00").split(",") if name]


def encode_control(operation: ControlOperation, p1: int = 0, p2: int = 0, p3: int = 0) -> bytes:
    """5-byte CONTROL_DEVICE payload `[op][p1][p2][p3][0]`."""
    for value in (p1, p2, p3):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"control parameters are bytes, got {value}")
    return bytes((operation, p1, p2, p3, 0))


def output_control(number: int, kind: OutputType, seconds: int) -> bytes:
    """Drive a door lock or aux output: 0 closes, 1..254 opens for that long, 255 holds open."""
    if not 1 <= number <= 0xFF:
        raise ValueError(f"output number must be 1..255, got {number}")
    if not OUTPUT_CLOSE <= seconds <= OUTPUT_HOLD_OPEN:
        raise ValueError(f"seconds must be 0..255, got {seconds}")
    return encode_control(ControlOperation.OUTPUT, number, kind, seconds)


def decode_control(payload: bytes) -> tuple[int, int, int, int]:
    """Split a CONTROL_DEVICE payload (simulator side)."""
    if len(payload) < 4:
        raise MessageError(f"control payload of {len(payload)} bytes, need 5")
    return payload[0], payload[1], payload[2], payload[3]


def _check_name(name: str) -> str:
    printable = name.isascii() and name.isprintable()  # a NUL or TAB would cut the panel's text
    if not name or len(name) > _NAME_LIMIT or not printable or any(c in name for c in ",= "):
        raise ValueError(f"invalid parameter name {name!r}")
    return name


def _ascii(payload: bytes) -> str:
    try:
        return payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MessageError(f"parameter text is not ASCII: {payload[:40]!r}") from exc

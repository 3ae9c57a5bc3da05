"""Device parameters of a simulated panel: defaults (fact sheet §8) and GETPARAM / SETPARAM (§3.3).

Defaults are built once per (model, firmware) and shared by every panel of that kind; a panel
keeps only the values it was told, so 2,000 panels do not hold 2,000 copies of ~100 strings.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from zkpull.protocol.constants import MAX_GET_PARAMS, MAX_PASSWORD_LENGTH
from zkpull.protocol.errors import MessageError
from zkpull.protocol.params import decode_param_names, decode_params
from zkpull.protocol.timecodec import decode_time

from .model import DEFAULT_TRANSACTION_CAPACITY, Firmware, ModelSpec, RefusalError

NAME_LIMIT: Final = 40  # firmware: GETPARAM names longer than this fail with -12
SET_LIMIT: Final = 30  # firmware: more pairs than this fail
READ_ONLY: Final = frozenset(
    {
        "FirmVer",
        "DeviceName",
        "LockCount",
        "ReaderCount",
        "AuxInCount",
        "AuxOutCount",
        "MAC",
        "DeviceID",
    }
)
_DOOR_DEFAULTS: Final = (
    ("ForcePassWord", ""),
    ("SupperPassWord", ""),
    ("CloseAndLock", "1"),
    ("SensorType", "0"),
    ("Drivertime", "5"),
    ("Detectortime", "20"),
    ("VerifyType", "0"),
    ("InOutState", "0"),
    ("MultiCardOpenDoor", "0"),
    ("FirstCardOpenDoor", "1"),
    ("ValidTZ", "1"),
    ("KeepOpenTimeZone", "0"),
    ("Intertime", "0"),
    ("ReaderType", "0"),
    ("CancelKeepOpenDay", "1"),
)


@dataclass(frozen=True, slots=True)
class ParamChange:
    """What a SETPARAM asks for beyond storing values."""

    values: dict[str, str]  # to store (ComPwd included)
    packed_time: int | None = None  # DateTime=<packed>
    reboot: bool = False  # Reboot=1


class ParamStore:
    """One panel's parameters: shared defaults, its own values, and computed ones (DateTime...)."""

    def __init__(
        self,
        defaults: Mapping[str, str],
        computed: Mapping[str, Callable[[], str]],
        values: dict[str, str],
    ) -> None:
        self.defaults = defaults
        self.computed = computed
        self.values = values  # only what differs from the defaults: thousands of panels share those

    def get(self, name: str) -> str | None:
        make = self.computed.get(name)
        if make is not None:
            return make()
        value = self.values.get(name)
        return value if value is not None else self.defaults.get(name)

    def answer_get(self, payload: bytes, *, legacy: bool) -> bytes:
        """The GETPARAM reply text."""
        return format_get(parse_get(payload), self.get, legacy=legacy)

    def apply_set(self, payload: bytes) -> ParamChange:
        """Validate and store a SETPARAM; the caller acts on DateTime and Reboot."""
        change = parse_set(payload)
        self.values.update(change.values)
        return change


@functools.cache
def default_params(spec: ModelSpec, firmware: Firmware) -> Mapping[str, str]:
    """The values a factory-fresh panel of this kind reports."""
    fingerprint = spec.fingerprint or firmware is Firmware.SESSION
    values = {
        "DeviceName": spec.name,
        "~DeviceName": spec.name,
        "LockCount": str(spec.lock_count),
        "ReaderCount": str(spec.reader_count),
        "AuxInCount": str(spec.aux_in_count),
        "AuxOutCount": str(spec.aux_out_count),
        "ComPwd": "",
        "IPAddress": "192.168.1.201",
        "NetMask": "255.255.255.0",
        "GATEIPAddress": "0.0.0.0",  # noqa: S104 a dotted quad, not a bind address
        "RS232BaudRate": "38400",
        "AntiPassback": "0",
        "InterLock": "0",
        "Door4ToDoor2": "0",
        "InBIOTowWay": "0",
        "WatchDog": "1",
        "BackupTime": "3",
        "~ZKFPVersion": "10" if fingerprint else "",
        "~DSTF": "0",
        "DaylightSavingTimeOn": "0",
        "DLSTMode": "0",
        "DaylightSavingTime": "0",
        "StandardTime": "0",
        "~MaxUserCount": "300",  # x100 = the user capacity the legacy firmware checks (§6.2)
        "~MaxAttLogCount": str(DEFAULT_TRANSACTION_CAPACITY // 10_000),
        "~MaxUserFingerCount": "30" if spec.fingerprint else "0",
        "~IsOnlyRFMachine": "0" if spec.fingerprint else "1",
        "~CardFormatFunOn": "0",
        "~Ext485ReaderFunOn": "0",
        "MasterInbio485": "0",
        "PC485AsInbio485": "0",
        "SimpleEventType": "0",
    }
    for n, week in enumerate((1, 1, 0, 0, 0, 1, 1, 0, 0, 0), 1):
        values[f"WeekOfMonth{n}"] = str(week)
    for door in range(1, spec.lock_count + 1):
        for name, value in _DOOR_DEFAULTS:
            values[f"Door{door}{name}"] = value
    return values


def parse_get(payload: bytes) -> list[str]:
    """The names a GETPARAM asks for, checked against the firmware limits."""
    if not payload.strip(b"\x00"):
        raise RefusalError(-11, "GETPARAM without names")
    try:
        names = decode_param_names(payload)
    except MessageError as exc:
        raise RefusalError(-11, str(exc)) from exc
    if not names or len(names) > MAX_GET_PARAMS or any(len(name) > NAME_LIMIT for name in names):
        raise RefusalError(-12, "GETPARAM with no, too many or too long names")
    return names


def format_get(names: list[str], lookup: Callable[[str], str | None], *, legacy: bool) -> bytes:
    """`name=value,...` in request order; legacy echoes unknown names empty, newer omits them."""
    items = []
    for name in names:
        value = lookup(name)
        if value is not None:
            items.append(f"{name}={value}")
        elif legacy:
            items.append(f"{name}=")
    if not items:
        raise RefusalError(-12, "none of the requested parameters exist")
    return ",".join(items).encode("ascii")


def parse_set(payload: bytes) -> ParamChange:
    """Validate a SETPARAM as a whole before anything is applied."""
    if not payload.strip(b"\x00"):
        raise RefusalError(-11, "SETPARAM without pairs")
    try:
        pairs = decode_params(payload)
    except MessageError as exc:
        raise RefusalError(-11, str(exc)) from exc
    if not pairs or len(pairs) > SET_LIMIT:
        raise RefusalError(-12, "SETPARAM with no or too many pairs")
    values: dict[str, str] = {}
    packed_time: int | None = None
    reboot = False
    for name, value in pairs.items():
        if name.startswith("~") or name in READ_ONLY or len(name) > NAME_LIMIT:
            raise RefusalError(-12, f"{name} cannot be set")
        if name == "DateTime":
            packed_time = _packed_time(value)
        elif name == "Reboot":
            reboot = value.strip() == "1"
        elif name == "ComPwd" and (len(value) > MAX_PASSWORD_LENGTH or not value.isascii()):
            raise RefusalError(-12, "ComPwd is at most 15 ASCII characters")
        elif name in ("IPAddress", "GATEIPAddress", "NetMask"):
            _check_address(name, value)
            values[name] = value
        else:
            values[name] = value
    return ParamChange(values, packed_time, reboot)


def _packed_time(value: str) -> int:
    if not value.strip().isdigit():
        raise RefusalError(-11, f"DateTime={value!r} is not a packed time")
    packed = int(value)
    try:
        decode_time(packed)
    except MessageError as exc:
        raise RefusalError(-11, str(exc)) from exc
    return packed


def _check_address(name: str, value: str) -> None:
    # The firmware rejects gateway/IP values starting with 0 (§3.3); NetMask may be anything dotted.
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise RefusalError(-12, f"{name}={value!r} is not a dotted quad") from exc
    if name != "NetMask" and value.startswith("0"):
        raise RefusalError(-12, f"{name} may not start with 0")

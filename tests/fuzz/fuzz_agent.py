"""The agent's text inputs: the legacy command grammar (operator-written `CmdContent`), the
ZKAGENT settings (settings.py values or `ZKAGENT_<KEY>` environment strings) and the device
rows (`agent.Device`, possibly written by the legacy ZKECO web into a shared database).

Typed errors only: CommandSyntaxError from the grammar, ImproperlyConfigured from the
settings and the device rows. What is accepted must also be usable: a parsed command writes
back to the same operation, loaded settings map every COM port, an accepted device row
builds its panel client.
"""

from __future__ import annotations

from typing import Any

from .support import setup_django

setup_django()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from agent import conf  # noqa: E402
from agent.deviceconfig import DeviceConfig  # noqa: E402
from agent.grammar import CommandSyntaxError, is_control, parse_command, to_text  # noqa: E402
from agent.legacy_driver import LegacyDriverAdapter  # noqa: E402
from agent.models import Device  # noqa: E402

_PREFIXES = (
    "",
    "DEVICE SET ",
    "CONTROL NO ",
    "CANCEL ALARM ",
    "SET OPTION ",
    "OPTION GET ",
    "DATA UPDATE user ",
    "DATA DELETE ",
    "DATA QUERY ",
    "DATA QUERY transaction ",
    "DATA COUNT ",
)
_KEYS = sorted(conf._PARSERS)  # the harness follows the real key list


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def command_grammar(data: bytes) -> None:
    if not data:
        return
    text = _PREFIXES[data[0] % len(_PREFIXES)] + _text(data[1:])
    try:
        operation = parse_command(text)
    except CommandSyntaxError:
        return
    is_control(operation)
    canonical = to_text(operation)
    if parse_command(canonical) != operation:
        raise AssertionError(f"{text!r} -> {operation!r} -> {canonical!r} does not parse back")


def _typed(text: str) -> object:
    """`#i:5` int, `#f:1.5` float, `#b:1` bool, `#l:a,b` list, `#d:a:b;c:d` dict, `#n` None."""
    tag, body = text[:3], text[3:]
    try:
        match tag:
            case "#i:":
                return int(body)
            case "#f:":
                return float(body)
            case "#b:":
                return body == "1"
            case "#l:":
                return [int(x) if x.strip().isdigit() else x for x in body.split(",")]
            case "#d:":
                pairs = (item.partition(":") for item in body.split(";"))
                return {(int(k) if k.isdigit() else k): v for k, _, v in pairs}
    except ValueError:
        return body
    return None if text == "#n" else text


def _pairs(data: bytes) -> list[tuple[str, str]]:
    pairs = []
    for line in _text(data).split("\n"):
        key, _, value = line.partition("=")
        if key.isdigit() and len(key) < 4:
            key = _KEYS[int(key) % len(_KEYS)]
        pairs.append((key, value))
    return pairs


def agent_settings(data: bytes) -> None:
    if not data:
        return
    typed = data[0] & 0x01
    raw: dict[str, Any] = {
        key: (_typed(value) if typed else value) for key, value in _pairs(data[1:])
    }
    try:
        loaded = conf.load(raw)
    except ImproperlyConfigured:
        if not conf.problems(raw):
            raise AssertionError("load() refused what problems() found fine") from None
        return
    if conf.problems(raw):
        raise AssertionError("problems() reported settings that load() accepted")
    for com in (1, 2, 254):
        path = loaded.serial_port_path(com)
        if len(path) > 4096:
            raise AssertionError(f"COM{com} maps to {path!r:.80}")


_DEVICE_FIELDS: dict[str, type] = {
    "alias": str,
    "comm_type": int,
    "ipaddress": str,
    "ip_port": int,
    "com_port": int,
    "com_address": int,
    "baudrate": int,
    "comm_pwd": str,
    "timezone": str,
    "sync_time": bool,
    "acpanel_type": int,
    "enabled": bool,
}
_DEVICE_KEYS = sorted(_DEVICE_FIELDS)
_SETTINGS = conf.AgentSettings(serial_ports=((3, "/dev/ttyUSB0"),))


def device_row(data: bytes) -> None:
    fields: dict[str, Any] = {"alias": "panel", "ipaddress": "10.0.0.1", "timezone": "UTC"}
    for name, value in _pairs(data):
        key = name
        if key not in _DEVICE_FIELDS:  # "3=..." names the fourth field: easy to reach
            key = _DEVICE_KEYS[
                (int(key) if key.isdigit() else sum(map(ord, key))) % len(_DEVICE_KEYS)
            ]
        kind = _DEVICE_FIELDS[key]
        if kind is int:
            try:
                fields[key] = int(value) if value.strip() else None
            except ValueError:
                continue
        elif kind is bool:
            fields[key] = value == "1"
        else:
            fields[key] = value
    device = Device(pk=7, **fields)
    try:
        config = DeviceConfig.from_model(device, _SETTINGS)
    except ImproperlyConfigured:
        return
    config.fingerprint  # noqa: B018
    config.endpoint  # noqa: B018
    if "password" in repr(config):
        raise AssertionError("the comm password shows in the config's repr")
    # Accepted means servable: building the driver must not fail later, in the supervisor,
    # and the numbers must be ones a socket or the RS485 address byte can take.
    if config.is_tcp and not (config.port is not None and 1 <= config.port <= 65535):
        raise AssertionError(f"accepted TCP port {config.port}")
    if config.is_rs485 and not 1 <= config.address <= 255:
        raise AssertionError(f"accepted RS485 address {config.address}")
    LegacyDriverAdapter.for_device(config, timeout=1.0, buses={})


def grammar_seeds() -> list[bytes]:
    texts = [
        "CONNECT",
        "DEVICE SET 1 1 5",
        "DEVICE SET 9 2 255",
        "CONTROL NO 1 1",
        "CANCEL ALARM 0",
        "SET OPTION DateTime=777111332,CurTimeMode=2",
        "SET OPTION ~DeviceName=Front door,",
        "OPTION GET ~SerialNumber,FirmVer,LockCount",
        "DATA UPDATE user Pin=1\tCardNo=123\tName=Ann\r\nPin=2\tCardNo=",
        "DATA DELETE userauthorize Pin=1\tAuthorizeDoorId=3",
        "DATA DELETE user",
        "DATA QUERY user Pin,CardNo Pin=1",
        "DATA QUERY transaction * NewRecord",
        "DATA COUNT user",
    ]
    return [b"\x00" + text.encode() for text in texts]


def settings_seeds() -> list[bytes]:
    env = [
        "interval=1.5\ndownload_hours=0,6,12,18\nbatch_size=500",
        "serial_port_pattern=/dev/ttyS{n_minus_1}\nserial_ports=1=/dev/ttyUSB0,COM2=/dev/ttyUSB1",
        "serial_port_pattern=/dev/ttyUSB{n:>3}",
        "backend=redis\nredis_url=rediss://user:pw@redis.example:6380/2?ssl_cert_reqs=required",
        "metrics_port=9108\nmetrics_host=127.0.0.1\nagent_id=agent-1.a:b",
        "cluster=yes\ncluster_shards=64\ncluster_lease_seconds=15",
    ]
    typed = [
        "interval=#f:1.0\ndownload_hours=#l:0,6\nserial_ports=#d:1:/dev/ttyUSB0;2:/dev/x",
        "buffer_limit=#i:100\nio_error_threshold=#b:1\nmetrics_port=#n",
    ]
    return [b"\x00" + text.encode() for text in env] + [b"\x01" + text.encode() for text in typed]


def device_seeds() -> list[bytes]:
    rows = [
        "comm_type=1\nipaddress=192.168.1.201\nip_port=4370\ncomm_pwd=1234",
        "comm_type=2\ncom_port=3\ncom_address=2\nbaudrate=2\ncomm_pwd=FFBBDD",
        "comm_type=1\nip_port=4370\ntimezone=Europe/Berlin\nacpanel_type=2\nsync_time=1",
    ]
    return [text.encode() for text in rows]

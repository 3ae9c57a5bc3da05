"""The agent's global knobs: `settings.ZKAGENT` validated into a frozen `AgentSettings`.

This is the only module that reads `django.conf.settings` for agent knobs. Values may be
typed (from settings.py) or text (from `ZKAGENT_<KEY>` environment variables); both are
parsed here. `load()` raises ImproperlyConfigured listing every problem; `problems()` returns
them one by one for the system checks (agent.E001..E003).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .backends.redis import check_redis_url

BACKENDS: Final = ("memory", "redis")
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Validated agent configuration; times are seconds, hours are the panel's local hours."""

    interval: float = 1.0
    download_hours: frozenset[int] = frozenset({0})
    batch_size: int = 500
    reconnect_seconds: float = 60.0
    io_error_threshold: int = 20
    command_expiry_seconds: float = 50.0
    command_max_attempts: int = 0  # 0 = unlimited (legacy keeps failed queued commands)
    tcp_timeout_seconds: float = 3.0
    rs485_timeout_seconds: float = 4.0
    device_reload_seconds: float = 10.0
    status_throttle_seconds: float = 120.0
    heartbeat_ttl_seconds: float = 30.0
    backend: str = "memory"
    redis_url: str = "redis://localhost:6379/0"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    buffer_limit: int = 100_000
    serial_port_pattern: str = "/dev/ttyS{n_minus_1}"
    serial_ports: tuple[tuple[int, str], ...] = ()  # (COM number, path), sorted
    agent_id: str = "commcenter"
    # Scale-out (agent.cluster): several agents share the fleet through Redis shard leases.
    cluster: bool = False
    cluster_shards: int = 64  # every agent of one Redis must use the same number
    cluster_lease_seconds: float = 15.0  # lease TTL; renewed every 1/5, self-fenced at 1/2

    def serial_port_path(self, com_port: int) -> str:
        """The device path of legacy `COM<com_port>`: explicit mapping first, then the pattern."""
        for number, path in self.serial_ports:
            if number == com_port:
                return path
        return self.serial_port_pattern.format(n=com_port, n_minus_1=com_port - 1)


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid ZKAGENT entry, as a system check reports it."""

    check_id: str  # agent.E001 not a mapping, agent.E002 unknown key, agent.E003 bad value
    key: str
    message: str


def load(raw: Mapping[str, Any] | None = None) -> AgentSettings:
    """Validated settings from *raw* (default `settings.ZKAGENT`); raises ImproperlyConfigured."""
    values, found = _parse(_raw(raw))
    if found:
        details = "; ".join(problem.message for problem in found)
        raise ImproperlyConfigured(f"invalid ZKAGENT settings: {details}")
    return AgentSettings(**values)


def problems(raw: Mapping[str, Any] | None = None) -> list[Problem]:
    """Every problem in *raw* (default `settings.ZKAGENT`); empty when it loads."""
    return _parse(_raw(raw))[1]


def _parse(values: object) -> tuple[dict[str, Any], list[Problem]]:
    if not isinstance(values, Mapping):
        return {}, [
            Problem("agent.E001", "", f"ZKAGENT must be a dict, got {type(values).__name__}")
        ]
    parsed: dict[str, Any] = {}
    found = []
    for key, value in values.items():
        parser = _PARSERS.get(key)
        if parser is None:
            known = ", ".join(sorted(_PARSERS))
            found.append(Problem("agent.E002", str(key), f"unknown key {key!r} (known: {known})"))
            continue
        try:
            parsed[key] = parser(value)
        except (TypeError, ValueError) as exc:
            found.append(Problem("agent.E003", key, f"{key}: {exc}"))
    return parsed, found


def _raw(raw: Mapping[str, Any] | None) -> object:
    return getattr(settings, "ZKAGENT", {}) if raw is None else raw


# -- parsers: each returns the typed value or raises ValueError/TypeError with the reason ------
def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def _seconds(value: object) -> float:
    seconds = _number(value)
    if not 0 < seconds < float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {value!r}")
    return seconds


def _at_least(minimum: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        number = _integer(value)
        if number < minimum:
            raise ValueError(f"must be an integer >= {minimum}, got {value!r}")
        return number

    return parse


def _port(value: object) -> int:
    number = _integer(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"must be a TCP port 1..65535, got {value!r}")
    return number


def _hours(value: object) -> frozenset[int]:
    items: list[object]
    if isinstance(value, str):
        items = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise TypeError(f"expected hours as a list or a comma string, got {value!r}")
    hours = set()
    for item in items:
        hour = _integer(item.strip() if isinstance(item, str) else item)
        if not 0 <= hour <= 23:
            raise ValueError(f"hour {hour} is not 0..23")
        hours.add(hour)
    return frozenset(hours)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _backend(value: object) -> str:
    text = _text(value).lower()
    if text not in BACKENDS:
        raise ValueError(f"must be one of {', '.join(BACKENDS)}, got {value!r}")
    return text


def _redis_url(value: object) -> str:
    text = _text(value)
    if not text.startswith(_REDIS_SCHEMES):
        # Never echo the URL: it may carry a password.
        raise ValueError(f"must start with {', '.join(_REDIS_SCHEMES)}")
    check_redis_url(text)  # options, TLS files; its messages never echo the URL either
    return text


# A placeholder's format spec may pad the number ("{n:02}"), nothing more: a width like
# "{n:>999999999}" would build a gigabyte string, "{n[0]}" or "{n.real}" reach into the int.
_PLACEHOLDERS: Final = frozenset({"n", "n_minus_1"})
_PAD_SPEC = re.compile(r"0?[1-9]?d?", re.ASCII)


def _pattern(value: object) -> str:
    text = _text(value)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid pattern ({exc})") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue  # literal text only
        if name not in _PLACEHOLDERS or conversion or not _PAD_SPEC.fullmatch(spec or ""):
            raise ValueError(
                f"{text!r} may only use the placeholders {{n}} and {{n_minus_1}}, "
                "optionally zero-padded as {n:02}"
            )
    return text


_SERIAL_ITEM = re.compile(r"^\s*(?:COM)?(\d+)\s*=\s*(\S.*?)\s*$", re.IGNORECASE | re.ASCII)


def _serial_ports(value: object) -> tuple[tuple[int, str], ...]:
    pairs: list[tuple[object, object]]
    if isinstance(value, str):  # "1=/dev/ttyUSB0,COM2=/dev/ttyUSB1"
        pairs = []
        for item in filter(str.strip, value.split(",")):
            match = _SERIAL_ITEM.match(item)
            if match is None:
                raise ValueError(f"expected COM number=path items, got {item!r}")
            pairs.append((match[1], match[2]))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise TypeError(f"expected a dict of COM number -> path, got {value!r}")
    result: dict[int, str] = {}
    for number, path in pairs:
        com = _integer(number.removeprefix("COM") if isinstance(number, str) else number)
        if not 1 <= com <= 254:
            raise ValueError(f"COM number {com} is not 1..254")
        result[com] = _text(path)
    return tuple(sorted(result.items()))


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _shards(value: object) -> int:
    number = _integer(value)
    if not 1 <= number <= 4096:
        raise ValueError(f"must be an integer 1..4096, got {value!r}")
    return number


def _lease(value: object) -> float:
    seconds = _seconds(value)
    if not 2.0 <= seconds <= 600.0:
        raise ValueError(f"must be 2..600 seconds, got {value!r}")
    return seconds


def _agent_id(value: object) -> str:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", text):
        raise ValueError(f"use 1..64 letters, digits or _.:- (it names Redis keys), got {value!r}")
    return text


_PARSERS: Final[dict[str, Callable[[Any], Any]]] = {
    "interval": _seconds,
    "download_hours": _hours,
    "batch_size": _at_least(1),
    "reconnect_seconds": _seconds,
    "io_error_threshold": _at_least(1),
    "command_expiry_seconds": _seconds,
    "command_max_attempts": _at_least(0),
    "tcp_timeout_seconds": _seconds,
    "rs485_timeout_seconds": _seconds,
    "device_reload_seconds": _seconds,
    "status_throttle_seconds": _seconds,
    "heartbeat_ttl_seconds": _seconds,
    "backend": _backend,
    "redis_url": _redis_url,
    "metrics_host": _text,
    "metrics_port": _port,
    "buffer_limit": _at_least(1),
    "serial_port_pattern": _pattern,
    "serial_ports": _serial_ports,
    "agent_id": _agent_id,
    "cluster": _flag,
    "cluster_shards": _shards,
    "cluster_lease_seconds": _lease,
}

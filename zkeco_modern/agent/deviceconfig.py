"""`DeviceConfig`: the frozen per-device configuration that crosses into the coordinator.

Coordinators never see a `Device` model instance (STYLE §4.5). The `fingerprint` lets a
supervisor notice an admin edit and restart just that device's session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

from zkpull.protocol.constants import MAX_PASSWORD_LENGTH
from zkpull.transport.serial import baudrate_from_index

from . import conf
from .models import CONTROLLER_TYPES, CommType, Device


class TransportKind(StrEnum):
    TCP = "tcp"
    RS485 = "rs485"


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """How to reach one panel and how to treat its data. Times in the panel's `timezone`."""

    id: int
    alias: str
    sn: str  # as last learned; not part of the fingerprint (the agent writes it itself)
    enabled: bool
    transport: TransportKind
    host: str | None  # TCP
    port: int | None  # TCP
    serial_port: str | None  # RS485 device path, e.g. /dev/ttyS2 for legacy COM3
    baudrate: int | None  # RS485 bits per second
    address: int  # RS485 DeviceID; 1 on TCP (the panel ignores it there)
    password: str = field(repr=False)  # plain text; never logged
    timezone: str = "UTC"
    sync_time: bool = True
    acpanel_type: int = 4

    @classmethod
    def from_model(cls, device: Device, settings: conf.AgentSettings | None = None) -> DeviceConfig:
        """Build from a row; raises ImproperlyConfigured naming the device and the problem."""
        agent = settings if settings is not None else conf.load()
        where = f"device {device.alias!r} (id {device.pk})"
        try:
            ZoneInfo(device.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}: unknown time zone {device.timezone!r}") from exc
        password = device.password()
        if not password.isascii() or len(password) > MAX_PASSWORD_LENGTH:
            raise ImproperlyConfigured(
                f"{where}: the comm password must be ASCII, at most {MAX_PASSWORD_LENGTH} characters"
            )
        host: str | None = None
        port: int | None = None
        serial_port: str | None = None
        baudrate: int | None = None
        address = 1
        # Rows may come from the legacy web or a shared database, past the model validators:
        # out-of-range numbers are refused here, not by a socket or the client later.
        if device.comm_type == CommType.TCP:
            if not device.ipaddress or not device.ip_port:
                raise ImproperlyConfigured(f"{where}: TCP/IP needs an IP address and a port")
            if not 1 <= device.ip_port <= 65535:
                raise ImproperlyConfigured(f"{where}: IP port {device.ip_port} is not 1..65535")
            transport, host, port = TransportKind.TCP, device.ipaddress, device.ip_port
        elif device.comm_type == CommType.RS485:
            if not device.com_port or not device.com_address:
                raise ImproperlyConfigured(f"{where}: RS485 needs a COM port and an address")
            if not 1 <= device.com_port <= 254 or not 1 <= device.com_address <= 255:
                raise ImproperlyConfigured(
                    f"{where}: COM port must be 1..254 and the RS485 address 1..255, "
                    f"got COM{device.com_port} address {device.com_address}"
                )
            try:
                baudrate = baudrate_from_index(device.baudrate)
            except ValueError as exc:
                raise ImproperlyConfigured(f"{where}: {exc}") from exc
            transport = TransportKind.RS485
            serial_port = agent.serial_port_path(device.com_port)
            address = device.com_address
        else:
            raise ImproperlyConfigured(
                f"{where}: comm_type {device.comm_type} is not served by the agent"
            )
        return cls(
            id=device.pk,
            alias=device.alias,
            sn=device.sn,
            enabled=device.enabled,
            transport=transport,
            host=host,
            port=port,
            serial_port=serial_port,
            baudrate=baudrate,
            address=address,
            password=password,
            timezone=device.timezone,
            sync_time=device.sync_time,
            acpanel_type=device.acpanel_type,
        )

    @property
    def fingerprint(self) -> tuple[object, ...]:
        """Every configured field except `sn`; the password only as a digest (safe to log)."""
        digest = hashlib.sha256(self.password.encode("utf-8")).hexdigest()[:16]
        return (
            self.id,
            self.alias,
            self.enabled,
            self.transport.value,
            self.host,
            self.port,
            self.serial_port,
            self.baudrate,
            self.address,
            digest,
            self.timezone,
            self.sync_time,
            self.acpanel_type,
        )

    @property
    def is_tcp(self) -> bool:
        return self.transport is TransportKind.TCP

    @property
    def is_rs485(self) -> bool:
        return self.transport is TransportKind.RS485

    @property
    def tcp_endpoint(self) -> tuple[str, int]:
        """(host, port); raises ValueError for an RS485 device."""
        if self.host is None or self.port is None:
            raise ValueError(f"{self.alias} is not a TCP/IP device")
        return self.host, self.port

    @property
    def serial_link(self) -> tuple[str, int]:
        """(serial device path, baud rate); raises ValueError for a TCP/IP device."""
        if self.serial_port is None or self.baudrate is None:
            raise ValueError(f"{self.alias} is not an RS485 device")
        return self.serial_port, self.baudrate

    @property
    def bus(self) -> str | None:
        """The shared link this device sits on: its serial port (RS485), None for TCP."""
        return self.serial_port

    @property
    def endpoint(self) -> str:
        """Human-readable address for logs: `host:port` or `/dev/ttyS2#3`."""
        if self.transport is TransportKind.TCP:
            return f"{self.host}:{self.port}"
        return f"{self.serial_port}#{self.address}"


def load_device_configs(
    settings: conf.AgentSettings | None = None, *, only: Iterable[str | int] | None = None
) -> tuple[list[DeviceConfig], dict[int, str]]:
    """Configs of every controller row (enabled or not), and the reasons rows were rejected.

    *only* limits to devices whose alias, sn or id is listed (`run_commcenter --device`).
    Sync ORM code: call it from the database thread.
    """
    agent = settings if settings is not None else conf.load()
    wanted = {str(item) for item in only} if only is not None else None
    configs: list[DeviceConfig] = []
    rejected: dict[int, str] = {}
    rows = Device.objects.filter(device_type__in=CONTROLLER_TYPES).order_by("pk")
    for device in rows:
        if wanted is not None and not wanted.intersection(
            {device.alias, device.sn, str(device.pk)}
        ):
            continue
        try:
            configs.append(DeviceConfig.from_model(device, agent))
        except ImproperlyConfigured as exc:
            rejected[device.pk] = str(exc)
    return configs, rejected

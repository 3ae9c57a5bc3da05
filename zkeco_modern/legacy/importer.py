"""Import the panels of a ZKECO `iclock` table as agent Devices, idempotently.

Rows are matched to devices by `DeviceLink.legacy_id` first, then (for devices not linked
yet) by serial number, then by alias. A matched device is updated when a mapped field
differs and reported unchanged otherwise; everything else is created. A dry run does the
same work inside a transaction that is rolled back, so its report is exactly what a real
run would do. Passwords are decoded (legacy obfuscation, `agent.crypt`) and compared, never
reported: a changed password shows as "comm_pwd" in the list of changed fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agent.crypt import decode_comm_pwd
from agent.models import CONTROLLER_TYPES, CommType, Device, DeviceType
from zkpull.protocol.constants import MAX_PASSWORD_LENGTH

from .models import DeviceLink, LegacyDevice

# Agent fields set from the legacy row (the password is handled on its own).
MAPPED_FIELDS: Final = (
    "alias",
    "sn",
    "device_type",
    "comm_type",
    "ipaddress",
    "ip_port",
    "com_port",
    "com_address",
    "baudrate",
    "enabled",
    "acpanel_type",
    "sync_time",
)
DEFAULT_IP_PORT: Final = 4370
DEFAULT_BAUDRATE_INDEX: Final = 2  # 38400 bps, the legacy default
DEFAULT_COM_ADDRESS: Final = 1
_COMM_TYPES: Final = {1: "TCP/IP", 2: "RS485", 3: "HTTP push"}


class SkipRowError(ValueError):
    """A legacy row the agent does not serve, or cannot take as it is."""


@dataclass(frozen=True, slots=True)
class ImportAction:
    """What the import did (or, in a dry run, would do) with one legacy row."""

    legacy_id: int
    alias: str
    outcome: str  # created | updated | unchanged | skipped
    device_id: int | None = None
    detail: str = ""  # endpoint, changed fields, or why it was skipped


@dataclass
class ImportReport:
    dry_run: bool
    actions: list[ImportAction] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(("created", "updated", "unchanged", "skipped"), 0)
        for action in self.actions:
            totals[action.outcome] += 1
        return totals


@dataclass(frozen=True, slots=True)
class MappedRow:
    fields: dict[str, object]
    password: str  # plain; kept out of repr and reports
    endpoint: str

    def __repr__(self) -> str:
        return f"MappedRow({self.fields!r}, endpoint={self.endpoint!r})"


def map_row(row: LegacyDevice) -> MappedRow:
    """The agent fields of one `iclock` row; raises SkipRowError saying why it is not a panel."""
    if row.device_type not in CONTROLLER_TYPES:
        label = _label(DeviceType, row.device_type)
        raise SkipRowError(f"device_type {row.device_type} ({label}) is not a panel")
    if row.delete_time is not None:
        raise SkipRowError("deleted in ZKECO (delete_time is set)")
    alias = (row.alias or "").strip()
    if not alias:
        raise SkipRowError("alias is empty")
    password = decode_comm_pwd((row.comm_pwd or "").strip())
    if not password.isascii() or len(password) > MAX_PASSWORD_LENGTH:
        # Never echo the value: it is a credential.
        raise SkipRowError(
            f"comm_pwd: panels accept ASCII passwords of up to {MAX_PASSWORD_LENGTH} characters"
        )
    fields: dict[str, object] = {
        "alias": alias,
        "sn": (row.sn or "").strip(),
        "device_type": row.device_type,
        "enabled": bool(row.enabled),
        "acpanel_type": row.acpanel_type,
        "sync_time": bool(row.sync_time),
    }
    if row.comm_type == CommType.TCP:
        host = (row.ipaddress or "").strip()
        if not host:
            raise SkipRowError("TCP/IP device without an ipaddress")
        port = row.ip_port or DEFAULT_IP_PORT
        fields |= {
            "comm_type": CommType.TCP,
            "ipaddress": host,
            "ip_port": port,
            "com_port": None,
            "com_address": None,
            "baudrate": DEFAULT_BAUDRATE_INDEX,
        }
        endpoint = f"TCP {host}:{port}"
    elif row.comm_type == CommType.RS485:
        if not row.com_port:
            raise SkipRowError("RS485 device without a com_port")
        address = row.com_address or DEFAULT_COM_ADDRESS
        baudrate = DEFAULT_BAUDRATE_INDEX if row.baudrate is None else row.baudrate
        fields |= {
            "comm_type": CommType.RS485,
            "ipaddress": None,
            "ip_port": None,
            "com_port": row.com_port,
            "com_address": address,
            "baudrate": baudrate,
        }
        endpoint = f"RS485 COM{row.com_port} address {address} baudrate index {baudrate}"
    else:
        label = _COMM_TYPES.get(row.comm_type or 0, "unknown")
        raise SkipRowError(f"comm_type {row.comm_type} ({label}) is not served by the agent")
    return MappedRow(fields, password, endpoint)


def import_devices(
    alias: str, *, dry_run: bool = False, only: Iterable[int] | None = None
) -> ImportReport:
    """Create or update a Device for every panel row of `iclock` in database *alias*."""
    rows = LegacyDevice.objects.using(alias).order_by("id")
    if only is not None:
        rows = rows.filter(id__in=list(only))
    legacy_rows = list(rows)  # read the legacy side before opening our transaction
    report = ImportReport(dry_run=dry_run)
    with transaction.atomic():
        for row in legacy_rows:
            report.actions.append(_import_row(row))
        if dry_run:
            transaction.set_rollback(True)
    return report


def _import_row(row: LegacyDevice) -> ImportAction:
    alias = (row.alias or "").strip()
    try:
        mapped = map_row(row)
    except SkipRowError as exc:
        return ImportAction(row.pk, alias, "skipped", detail=str(exc))
    link = DeviceLink.objects.select_related("device").filter(legacy_id=row.pk).first()
    device = link.device if link is not None else _unlinked_match(mapped)
    if device is None:
        device = Device(**mapped.fields)
        device.set_password(mapped.password)
        outcome, detail = "created", mapped.endpoint
    else:
        changed = _apply(device, mapped)
        outcome = "updated" if changed else "unchanged"
        detail = f"changed: {', '.join(changed)}" if changed else mapped.endpoint
        if link is None:
            detail += f"; linked to existing device {device.pk}"
    try:
        device.full_clean()
        with transaction.atomic():
            if outcome != "unchanged":
                device.save()
            DeviceLink.objects.update_or_create(legacy_id=row.pk, defaults={"device": device})
    except ValidationError as exc:
        return ImportAction(row.pk, alias, "skipped", detail=_errors(exc))
    except IntegrityError as exc:
        return ImportAction(row.pk, alias, "skipped", detail=f"conflicts with a device: {exc}")
    return ImportAction(row.pk, alias, outcome, device.pk, detail)


def _unlinked_match(mapped: MappedRow) -> Device | None:
    unlinked = Device.objects.filter(legacy_link__isnull=True)
    sn = mapped.fields["sn"]
    if sn:
        found = unlinked.filter(sn=sn).first()
        if found is not None:
            return found
    return unlinked.filter(alias=mapped.fields["alias"]).first()


def _apply(device: Device, mapped: MappedRow) -> list[str]:
    """Set the mapped fields on *device*; returns the names that changed."""
    changed = []
    for name, value in mapped.fields.items():
        if name == "sn" and not value:
            continue  # ZKECO had no serial yet: keep the one the agent learned
        if getattr(device, name) != value:
            setattr(device, name, value)
            changed.append(name)
    if device.password() != mapped.password:
        device.set_password(mapped.password)
        changed.append("comm_pwd")
    return changed


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{name}: {' '.join(str(m) for m in messages)}"
            for name, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def _label(choices: type[DeviceType], value: int) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return "unknown"

"""Devices, their events and their command queue, with the legacy ZKECO names and meanings.

Field names follow `iclock`, `acc_monitor_log` and `devcmds` (parity doc §2) where those have
one. All times are aware UTC (`USE_TZ`); panel-local times are converted on the way in.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone as djtz

from zkpull.protocol.codes import describe_event, describe_inout, describe_verify
from zkpull.protocol.constants import MAX_PASSWORD_LENGTH

from .crypt import decode_comm_pwd, encode_comm_pwd
from .records import KEY_FIELDS, NO_TRIGGER, OTHER_VERIFY, EventPointType


def validate_timezone(name: str) -> None:
    """Reject names that are not IANA time zones known to this system."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{name!r} is not a known IANA time zone") from exc


class DeviceType(models.IntegerChoices):
    TIME_RECORDER = 1, "Time recorder"
    ACCESS_PANEL = 2, "Access control panel"
    ACCESS_DEVICE = 3, "Access control device"
    VIDEO_SERVER = 4, "Video server"
    ELEVATOR = 5, "Elevator controller"


CONTROLLER_TYPES = (DeviceType.ACCESS_PANEL, DeviceType.ELEVATOR)  # what the agent serves


class CommType(models.IntegerChoices):
    TCP = 1, "TCP/IP"
    RS485 = 2, "RS485"


class Baudrate(models.IntegerChoices):
    """Legacy `iclock.baudrate` index (zkpull `baudrate_from_index` maps it to a rate)."""

    B9600 = 0, "9600 bps"
    B19200 = 1, "19200 bps"
    B38400 = 2, "38400 bps"
    B57600 = 3, "57600 bps"
    B115200 = 4, "115200 bps"


class AcpanelType(models.IntegerChoices):
    ONE_DOOR = 1, "1 door"
    TWO_DOORS = 2, "2 doors"
    FOUR_DOORS = 4, "4 doors"
    STANDALONE = 5, "Standalone device"


class Device(models.Model):
    """A panel (legacy `iclock` row). Connection fields per `comm_type`; facts learned on connect."""

    sn = models.CharField("serial number", max_length=40, blank=True, db_index=True)
    alias = models.CharField(max_length=20, unique=True)
    device_type = models.PositiveSmallIntegerField(
        choices=DeviceType.choices, default=DeviceType.ACCESS_PANEL
    )
    comm_type = models.PositiveSmallIntegerField(choices=CommType.choices, default=CommType.TCP)
    ipaddress = models.GenericIPAddressField("IP address", null=True, blank=True)
    ip_port = models.PositiveIntegerField(
        "IP port",
        null=True,
        blank=True,
        default=4370,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    com_port = models.PositiveSmallIntegerField(
        "COM port",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(254)],
        help_text="Legacy COM number n (COM<n>); mapped to a device path by ZKAGENT serial settings.",
    )
    com_address = models.PositiveSmallIntegerField(
        "RS485 address",
        null=True,
        blank=True,
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(255)],
    )
    baudrate = models.PositiveSmallIntegerField(choices=Baudrate.choices, default=Baudrate.B38400)
    # Legacy obfuscated form (crypt.py) or plain text; never shown by the admin.
    comm_pwd = models.CharField("communication password", max_length=32, blank=True, default="")
    enabled = models.BooleanField(default=True)
    acpanel_type = models.PositiveSmallIntegerField(
        "panel type", choices=AcpanelType.choices, default=AcpanelType.FOUR_DOORS
    )
    sync_time = models.BooleanField(default=True, help_text="Set the panel clock on connect.")
    timezone = models.CharField(
        "time zone",
        max_length=64,
        default=djtz.get_default_timezone_name,
        validators=[validate_timezone],
        help_text="IANA zone of the panel's clock (panels keep local time).",
    )
    # Learned on connect (GetDeviceParam); None = not known yet.
    fw_version = models.CharField("firmware", max_length=50, blank=True)
    device_name = models.CharField(max_length=50, blank=True)
    lock_count = models.PositiveSmallIntegerField(null=True, blank=True)
    reader_count = models.PositiveSmallIntegerField(null=True, blank=True)
    aux_in_count = models.PositiveSmallIntegerField(null=True, blank=True)
    aux_out_count = models.PositiveSmallIntegerField(null=True, blank=True)
    max_user_count = models.PositiveIntegerField(null=True, blank=True)
    max_attlog_count = models.PositiveIntegerField(null=True, blank=True)
    last_connected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("alias",)
        constraints = (
            # Legacy rejected a second row for the same endpoint; two sessions would fight.
            models.UniqueConstraint(
                fields=("ipaddress", "ip_port"),
                condition=Q(comm_type=CommType.TCP),
                name="agent_device_unique_tcp_endpoint",
                violation_error_message="Another TCP/IP device uses this IP address and port.",
            ),
            models.UniqueConstraint(
                fields=("com_port", "com_address"),
                condition=Q(comm_type=CommType.RS485),
                name="agent_device_unique_rs485_address",
                violation_error_message="Another RS485 device uses this COM port and address.",
            ),
        )

    def __str__(self) -> str:
        return self.alias

    def password(self) -> str:
        """The plain communication password ("" for none)."""
        return decode_comm_pwd(self.comm_pwd)

    def set_password(self, plain: str) -> None:
        """Store *plain* in the legacy obfuscated form (not saved)."""
        self.comm_pwd = encode_comm_pwd(plain)

    @property
    def is_tcp(self) -> bool:
        return self.comm_type == CommType.TCP

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.comm_type == CommType.TCP:
            if not self.ipaddress:
                errors["ipaddress"] = "A TCP/IP device needs an IP address."
            if not self.ip_port:
                errors["ip_port"] = "A TCP/IP device needs a port (panels listen on 4370)."
        elif self.comm_type == CommType.RS485:
            if not self.com_port:
                errors["com_port"] = "An RS485 device needs a COM port."
            if not self.com_address:
                errors["com_address"] = "An RS485 device needs its address (DIP-switch DeviceID)."
        plain = self.password()
        if not plain.isascii() or len(plain) > MAX_PASSWORD_LENGTH:
            errors["comm_pwd"] = (
                f"Panels accept ASCII passwords of up to {MAX_PASSWORD_LENGTH} characters."
            )
        if errors:
            raise ValidationError(errors)


class EventSource(models.TextChoices):
    REALTIME = "rt", "real-time log"
    TRANSACTION = "tx", "transaction download"


class DeviceRealtimeLog(models.Model):
    """Every rtlog record as received (status records only when the door/alarm state changed).

    Fields are the positions of the legacy line `time,pin,card,door,event,inout,verify`; for a
    status record (event 255) pin/card_no hold the door-sensor and alarm words.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="realtime_logs")
    received_at = models.DateTimeField(default=djtz.now)
    seq = models.PositiveSmallIntegerField(default=0, help_text="Position in its poll reply.")
    line = models.CharField(max_length=255)
    time = models.DateTimeField(null=True, blank=True, help_text="Panel time; empty if impossible.")
    pin = models.BigIntegerField(default=0)
    card_no = models.BigIntegerField(default=0)
    door = models.PositiveSmallIntegerField(default=0)
    event_type = models.PositiveSmallIntegerField(default=0)
    inout = models.PositiveSmallIntegerField(default=2)
    verified = models.PositiveSmallIntegerField(default=OTHER_VERIFY)
    is_status = models.BooleanField(default=False)

    class Meta:
        ordering = ("-received_at", "-seq")
        verbose_name = "real-time log line"
        constraints = (
            # Also the (device, received_at) index: a retried write stores each line once.
            models.UniqueConstraint(
                fields=("device", "received_at", "seq"), name="agent_realtime_unique_line"
            ),
        )

    def __str__(self) -> str:
        return self.line


class DeviceEventLog(models.Model):
    """The canonical access event (legacy `acc_monitor_log`), from rtlog and downloads alike.

    The unique key is legacy's 10 columns, so an event seen by both paths, or downloaded twice,
    is one row; `source` records which path stored it first and is not part of the key.
    """

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="events")
    time = models.DateTimeField()
    pin = models.CharField(max_length=20, default="--")
    card_no = models.CharField(max_length=20, default="--")
    verified = models.PositiveSmallIntegerField(default=OTHER_VERIFY)
    state = models.PositiveSmallIntegerField(default=2, help_text="0 in, 1 out, 2 none")
    event_type = models.PositiveSmallIntegerField()
    event_point_type = models.SmallIntegerField(
        choices=[(int(t), t.name.lower()) for t in EventPointType], default=int(EventPointType.NONE)
    )
    event_point_id = models.PositiveSmallIntegerField(default=0, help_text="Door or aux number.")
    trigger_opt = models.SmallIntegerField(default=NO_TRIGGER)
    source = models.CharField(max_length=2, choices=EventSource.choices)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-time", "-id")
        verbose_name = "event"
        constraints = (
            models.UniqueConstraint(fields=("device", *KEY_FIELDS), name="agent_event_natural_key"),
        )
        indexes = (models.Index(fields=("-time",), name="agent_event_time"),)

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.event_description()}"

    def event_description(self) -> str:
        return describe_event(self.event_type)

    def verify_description(self) -> str:
        return describe_verify(self.verified)

    def state_description(self) -> str:
        return describe_inout(self.state)


class QuarantinedRecord(models.Model):
    """Device input that failed validation (impossible date, ...), kept for inspection."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="quarantine")
    received_at = models.DateTimeField(default=djtz.now)
    source = models.CharField(max_length=2, choices=EventSource.choices)
    raw = models.TextField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ("-received_at",)
        constraints = (
            # Re-reading the same bad record (a retry, a re-download) adds nothing.
            models.UniqueConstraint(
                fields=("device", "source", "raw"), name="agent_quarantine_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.raw} ({self.reason})"


class CommandStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL_STATUSES = (
    CommandStatus.DONE,
    CommandStatus.FAILED,
    CommandStatus.EXPIRED,
    CommandStatus.CANCELLED,
)


class DeviceCommand(models.Model):
    """A legacy command for one panel (`devcmds`): text, queueing, times and result.

    Create rows with `agent.commands.enqueue()` (grammar check, de-duplication, expiry).
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    content = models.TextField(help_text="Legacy CmdContent, e.g. DEVICE SET 1 1 5.")
    immediate = models.BooleanField(default=False, help_text="CmdImmediately: runs first.")
    priority = models.IntegerField(default=0, help_text="Higher runs earlier.")
    commit_time = models.DateTimeField(default=djtz.now)
    trans_time = models.DateTimeField(null=True, blank=True, help_text="Last sent to the panel.")
    over_time = models.DateTimeField(null=True, blank=True, help_text="Finished.")
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=CommandStatus.choices, default=CommandStatus.PENDING
    )
    return_code = models.IntegerField(null=True, blank=True, help_text="Legacy CmdReturn.")
    return_content = models.TextField(blank=True, help_text="Legacy CmdReturnContent.")
    attempts = models.PositiveIntegerField(default=0)
    dedupe_key = models.CharField(max_length=64, blank=True, editable=False)
    epoch = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Cluster mode: fencing epoch of the shard owner that last took it.",
    )

    class Meta:
        ordering = ("-commit_time", "-id")
        verbose_name = "command"
        constraints = (
            # At most one identical pending command per device, even under concurrent enqueue.
            models.UniqueConstraint(
                fields=("device", "dedupe_key"),
                condition=Q(status="pending"),
                name="agent_command_unique_pending",
            ),
        )
        indexes = (models.Index(fields=("device", "status"), name="agent_command_queue"),)

    def __str__(self) -> str:
        first_line = self.content.splitlines()[0] if self.content else ""
        return f"#{self.pk} {first_line[:60]}"


class DeviceStatus(models.Model):
    """DB mirror of the agent's view of a device, written on transitions (and throttled)."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="status"
    )
    online = models.BooleanField(default=False)
    last_activity = models.DateTimeField(null=True, blank=True, help_text="Last good exchange.")
    last_return_code = models.IntegerField(null=True, blank=True)
    last_op = models.CharField(max_length=32, blank=True, help_text="Legacy label, e.g. REAL_LOG.")
    detail = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "device status"
        verbose_name_plural = "device statuses"

    def __str__(self) -> str:
        return f"{self.device_id}: {'online' if self.online else 'offline'}"

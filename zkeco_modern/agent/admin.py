"""Admin: devices (write-only comm password, connection test), commands, read-only logs.

The connection test connects with the agent's own driver (`DeviceConfig` ->
`LegacyDriverAdapter` -> zkpull `PanelClient`), reads the capability options the agent reads
on connect, disconnects, and reports the facts or the typed error with its legacy code.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import HttpRequest

from zkpull import ZKError
from zkpull.protocol.constants import MAX_PASSWORD_LENGTH

from . import conf
from .commands import dedupe_key, enqueue
from .crypt import encode_comm_pwd
from .deviceconfig import DeviceConfig
from .grammar import CommandSyntaxError, parse_command
from .legacy_driver import LegacyDriverAdapter, return_code_for
from .models import (
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceEventLog,
    DeviceRealtimeLog,
    DeviceStatus,
    QuarantinedRecord,
)
from .returncodes import describe_return_code

MAX_CONNECTION_TESTS: Final = 10  # devices per action: each may take a few timeouts


class WriteOnlyPasswordField(forms.CharField):
    """A password input that never renders the stored value; empty input keeps it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        kwargs.setdefault("max_length", MAX_PASSWORD_LENGTH)
        super().__init__(widget=forms.PasswordInput(render_value=False), **kwargs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(data)


class DeviceForm(forms.ModelForm[Device]):
    comm_pwd = WriteOnlyPasswordField(
        label="Communication password",
        help_text="Write-only: leave empty to keep the current password.",
    )
    clear_comm_pwd = forms.BooleanField(label="Remove the communication password", required=False)

    class Meta:
        model = Device
        fields = "__all__"  # every iclock field is editable; comm_pwd is replaced above

    def clean_comm_pwd(self) -> str:
        plain: str = self.cleaned_data.get("comm_pwd") or ""
        if not plain:
            return self.instance.comm_pwd if self.instance.pk else ""
        if not plain.isascii():
            raise forms.ValidationError("Panels accept ASCII passwords only.")
        return encode_comm_pwd(plain)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("clear_comm_pwd"):
            cleaned["comm_pwd"] = ""
        return cleaned


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin[Device]):
    form = DeviceForm
    list_display = (
        "alias",
        "sn",
        "comm_type",
        "endpoint",
        "enabled",
        "acpanel_type",
        "timezone",
        "fw_version",
        "state",
        "last_connected_at",
    )
    list_select_related = ("status",)
    list_filter = ("enabled", "comm_type", "device_type", "acpanel_type")
    search_fields = ("alias", "sn", "ipaddress", "device_name")
    readonly_fields = (
        "fw_version",
        "device_name",
        "lock_count",
        "reader_count",
        "aux_in_count",
        "aux_out_count",
        "max_user_count",
        "max_attlog_count",
        "last_connected_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("alias", "sn", "device_type", "acpanel_type", "enabled")}),
        ("TCP/IP", {"fields": ("ipaddress", "ip_port")}),
        ("RS485", {"fields": ("com_port", "com_address", "baudrate")}),
        (
            "Session",
            {"fields": ("comm_pwd", "clear_comm_pwd", "timezone", "sync_time", "comm_type")},
        ),
        ("Learned on connect", {"fields": readonly_fields, "classes": ("collapse",)}),
    )
    actions = ("test_connection", "cancel_pending_commands")

    @admin.display(description="status")
    def state(self, obj: Device) -> str:
        if not obj.enabled:
            return "disabled"
        status: DeviceStatus | None = getattr(obj, "status", None)
        if status is None:
            return "no status yet"
        code = status.last_return_code
        text = f" ({code} {describe_return_code(code)})" if code is not None else ""
        return ("online" if status.online else "offline") + text

    @admin.action(description="Test the connection (connect, read capabilities, disconnect)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        settings = conf.load()
        devices = list(queryset.order_by("alias")[: MAX_CONNECTION_TESTS + 1])
        if len(devices) > MAX_CONNECTION_TESTS:
            self.message_user(
                request,
                f"Select at most {MAX_CONNECTION_TESTS} devices per connection test.",
                messages.WARNING,
            )
            return
        for device in devices:
            ok, text = connection_test(device, settings)
            self.message_user(request, text, messages.SUCCESS if ok else messages.ERROR)

    @admin.display(description="address")
    def endpoint(self, obj: Device) -> str:
        if obj.is_tcp:
            return f"{obj.ipaddress}:{obj.ip_port}"
        return f"COM{obj.com_port} #{obj.com_address}"

    @admin.action(description="Cancel the pending commands of the selected devices")
    def cancel_pending_commands(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        count = DeviceCommand.objects.filter(
            device__in=queryset, status=CommandStatus.PENDING
        ).update(status=CommandStatus.CANCELLED, return_content="cancelled from the admin")
        self.message_user(request, f"{count} pending command(s) cancelled.", messages.SUCCESS)


_COMMAND_HISTORY = (
    "device",
    "content",
    "status",
    "commit_time",
    "trans_time",
    "over_time",
    "return_code",
    "return_content",
    "attempts",
)


class DeviceCommandForm(forms.ModelForm[DeviceCommand]):
    class Meta:
        model = DeviceCommand
        fields = ("device", "content", "immediate", "priority", "expires_at")

    def clean_content(self) -> str:
        content: str = self.cleaned_data["content"]
        try:
            parse_command(content)
        except CommandSyntaxError as exc:
            raise forms.ValidationError(exc.reason) from exc
        return content


@admin.register(DeviceCommand)
class DeviceCommandAdmin(admin.ModelAdmin[DeviceCommand]):
    form = DeviceCommandForm
    list_display = (
        "id",
        "device",
        "short_content",
        "status",
        "immediate",
        "priority",
        "commit_time",
        "trans_time",
        "over_time",
        "return_code",
        "result",
        "attempts",
    )
    list_filter = ("status", "immediate", "device")
    search_fields = ("content", "return_content", "device__alias")
    list_select_related = ("device",)
    date_hierarchy = "commit_time"
    actions = ("cancel_selected",)

    def get_readonly_fields(
        self, request: HttpRequest, obj: DeviceCommand | None = None
    ) -> tuple[str, ...]:
        # A command is history once created: only its queue position stays editable.
        return () if obj is None else _COMMAND_HISTORY

    def get_fields(self, request: HttpRequest, obj: DeviceCommand | None = None) -> tuple[str, ...]:
        editable = ("immediate", "priority", "expires_at")
        return ("device", "content", *editable) if obj is None else (*_COMMAND_HISTORY, *editable)

    def save_model(self, request: HttpRequest, obj: DeviceCommand, form: Any, change: bool) -> None:
        if not change:
            # Same rules as every other producer: dedupe key and default expiry.
            queued = enqueue(obj.device, obj.content, obj.immediate, obj.priority)
            if obj.expires_at is not None and queued.status == CommandStatus.PENDING:
                queued.expires_at = obj.expires_at
                queued.save(update_fields=["expires_at"])
            obj.pk, obj.dedupe_key, obj.expires_at = queued.pk, queued.dedupe_key, queued.expires_at
            obj.commit_time, obj.status = queued.commit_time, queued.status
            return
        obj.dedupe_key = dedupe_key(parse_command(obj.content))
        super().save_model(request, obj, form, change)

    @admin.display(description="result")
    def result(self, obj: DeviceCommand) -> str:
        if obj.return_code is None:
            return ""
        text = describe_return_code(obj.return_code)
        detail = obj.return_content.splitlines()[0][:80] if obj.return_content else ""
        return f"{text}: {detail}" if detail else text

    @admin.display(description="content")
    def short_content(self, obj: DeviceCommand) -> str:
        first = obj.content.splitlines()[0] if obj.content else ""
        return first if len(first) <= 60 else first[:57] + "..."

    @admin.action(description="Cancel the selected pending commands")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[DeviceCommand]) -> None:
        count = queryset.filter(status=CommandStatus.PENDING).update(
            status=CommandStatus.CANCELLED, return_content="cancelled from the admin"
        )
        self.message_user(request, f"{count} pending command(s) cancelled.", messages.SUCCESS)


def connection_test(device: Device, settings: conf.AgentSettings) -> tuple[bool, str]:
    """(ok, message) of one connect / read capabilities / disconnect; never raises for the panel.

    The message names the device and never contains the password.
    """
    name = device.alias
    try:
        config = DeviceConfig.from_model(device, settings)
    except ImproperlyConfigured as exc:
        return False, f"{name}: not tested, the configuration is invalid: {exc}"
    if config.is_rs485 and device.enabled:
        # The agent has this bus open; a second master on RS485 garbles both conversations.
        return False, (
            f"{name}: not tested: the agent owns the RS485 bus of an enabled device "
            "(disable the device to test it, or read its status)"
        )
    timeout = settings.rs485_timeout_seconds if config.is_rs485 else settings.tcp_timeout_seconds

    async def probe() -> dict[str, object]:
        adapter = LegacyDriverAdapter.for_device(config, timeout=timeout)
        try:
            async with asyncio.timeout(4 * timeout + 2):  # connect + two requests, at most
                facts = await adapter.connect()
                await adapter.disconnect()
                return facts
        finally:
            await adapter.close()

    try:
        facts = async_to_sync(probe)()
    except ZKError as exc:
        code = return_code_for(exc)
        return False, (
            f"{name}: {type(exc).__name__}: {exc} (code {code}: {describe_return_code(code)})"
        )
    except TimeoutError:
        return False, f"{name}: no complete answer within {4 * timeout + 2:.0f} s"
    except OSError as exc:  # e.g. the serial device cannot be opened
        return False, f"{name}: {type(exc).__name__}: {exc}"
    doors = facts.get("lock_count")
    warning = ""
    if isinstance(doors, int) and doors and doors != device.acpanel_type:
        warning = (
            f"; WARNING: the panel has {doors} doors, the device is set to {device.acpanel_type}"
        )
    return True, (
        f"{name}: connected to {config.host}:{config.port}"
        if not config.is_rs485
        else f"{name}: connected on {config.serial_port} address {config.address}"
    ) + (
        f"; serial {facts.get('sn') or '?'}, firmware {facts.get('fw_version') or '?'}, "
        f"{doors} doors, {facts.get('reader_count')} readers{warning}"
    )


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Logs are written by the agent only."""

    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AlarmFilter(admin.SimpleListFilter):
    """Alarms (event types 100-199) or everything else."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("alarm", "alarms (100-199)"), ("normal", "other events")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        alarms = {"event_type__gte": 100, "event_type__lt": 200}
        if self.value() == "alarm":
            return queryset.filter(**alarms)
        if self.value() == "normal":
            return queryset.exclude(**alarms)
        return queryset


@admin.register(DeviceEventLog)
class DeviceEventLogAdmin(ReadOnlyAdmin):
    list_display = (
        "time",
        "device",
        "pin",
        "card_no",
        "event_type",
        "event_name",
        "event_point_type",
        "event_point_id",
        "state",
        "verified",
        "source",
        "description",
    )
    list_filter = (AlarmFilter, "event_type", "source", "event_point_type", "state", "device")
    search_fields = ("pin", "card_no", "description", "device__alias")
    list_select_related = ("device",)
    date_hierarchy = "time"

    @admin.display(description="event")
    def event_name(self, obj: DeviceEventLog) -> str:
        return obj.event_description()


@admin.register(DeviceRealtimeLog)
class DeviceRealtimeLogAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "seq", "device", "line", "event_type", "is_status")
    list_filter = ("is_status", AlarmFilter, "event_type", "device")
    search_fields = ("line", "device__alias")
    list_select_related = ("device",)
    date_hierarchy = "received_at"


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "device", "source", "raw", "reason")
    list_filter = ("source", "device")
    search_fields = ("raw", "reason", "device__alias")
    list_select_related = ("device",)


@admin.register(DeviceStatus)
class DeviceStatusAdmin(ReadOnlyAdmin):
    list_display = (
        "device",
        "online",
        "last_activity",
        "last_return_code",
        "return_text",
        "last_op",
        "detail",
        "updated_at",
    )
    list_filter = ("online", "last_op")
    search_fields = ("device__alias", "detail")
    list_select_related = ("device",)

    @admin.display(description="meaning")
    def return_text(self, obj: DeviceStatus) -> str:
        code = obj.last_return_code
        return describe_return_code(code) if code is not None else ""

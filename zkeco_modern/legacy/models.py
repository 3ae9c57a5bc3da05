"""The ZKECO tables this app reads and writes (unmanaged), and its own bookkeeping (managed).

Legacy tables (parity doc §2; `LEGACY_DB = True`, routed to the legacy alias, never migrated):
`iclock`, `acc_door`, `acc_reader`, `acc_auxiliary`, `userinfo`, `departments`,
`personnel_area`, `acc_monitor_log`. Only the columns the tools use are mapped; the
CachingModel base columns (`create_time`, `status`, ...) are mapped where we read or write them.
Bookkeeping (default database): `DeviceLink` (legacy iclock id <-> agent Device) and
`LegacyExportCursor` (how far the legacy writer has copied DeviceEventLog).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from agent.models import Device

# The 10-column unique key of acc_monitor_log (index `time` in the 2017 .frm), in order.
MONITOR_LOG_KEY = (
    "time",
    "pin",
    "card_no",
    "device_id",
    "verified",
    "state",
    "event_type",
    "event_point_type",
    "event_point_id",
    "trigger_opt",
)


class LegacyDevice(models.Model):
    """`iclock`: every device of the installation; panels are device_type 2 and 5."""

    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    sn = models.CharField(max_length=20, null=True)
    alias = models.CharField(max_length=20)
    device_type = models.IntegerField()
    enabled = models.BooleanField(default=True)
    comm_type = models.IntegerField(null=True)
    ipaddress = models.CharField(max_length=20, null=True)
    ip_port = models.IntegerField(null=True)
    com_port = models.IntegerField(null=True)
    baudrate = models.IntegerField(null=True)
    com_address = models.IntegerField(null=True)
    comm_pwd = models.CharField(max_length=32, null=True)
    acpanel_type = models.IntegerField(null=True)
    sync_time = models.BooleanField(default=True)
    area_id = models.IntegerField(null=True)
    delete_time = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "iclock"

    def __str__(self) -> str:
        return f"iclock {self.pk} {self.alias}"


class LegacyDoor(models.Model):
    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    device_id = models.IntegerField()
    door_no = models.IntegerField()
    door_name = models.CharField(max_length=30)

    class Meta:
        managed = False
        db_table = "acc_door"


class LegacyReader(models.Model):
    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    door_id = models.IntegerField()
    reader_no = models.IntegerField()
    reader_name = models.CharField(max_length=30)
    reader_state = models.IntegerField(help_text="0 in, 1 out")

    class Meta:
        managed = False
        db_table = "acc_reader"


class LegacyAuxiliary(models.Model):
    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    device_id = models.IntegerField()
    aux_no = models.IntegerField()
    aux_name = models.CharField(max_length=30)
    aux_state = models.IntegerField(help_text="0 input, 1 output")

    class Meta:
        managed = False
        db_table = "acc_auxiliary"


class LegacyPerson(models.Model):
    """`userinfo`: badgenumber is the PIN the panels report."""

    LEGACY_DB: ClassVar[bool] = True
    userid = models.AutoField(primary_key=True)
    badgenumber = models.CharField(max_length=24)
    name = models.CharField(max_length=24, null=True)
    lastname = models.CharField(max_length=24, null=True)
    defaultdeptid = models.IntegerField(null=True)

    class Meta:
        managed = False
        db_table = "userinfo"


class LegacyDepartment(models.Model):
    LEGACY_DB: ClassVar[bool] = True
    deptid = models.AutoField(primary_key=True, db_column="DeptID")
    deptname = models.CharField(max_length=100, db_column="DeptName")

    class Meta:
        managed = False
        db_table = "departments"


class LegacyArea(models.Model):
    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    areaid = models.CharField(max_length=20)
    areaname = models.CharField(max_length=30)

    class Meta:
        managed = False
        db_table = "personnel_area"


class LegacyMonitorLog(models.Model):
    """`acc_monitor_log` (2017 schema): the access event log the legacy reports query.

    `time` is the panel's local wall clock, naive (the legacy ran with USE_TZ off).
    """

    LEGACY_DB: ClassVar[bool] = True
    id = models.AutoField(primary_key=True)
    create_time = models.DateTimeField(null=True)
    status = models.SmallIntegerField(default=0)
    log_tag = models.IntegerField(null=True)
    time = models.DateTimeField(null=True)
    pin = models.CharField(max_length=20, null=True)
    card_no = models.CharField(max_length=20, null=True)
    device_id = models.IntegerField(null=True)
    device_sn = models.CharField(max_length=20, null=True)
    device_name = models.CharField(max_length=20, null=True)
    verified = models.IntegerField(null=True, default=200)
    state = models.IntegerField(null=True)
    state_name = models.CharField(max_length=30, null=True)
    event_type = models.SmallIntegerField(null=True)
    trigger_opt = models.SmallIntegerField(null=True, default=-1)
    event_point_type = models.SmallIntegerField(null=True)
    event_point_id = models.IntegerField(null=True)
    event_point_name = models.CharField(max_length=30, null=True)
    description = models.CharField(max_length=200, null=True)
    firstname = models.CharField(max_length=24, null=True)
    lastname = models.CharField(max_length=24, null=True)
    dept = models.CharField(max_length=100, null=True)
    area = models.CharField(max_length=30, null=True)

    class Meta:
        managed = False
        db_table = "acc_monitor_log"


class DeviceLink(models.Model):
    """Which legacy `iclock` row an agent Device came from (import) or stands for (writer)."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="legacy_link")
    legacy_id = models.IntegerField("legacy iclock id", unique=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "legacy device link"

    def __str__(self) -> str:
        return f"{self.device_id} <- iclock {self.legacy_id}"


class LegacyExportCursor(models.Model):
    """The last DeviceEventLog id of a device copied into acc_monitor_log."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="legacy_cursor"
    )
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.device_id}: {self.last_event_id}"

"""import_legacy_devices against a real MariaDB holding ZKECO's iclock table."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command

from agent.crypt import encode_comm_pwd
from agent.deviceconfig import DeviceConfig
from agent.models import CommType, Device
from legacy.models import DeviceLink

from .conftest import LEGACY_DB_MARK, LegacyDb

pytestmark = LEGACY_DB_MARK

TCP_PASSWORD = "4711"  # noqa: S105 (test data)
LONG_PASSWORD = "sixteen-chars-pw"  # noqa: S105 (test data); 16 > 15; 32 letters stored, as legacy allows


def _fill(db: LegacyDb) -> None:
    common = {"status": 0, "enabled": 1, "sync_time": 1}
    db.insert(
        "iclock", id=1, sn="C3A001", device_type=2, alias="Door-A", comm_type=1,
        ipaddress="192.168.1.201", ip_port=4370, comm_pwd=encode_comm_pwd(TCP_PASSWORD),
        acpanel_type=4, **common,
    )  # fmt: skip
    db.insert(
        "iclock", id=2, sn="", device_type=2, alias="Bus-2", comm_type=2, com_port=3,
        com_address=2, baudrate=3, comm_pwd="", acpanel_type=2, **common,
    )  # fmt: skip
    db.insert("iclock", id=3, sn="T1", device_type=1, alias="Clock", comm_type=1,
              ipaddress="192.168.1.50", ip_port=4370, **common)  # fmt: skip
    db.insert("iclock", id=4, sn="E5", device_type=5, alias="Lift", comm_type=1,
              ipaddress="192.168.1.205", ip_port=None, acpanel_type=4, **common)  # fmt: skip
    db.insert("iclock", id=5, sn="BAD", device_type=2, alias="Broken", comm_type=1,
              ipaddress="not-an-ip", ip_port=4370, acpanel_type=4, **common)  # fmt: skip
    db.insert("iclock", id=6, sn="P6", device_type=2, alias="Pusher", comm_type=3,
              ipaddress="192.168.1.66", acpanel_type=4, **common)  # fmt: skip
    db.insert("iclock", id=7, sn="L7", device_type=2, alias="Long-pwd", comm_type=1,
              ipaddress="192.168.1.77", ip_port=4370, comm_pwd=encode_comm_pwd(LONG_PASSWORD),
              acpanel_type=4, **common)  # fmt: skip


def _run(*args: str) -> str:
    out = StringIO()
    call_command("import_legacy_devices", *args, stdout=out)
    return out.getvalue()


def _report(*args: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(_run("--json", *args))
    return report


def test_dry_run_reports_every_row_and_writes_nothing(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    text = _run("--dry-run")
    assert Device.objects.count() == 0
    assert DeviceLink.objects.count() == 0
    assert (
        "dry run: 3 would be created, 0 would be updated, 0 would be unchanged, 4 would be skipped"
        in text
    )
    assert "device_type 1 (Time recorder) is not a panel" in text
    assert "comm_type 3 (HTTP push) is not served by the agent" in text
    assert "ipaddress: Enter a valid IPv4 or IPv6 address." in text
    assert "comm_pwd: panels accept ASCII passwords of up to 15 characters" in text
    for secret in (TCP_PASSWORD, LONG_PASSWORD, encode_comm_pwd(TCP_PASSWORD)):
        assert secret not in text


def test_import_creates_panels_with_decoded_passwords_and_rs485_fields(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    report = _report()
    assert report["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 4}
    door = Device.objects.get(alias="Door-A")
    assert (door.comm_type, door.ipaddress, door.ip_port) == (CommType.TCP, "192.168.1.201", 4370)
    assert (door.com_port, door.com_address) == (None, None)
    assert door.password() == TCP_PASSWORD
    assert door.comm_pwd == encode_comm_pwd(TCP_PASSWORD)  # kept in the legacy form
    assert door.sn == "C3A001"
    assert door.acpanel_type == 4
    assert door.sync_time
    bus = Device.objects.get(alias="Bus-2")
    assert (bus.comm_type, bus.com_port, bus.com_address, bus.baudrate) == (CommType.RS485, 3, 2, 3)
    assert (bus.ipaddress, bus.ip_port, bus.password()) == (None, None, "")
    config = DeviceConfig.from_model(bus)
    assert config.serial_link == ("/dev/ttyS2", 57600)  # legacy COM3, baudrate index 3
    assert config.address == 2
    lift = Device.objects.get(alias="Lift")
    assert lift.device_type == 5
    assert lift.ip_port == 4370
    links = dict(DeviceLink.objects.values_list("legacy_id", "device__alias"))
    assert links == {1: "Door-A", 2: "Bus-2", 4: "Lift"}
    assert TCP_PASSWORD not in json.dumps(report)


def test_rerun_changes_nothing_and_reports_unchanged(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    _run()
    before = list(Device.objects.order_by("pk").values())
    report = _report()
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "skipped": 4}
    assert list(Device.objects.order_by("pk").values()) == before


def test_rerun_updates_changed_rows_without_showing_the_password(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    _run()
    device_id = Device.objects.get(alias="Door-A").pk
    legacy_db.execute(
        "UPDATE iclock SET ipaddress=%s, comm_pwd=%s WHERE id=1",
        ["192.168.1.210", encode_comm_pwd("9999")],
    )
    dry = _run("--dry-run")
    assert "changed: ipaddress, comm_pwd" in dry
    assert Device.objects.get(pk=device_id).ipaddress == "192.168.1.201"  # dry run wrote nothing
    text = _run()
    assert "9999" not in text
    assert encode_comm_pwd("9999") not in text
    assert "0 created, 1 updated, 2 unchanged, 4 skipped" in text
    door = Device.objects.get(pk=device_id)
    assert (door.ipaddress, door.password()) == ("192.168.1.210", "9999")


def test_existing_device_is_matched_by_serial_and_linked(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    mine = Device.objects.create(
        alias="front", sn="C3A001", comm_type=CommType.TCP, ipaddress="10.0.0.9", ip_port=4370
    )
    report = _report("--id", "1")
    assert report["counts"] == {"created": 0, "updated": 1, "unchanged": 0, "skipped": 0}
    assert Device.objects.count() == 1
    mine.refresh_from_db()
    assert (mine.alias, mine.ipaddress) == ("Door-A", "192.168.1.201")
    assert DeviceLink.objects.get(legacy_id=1).device_id == mine.pk


def test_conflicting_endpoint_is_skipped_with_the_reason(legacy_db: LegacyDb) -> None:
    _fill(legacy_db)
    Device.objects.create(
        alias="other", comm_type=CommType.TCP, ipaddress="192.168.1.201", ip_port=4370
    )
    report = _report("--id", "1")
    row = report["rows"][0]  # type: ignore[index]
    assert row["outcome"] == "skipped"
    assert "Another TCP/IP device uses this IP address and port." in row["detail"]

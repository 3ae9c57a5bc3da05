# ruff: noqa: S105  (panel passwords are test data)
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction

from agent import conf
from agent.crypt import encode_comm_pwd
from agent.deviceconfig import DeviceConfig, TransportKind, load_device_configs
from agent.models import CommType, Device, DeviceCommand, DeviceEventLog, DeviceType

from .factories import make_device

pytestmark = pytest.mark.django_db

WHEN = datetime(2024, 3, 5, 7, 15, 32, tzinfo=UTC)


def _event(device, **fields):
    values = {
        "device": device,
        "time": WHEN,
        "pin": "1001",
        "card_no": "5",
        "event_type": 0,
        "source": "rt",
    }
    values.update(fields)
    return DeviceEventLog(**values)


def test_device_defaults_follow_legacy():
    device = Device(alias="d")
    assert device.device_type == DeviceType.ACCESS_PANEL
    assert device.ip_port == 4370
    assert device.com_address == 1
    assert device.baudrate == 2  # 38400 bps
    assert device.sync_time is True
    assert device.enabled is True
    assert device.timezone == "UTC"  # settings.TIME_ZONE


def test_password_is_decoded_from_the_legacy_form_or_taken_plain():
    device = make_device(comm_pwd=encode_comm_pwd("1234"))
    assert device.password() == "1234"
    device.comm_pwd = "4321"
    assert device.password() == "4321"
    device.set_password("pw")
    assert device.comm_pwd == encode_comm_pwd("pw")
    assert device.password() == "pw"


def test_tcp_device_needs_address_and_port():
    device = Device(alias="t", comm_type=CommType.TCP, ipaddress=None, ip_port=None)
    with pytest.raises(ValidationError) as info:
        device.full_clean()
    assert {"ipaddress", "ip_port"} <= set(info.value.message_dict)


def test_rs485_device_needs_com_port_and_address():
    device = Device(alias="r", comm_type=CommType.RS485, com_port=None, com_address=None)
    with pytest.raises(ValidationError) as info:
        device.full_clean()
    assert {"com_port", "com_address"} <= set(info.value.message_dict)


def test_timezone_and_password_are_validated():
    device = Device(alias="z", ipaddress="10.1.1.1", timezone="Mars/Olympus", comm_pwd="x" * 16)
    with pytest.raises(ValidationError) as info:
        device.full_clean()
    assert "timezone" in info.value.message_dict
    assert "comm_pwd" in info.value.message_dict


def test_duplicate_endpoints_are_rejected():
    make_device(ipaddress="10.9.9.9", ip_port=4370)
    twin = Device(alias="twin", ipaddress="10.9.9.9", ip_port=4370)
    with pytest.raises(ValidationError, match="Another TCP/IP device"):
        twin.full_clean()
    make_device(alias="bus-1", comm_type=CommType.RS485, com_port=3, com_address=2, ipaddress=None)
    other = Device(alias="bus-2", comm_type=CommType.RS485, com_port=3, com_address=2)
    with pytest.raises(ValidationError, match="Another RS485 device"):
        other.full_clean()
    # The same address on another bus is fine.
    Device(alias="bus-3", comm_type=CommType.RS485, com_port=4, com_address=2).full_clean()


def test_event_natural_key_is_unique_and_ignores_the_source():
    device = make_device()
    _event(device, source="rt").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _event(device, source="tx").save()
    _event(device, pin="1002").save()  # any other key column makes it another event
    _event(make_device(), source="tx").save()  # and so does another device
    assert DeviceEventLog.objects.count() == 3


def test_events_are_ordered_newest_first():
    device = make_device()
    _event(device, time=WHEN).save()
    _event(device, time=WHEN.replace(hour=9)).save()
    assert [e.time.hour for e in DeviceEventLog.objects.all()] == [9, 7]


def test_only_one_identical_pending_command_per_device():
    device = make_device()
    DeviceCommand.objects.create(device=device, content="CANCEL ALARM 1", dedupe_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceCommand.objects.create(device=device, content="CANCEL ALARM 1", dedupe_key="k")
    DeviceCommand.objects.create(
        device=device, content="CANCEL ALARM 1", dedupe_key="k", status="done"
    )


def test_device_config_for_tcp():
    device = make_device(
        alias="front",
        ipaddress="192.168.1.201",
        comm_pwd=encode_comm_pwd("1234"),
        timezone="Europe/Berlin",
    )
    config = DeviceConfig.from_model(device, conf.load({}))
    assert config.transport is TransportKind.TCP
    assert config.is_tcp
    assert not config.is_rs485
    assert config.tcp_endpoint == ("192.168.1.201", 4370)
    assert (config.password, config.timezone, config.address) == ("1234", "Europe/Berlin", 1)
    assert "1234" not in repr(config)
    assert "1234" not in repr(config.fingerprint)
    assert config.endpoint == "192.168.1.201:4370"
    with pytest.raises(ValueError, match="not an RS485 device"):
        _ = config.serial_link


def test_device_config_for_rs485_maps_com_port_and_baud_rate():
    device = make_device(
        comm_type=CommType.RS485, ipaddress=None, com_port=3, com_address=7, baudrate=4
    )
    config = DeviceConfig.from_model(device, conf.load({"serial_ports": {1: "/dev/ttyUSB0"}}))
    assert config.serial_link == ("/dev/ttyS2", 115200)
    assert (config.address, config.bus, config.endpoint) == (7, "/dev/ttyS2", "/dev/ttyS2#7")


def test_fingerprint_changes_with_connection_fields_but_not_with_learned_ones():
    settings = conf.load({})
    device = make_device()
    before = DeviceConfig.from_model(device, settings).fingerprint
    device.sn = "AJYS123"
    device.fw_version = "AC Ver 4.7.8"
    assert DeviceConfig.from_model(device, settings).fingerprint == before
    for field, value in [
        ("ip_port", 4371),
        ("comm_pwd", "9"),
        ("timezone", "Asia/Tokyo"),
        ("enabled", False),
        ("sync_time", False),
    ]:
        changed = Device.objects.get(pk=device.pk)
        setattr(changed, field, value)
        assert DeviceConfig.from_model(changed, settings).fingerprint != before, field


def test_invalid_rows_are_reported_not_raised():
    good = make_device()
    bad = make_device(timezone="Nowhere/Else")
    make_device(device_type=DeviceType.TIME_RECORDER)  # not a controller: not served
    configs, rejected = load_device_configs(conf.load({}))
    assert [c.id for c in configs] == [good.pk]
    assert "unknown time zone" in rejected[bad.pk]
    only, _ = load_device_configs(conf.load({}), only=[good.alias])
    assert [c.id for c in only] == [good.pk]
    with pytest.raises(ImproperlyConfigured, match="unknown time zone"):
        DeviceConfig.from_model(bad, conf.load({}))

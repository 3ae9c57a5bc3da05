from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent import conf
from agent.commands import cancel_pending, dedupe_key, enqueue
from agent.grammar import parse_command
from agent.models import CommandStatus, Device, DeviceCommand
from agent.returncodes import AppReturnCode

from .factories import make_device

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)


def test_valid_command_is_queued_pending():
    device = make_device()
    command = enqueue(device, "DATA COUNT user", now=NOW)
    assert command.status == CommandStatus.PENDING
    assert command.commit_time == NOW
    assert command.expires_at is None  # data commands never expire by default
    assert command.dedupe_key == dedupe_key(parse_command("DATA COUNT user"))


def test_invalid_command_is_stored_failed_with_the_reason():
    device = make_device()
    command = enqueue(device, "OPEN_DOOR 1", now=NOW)
    command.refresh_from_db()
    assert command.status == CommandStatus.FAILED
    assert command.return_code == AppReturnCode.UNKNOWN_COMMAND == -1006
    assert "unknown command 'OPEN_DOOR'" in command.return_content
    assert command.over_time == NOW
    assert enqueue(device, "OPEN_DOOR 1").pk != command.pk  # failures are never merged


def test_identical_pending_commands_are_merged():
    device = make_device()
    first = enqueue(device, "DEVICE SET 1 1 5", now=NOW)
    again = enqueue(device, "device  set 1 1 5", now=NOW + timedelta(seconds=1))
    assert again.pk == first.pk
    assert DeviceCommand.objects.count() == 1
    other_device = enqueue(make_device(), "DEVICE SET 1 1 5", now=NOW)
    assert other_device.pk != first.pk


def test_a_duplicate_of_a_finished_command_is_queued_again():
    device = make_device()
    first = enqueue(device, "CANCEL ALARM 1", now=NOW)
    DeviceCommand.objects.filter(pk=first.pk).update(status=CommandStatus.DONE)
    assert enqueue(device, "CANCEL ALARM 1", now=NOW).pk != first.pk


def test_control_and_immediate_commands_expire_by_default():
    device = make_device()
    settings = conf.load({"command_expiry_seconds": 30})
    door = enqueue(device, "DEVICE SET 1 1 5", now=NOW, settings=settings)
    assert door.expires_at == NOW + timedelta(seconds=30)
    query = enqueue(device, "OPTION GET FirmVer", immediate=True, now=NOW, settings=settings)
    assert query.expires_at == NOW + timedelta(seconds=30)
    custom = enqueue(device, "DATA COUNT user", expires_in=timedelta(hours=1), now=NOW)
    assert custom.expires_at == NOW + timedelta(hours=1)


def test_immediate_request_upgrades_a_queued_twin():
    device = make_device()
    queued = enqueue(device, "CONTROL NO 1 1", priority=1, now=NOW)
    upgraded = enqueue(
        device, "CONTROL NO 1 1", immediate=True, priority=5, now=NOW + timedelta(seconds=20)
    )
    assert upgraded.pk == queued.pk
    upgraded.refresh_from_db()
    assert upgraded.immediate
    assert upgraded.priority == 5
    assert upgraded.expires_at == NOW + timedelta(seconds=70)  # extended to the later expiry


def test_an_expired_twin_does_not_swallow_a_fresh_request():
    device = make_device()
    stale = enqueue(device, "DEVICE SET 1 1 5", now=NOW)
    fresh = enqueue(device, "DEVICE SET 1 1 5", now=NOW + timedelta(minutes=5))
    assert fresh.pk != stale.pk
    stale.refresh_from_db()
    assert stale.status == CommandStatus.EXPIRED
    assert stale.return_code == -1005


def test_enqueue_by_id_and_unknown_device():
    device = make_device()
    assert enqueue(device.pk, "DATA COUNT user").device_id == device.pk
    with pytest.raises(Device.DoesNotExist):
        enqueue(10**9, "DATA COUNT user")


def test_cancel_pending():
    device = make_device()
    enqueue(device, "DATA COUNT user")
    enqueue(device, "DATA COUNT holiday")
    assert cancel_pending(device) == 2
    assert set(DeviceCommand.objects.values_list("status", flat=True)) == {"cancelled"}

"""Command rows under fencing epochs (any database the suite runs on; PostgreSQL in CI)."""

from __future__ import annotations

import pytest

from agent.cluster import fencing
from agent.commands import enqueue
from agent.models import CommandStatus, CommType, Device, DeviceCommand

pytestmark = pytest.mark.django_db


@pytest.fixture
def device() -> Device:
    return Device.objects.create(
        alias="fence-1", comm_type=CommType.TCP, ipaddress="127.0.0.1", ip_port=4370
    )


def _row(pk: int) -> DeviceCommand:
    return DeviceCommand.objects.get(pk=pk)


def test_a_stale_owner_cannot_record_a_second_outcome(device: Device) -> None:
    command = enqueue(device, "OPTION GET LockCount")
    assert fencing.mark_running(command.pk, epoch=3)
    assert _row(command.pk).epoch == 3
    # The owner of epoch 3 is cut off; epoch 4 takes the shard over and settles the row.
    assert fencing.take_over([device.pk], epoch=4) == (0, 1)
    assert fencing.mark_running(command.pk, epoch=4)
    assert fencing.record_result(command.pk, 4, "done", 0, "LockCount=4")
    # The old owner wakes up and reports its own outcome: refused, the first one stays.
    assert not fencing.record_result(command.pk, 3, "failed", -2, "late")
    row = _row(command.pk)
    assert (row.status, row.return_code, row.return_content, row.epoch) == (
        "done",
        0,
        "LockCount=4",
        4,
    )
    assert not fencing.record_result(command.pk, 4, "failed", -2, "second")  # one outcome only


def test_take_over_fails_a_running_control_command_as_unknown(device: Device) -> None:
    door = enqueue(device, "DEVICE SET 1 1 5")
    sync = enqueue(device, "DATA COUNT user")
    waiting = enqueue(device, "CANCEL ALARM 1")
    assert fencing.mark_running(door.pk, epoch=1)
    assert fencing.mark_running(sync.pk, epoch=1)
    assert fencing.take_over([device.pk], epoch=2) == (1, 1)
    door_row, sync_row, waiting_row = _row(door.pk), _row(sync.pk), _row(waiting.pk)
    # The door may have opened before the old owner died: never run it again.
    assert door_row.status == CommandStatus.FAILED
    assert "outcome unknown" in door_row.return_content
    assert sync_row.status == CommandStatus.PENDING  # idempotent: runs again
    assert waiting_row.status == CommandStatus.PENDING
    assert waiting_row.epoch == 2
    assert not fencing.mark_running(waiting.pk, epoch=1)  # the old owner cannot start it
    assert fencing.mark_running(waiting.pk, epoch=2)


def test_requeue_and_start_are_fenced(device: Device) -> None:
    command = enqueue(device, "DATA COUNT user")
    assert fencing.mark_running(command.pk, epoch=5)
    assert not fencing.requeue(command.pk, 4, -2, "stale")  # an older epoch: no effect
    assert fencing.requeue(command.pk, 5, -2, "link failed")
    row = _row(command.pk)
    assert row.status == CommandStatus.PENDING
    assert row.attempts == 1


def test_record_result_rejects_a_non_final_status(device: Device) -> None:
    command = enqueue(device, "DATA COUNT user")
    with pytest.raises(ValueError, match="final"):
        fencing.record_result(command.pk, 1, "running", 0)

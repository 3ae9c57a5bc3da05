# ruff: noqa: S105, S106  (panel passwords and secret keys are test data)
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from agent import persistence
from agent.commands import enqueue
from agent.crypt import encode_comm_pwd
from agent.models import CommandStatus, CommType, Device, DeviceCommand, DeviceEventLog
from tests.cli.simthread import BackgroundSimulator, free_port
from zkpull import RtEvent
from zkpull.simulator import PanelConfig

from .factories import event, local, make_device

pytestmark = pytest.mark.django_db

SECRET = "7321"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The superuser of admin_client is created per test; PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def populated():
    device = make_device(alias="front", comm_pwd=encode_comm_pwd(SECRET), timezone="Europe/Berlin")
    persistence.write_events(device.pk, [event()], "rt")
    persistence.write_events(device.pk, [event(time=None, time_raw=5184000)], "tx")
    rt = RtEvent(local(2024, 3, 5, 8, 15, 32), 1001, 12345678, 1, 0, 0, 4)
    lines = persistence.lines_from_records([(datetime(2024, 3, 5, tzinfo=UTC), rt)])
    persistence.write_realtime_lines(device.pk, lines)
    persistence.save_device_status(device.pk, online=True, return_code=1, op="REAL_LOG")
    enqueue(device, "DEVICE SET 1 1 5")
    enqueue(device, "NOT A COMMAND")
    return device


MODELS = [
    "device",
    "deviceeventlog",
    "devicerealtimelog",
    "quarantinedrecord",
    "devicecommand",
    "devicestatus",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_load_and_never_show_the_password(admin_client, populated, model):
    response = admin_client.get(reverse(f"admin:agent_{model}_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert SECRET not in page
    assert populated.comm_pwd not in page


def test_device_change_page_has_a_write_only_password(admin_client, populated):
    response = admin_client.get(reverse("admin:agent_device_change", args=[populated.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'type="password"' in page
    assert populated.comm_pwd not in page
    assert SECRET not in page


def _device_form(device, **changes):
    data = {
        "alias": device.alias,
        "sn": device.sn,
        "device_type": device.device_type,
        "acpanel_type": device.acpanel_type,
        "enabled": "on",
        "ipaddress": device.ipaddress,
        "ip_port": device.ip_port,
        "com_port": "",
        "com_address": device.com_address,
        "baudrate": device.baudrate,
        "comm_pwd": "",
        "timezone": device.timezone,
        "sync_time": "on",
        "comm_type": device.comm_type,
    }
    data.update(changes)
    return data


def test_saving_without_a_password_keeps_it_and_a_new_one_is_obfuscated(admin_client, populated):
    url = reverse("admin:agent_device_change", args=[populated.pk])
    response = admin_client.post(url, _device_form(populated, ip_port=4371))
    assert response.status_code == 302, response.content.decode()[:2000]
    device = Device.objects.get(pk=populated.pk)
    assert (device.ip_port, device.password()) == (4371, SECRET)
    admin_client.post(url, _device_form(device, comm_pwd="9999"))
    device.refresh_from_db()
    assert device.comm_pwd == encode_comm_pwd("9999")
    admin_client.post(url, _device_form(device, clear_comm_pwd="on"))
    device.refresh_from_db()
    assert device.comm_pwd == ""


def test_a_bad_password_is_a_form_error(admin_client, populated):
    url = reverse("admin:agent_device_change", args=[populated.pk])
    response = admin_client.post(url, _device_form(populated, comm_pwd="x" * 16))
    assert response.status_code == 200
    assert "Ensure this value has at most 15 characters" in response.content.decode()
    response = admin_client.post(url, _device_form(populated, comm_pwd="p\u00e4ss"))
    assert "Panels accept ASCII passwords only." in response.content.decode()
    assert Device.objects.get(pk=populated.pk).password() == SECRET


def test_logs_are_read_only(admin_client, populated):
    event_row = DeviceEventLog.objects.get()
    assert admin_client.get(reverse("admin:agent_deviceeventlog_add")).status_code == 403
    response = admin_client.get(reverse("admin:agent_deviceeventlog_change", args=[event_row.pk]))
    assert response.status_code == 200  # view permission: a read-only page
    assert b'name="_save"' not in response.content


def test_adding_a_command_in_the_admin_uses_enqueue(admin_client, populated):
    url = reverse("admin:agent_devicecommand_add")
    response = admin_client.post(
        url, {"device": populated.pk, "content": "CANCEL ALARM 1", "priority": 0}
    )
    assert response.status_code == 302
    command = DeviceCommand.objects.get(content="CANCEL ALARM 1")
    assert command.dedupe_key
    assert command.expires_at is not None
    response = admin_client.post(
        url, {"device": populated.pk, "content": "OPEN DOOR", "priority": 0}
    )
    assert response.status_code == 200
    assert "unknown command" in response.content.decode()


def test_cancel_action(admin_client, populated):
    url = reverse("admin:agent_devicecommand_changelist")
    ids = list(DeviceCommand.objects.values_list("pk", flat=True))
    response = admin_client.post(url, {"action": "cancel_selected", "_selected_action": ids})
    assert response.status_code == 302
    statuses = set(DeviceCommand.objects.values_list("status", flat=True))
    assert statuses == {CommandStatus.CANCELLED, CommandStatus.FAILED}


# -- connection test -----------------------------------------------------------------------------
def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _test_connection(admin_client, *devices):
    url = reverse("admin:agent_device_changelist")
    return admin_client.post(
        url,
        {"action": "test_connection", "_selected_action": [d.pk for d in devices]},
        follow=True,
    )


def test_connection_test_reports_the_panel_facts(admin_client):
    config = PanelConfig(index=3, model="C3-200", password=SECRET, users=0)
    with BackgroundSimulator([config]) as sim:
        device = make_device(
            alias="probe",
            ipaddress="127.0.0.1",  # loopback only: the factory's default address is not ours
            ip_port=sim.port(),
            comm_pwd=encode_comm_pwd(SECRET),
            acpanel_type=4,
        )
        response = _test_connection(admin_client, device)
        serial = sim.panel().serial
    assert response.status_code == 200
    (text,) = _messages(response)
    assert text.startswith(f"probe: connected to 127.0.0.1:{device.ip_port}; serial {serial}")
    assert "2 doors" in text
    assert "WARNING: the panel has 2 doors, the device is set to 4" in text
    assert SECRET not in text


def test_connection_test_reports_typed_errors(admin_client):
    nobody = make_device(alias="nobody", ipaddress="127.0.0.1", ip_port=free_port())
    with BackgroundSimulator([PanelConfig(index=4, password=SECRET, users=0)]) as sim:
        wrong = make_device(
            alias="wrong-pw",
            ipaddress="127.0.0.1",
            ip_port=sim.port(),
            comm_pwd=encode_comm_pwd("9999"),
        )
        response = _test_connection(admin_client, nobody, wrong)
    texts = _messages(response)
    assert len(texts) == 2
    assert texts[0].startswith("nobody: ConnectError")
    assert "(code -307: " in texts[0]
    assert texts[1].startswith("wrong-pw: AuthenticationError")
    assert "9999" not in texts[1]
    assert SECRET not in texts[1]


def test_connection_test_leaves_an_enabled_rs485_bus_to_the_agent(admin_client):
    device = make_device(
        alias="bus", comm_type=CommType.RS485, ipaddress=None, com_port=3, com_address=2
    )
    (text,) = _messages(_test_connection(admin_client, device))
    assert text.startswith("bus: not tested: the agent owns the RS485 bus")


def test_events_filter_by_alarm_kind_and_event_type(admin_client, populated):
    persistence.write_events(populated.pk, [event(event_type=102, pin=77)], "rt")
    url = reverse("admin:agent_deviceeventlog_changelist")
    alarms = admin_client.get(url, {"kind": "alarm"})
    assert alarms.status_code == 200
    assert [e.event_type for e in alarms.context["cl"].result_list] == [102]
    normal = admin_client.get(url, {"kind": "normal"}).context["cl"].result_list
    assert {e.event_type for e in normal} == {0}
    by_type = admin_client.get(url, {"event_type": "102"}).context["cl"].result_list
    assert len(by_type) == 1
    lines = admin_client.get(reverse("admin:agent_devicerealtimelog_changelist"), {"q": "1001"})
    assert lines.status_code == 200
    assert len(lines.context["cl"].result_list) == 1  # searchable by the line's text

"""Secrets never leave: comm passwords and Redis credentials in logs, metrics, errors, rows.

One real agent run per log format: two password-protected simulated panels (one device has
the right password, stored in the legacy obfuscated form; one a wrong one, so the panel
answers -14), the queue and heartbeat on a TLS redis-server with an ACL user whose password
is in the URL, DEBUG logging captured. Then every output is searched for every form of
every secret: plain, legacy-obfuscated, and the digest the agent keeps for change detection.
"""

# ruff: noqa: S105  (test passwords)
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from prometheus_client import generate_latest

from agent import logs
from agent.backends import BackendUnavailable, build_backends
from agent.commands import enqueue
from agent.crypt import encode_comm_pwd
from agent.models import (
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceEventLog,
    DeviceRealtimeLog,
    DeviceStatus,
    QuarantinedRecord,
)
from agent.modern_comm_center import RunOptions
from tests.agent.e2e_support import Rig, wait_for
from zkpull import PanelClient
from zkpull.protocol.errors import AuthenticationError, TransportError
from zkpull.simulator import make_configs

from .redis_tls import TlsRedis

PANEL_PASSWORD = "Zk-Sec-4711"  # the panels' comm password (ASCII, <= 15 characters)
WRONG_PASSWORD = "Wr0ng-Pw-93"  # what the second device is configured with
USER_PASSWORD = "Us3r-Pw-55"  # a card holder's password inside a DATA UPDATE command


def forms_of(secret: str) -> list[str]:
    """Every way a secret could leak: as is, obfuscated, and the config fingerprint digest."""
    return [secret, encode_comm_pwd(secret), hashlib.sha256(secret.encode()).hexdigest()[:16]]


def assert_clean(where: str, text: str, secrets: list[str]) -> None:
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"{where} contains {leaked}: ...{_around(text, leaked[0])}..."


def _around(text: str, secret: str) -> str:
    at = text.index(secret)
    return text[max(0, at - 200) : at + 200]


@pytest.fixture
def captured_logs(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging(json=request.param == "json", level="DEBUG", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_commcenter_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def all_rows() -> str:
    """Every stored row the agent writes, as text (the operator's command text excluded)."""
    parts = [
        repr(list(DeviceStatus.objects.values())),
        repr(list(DeviceCommand.objects.values("status", "return_code", "return_content"))),
        repr(list(QuarantinedRecord.objects.values())),
        repr(list(DeviceRealtimeLog.objects.values())),
        repr(list(DeviceEventLog.objects.values())),
        repr(list(Device.objects.values("sn", "fw_version", "device_name", "alias"))),
    ]
    return "\n".join(parts)


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
@pytest.mark.timeout(90)
@pytest.mark.parametrize("captured_logs", ["json", "console"], indirect=True)
async def test_an_agent_run_leaks_no_secret(
    tmp_path: Path, tls_redis: TlsRedis, captured_logs: io.StringIO
) -> None:
    configs = make_configs(2, seed=11, events_per_second=3.0, transactions=30)
    configs = [dataclasses.replace(c, password=PANEL_PASSWORD) for c in configs]
    prefix = f"commcenter:redact-{uuid.uuid4().hex[:8]}:"
    url = tls_redis.url()
    secrets = [
        *forms_of(PANEL_PASSWORD),
        *forms_of(WRONG_PASSWORD),
        tls_redis.password,
        USER_PASSWORD,
    ]
    async with Rig(tmp_path, configs) as rig:
        good, bad = await rig.register(passwords=[PANEL_PASSWORD, WRONG_PASSWORD])
        stored = await rig.orm(lambda: Device.objects.get(pk=good).comm_pwd)
        assert stored == encode_comm_pwd(PANEL_PASSWORD)  # the legacy obfuscated form
        rig.start_agent(
            backends=build_backends("redis", url, prefix=prefix),
            options=RunOptions(agent_id="redact", metrics_log_interval=0.5),
        )
        assert rig.center is not None
        await wait_for(lambda: rig.center.status.online.get(good) is True, 10, "good online")
        await wait_for(
            lambda: rig.orm(
                lambda: DeviceStatus.objects.filter(device_id=bad, last_return_code=-14).exists()
            ),
            10,
            "the wrong password reported as -14",
        )
        open_door = await rig.orm(enqueue, good, "DEVICE SET 1 1 5", immediate=True)
        update = await rig.orm(
            enqueue, good, f"DATA UPDATE user CardNo=4455\tPin=77\tPassword={USER_PASSWORD}"
        )
        for pk in (open_door.pk, update.pk):
            await wait_for(
                lambda pk=pk: rig.orm(
                    lambda: (
                        DeviceCommand.objects.get(pk=pk).status
                        not in (CommandStatus.PENDING, CommandStatus.RUNNING)
                    )
                ),
                10,
                f"command {pk} finished",
            )
        await asyncio.sleep(1.0)  # a metrics log line and a heartbeat or two
        reader = build_backends("redis", url, prefix=prefix)
        try:
            heartbeat_text = repr(await reader.heartbeat.all_device_status()) + repr(
                await reader.heartbeat.agents()
            )
        finally:
            await reader.close()
        metrics_text = generate_latest(rig.metrics.registry).decode()  # type: ignore[union-attr]
        # What libraries and careless code might log while the agent runs: a connection URL
        # from a stdlib logger, secret-named keys and a legacy connect string via structlog.
        logging.getLogger("redis.connection").warning("retrying %s", url)
        logs.get_logger("agent.test").info(
            "device config",
            comm_pwd=encode_comm_pwd(PANEL_PASSWORD),
            password=PANEL_PASSWORD,
            connect=f"protocol=TCP,ipaddress=127.0.0.1,port=4370,passwd={WRONG_PASSWORD}",
            command=f"SET OPTION ComPwd={PANEL_PASSWORD}",
        )
        await rig.drain()
        await rig.stop_agent()
        rows = await rig.orm(all_rows)

    output = captured_logs.getvalue()
    assert "is online" in output
    assert "return code -14" in output
    assert "counters:" in output
    assert "retrying rediss://commcenter-agent:***@localhost" in output
    assert "device config" in output
    assert_clean("the log output", output, secrets)
    assert_clean("/metrics", metrics_text, secrets)
    assert "commcenter_device_up" in metrics_text
    assert_clean("the stored rows", rows, secrets)
    assert "-14" in rows
    assert_clean("the Redis heartbeat", heartbeat_text, secrets)


async def test_panel_errors_and_reprs_never_show_the_comm_password(tmp_path: Path) -> None:
    configs = make_configs(1, seed=3, password=PANEL_PASSWORD, transactions=0)
    async with Rig(tmp_path, configs) as rig:
        port = rig.simulator.ports[0]
        client = PanelClient.tcp("127.0.0.1", port, timeout=2.0, password=WRONG_PASSWORD)
        assert WRONG_PASSWORD not in repr(client)
        with pytest.raises(AuthenticationError) as refused:
            async with client:
                pass
        assert "-14" in str(refused.value) or refused.value.code == -14  # type: ignore[attr-defined]
    closed = PanelClient.tcp("127.0.0.1", 1, timeout=2.0, password=WRONG_PASSWORD)
    with pytest.raises(TransportError) as unreachable:
        async with closed:
            pass
    for caught in (refused.value, unreachable.value):
        text = repr(caught) + str(caught) + repr(caught.__cause__)
        assert_clean("a panel error", text, forms_of(WRONG_PASSWORD))


async def test_redis_errors_never_show_the_url_password(tls_redis: TlsRedis) -> None:
    wrong = "Wr0ng-Redis-Pw-1"
    for url in (
        tls_redis.url(password=wrong),
        f"redis://agent:{wrong}@127.0.0.1:1/0",  # nothing listens on port 1
    ):
        backends = build_backends("redis", url, socket_connect_timeout=2)
        try:
            with pytest.raises(BackendUnavailable) as caught:
                await backends.heartbeat.alive("x")
        finally:
            await backends.close()
        text = str(caught.value) + repr(caught.value) + repr(caught.value.__cause__)
        assert_clean("a Redis error", text, [wrong])


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
@pytest.mark.usefixtures("_fast_password_hashing")
@pytest.mark.parametrize("stored", ["obfuscated", "plain"])
def test_admin_pages_never_show_a_comm_password(admin_client, stored: str) -> None:  # type: ignore[no-untyped-def]
    value = encode_comm_pwd(PANEL_PASSWORD) if stored == "obfuscated" else "80551234"
    device = Device.objects.create(
        alias="door-a", ipaddress="10.0.0.9", comm_pwd=value, timezone="UTC"
    )
    assert device.password() == (PANEL_PASSWORD if stored == "obfuscated" else "80551234")
    DeviceStatus.objects.create(device=device, online=False, last_return_code=-14, detail="x")
    secrets = forms_of(device.password())
    pages = {
        "changelist": reverse("admin:agent_device_changelist"),
        "search": reverse("admin:agent_device_changelist") + "?q=door",
        "change": reverse("admin:agent_device_change", args=[device.pk]),
        "history": reverse("admin:agent_device_history", args=[device.pk]),
        "status list": reverse("admin:agent_devicestatus_changelist"),
    }
    for name, url in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, name
        assert_clean(f"the admin {name} page", response.content.decode(), secrets)

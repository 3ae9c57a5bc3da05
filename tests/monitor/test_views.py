"""The page, the command buttons' endpoint (memory and Redis) and the SSE stream."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from agent import grammar, persistence
from agent.backends import RedisQueue
from agent.models import CommandStatus, DeviceCommand
from monitor.actions import MONITOR_PRIORITY
from tests.agent.factories import event, local, make_device
from zkpull.protocol.timecodec import decode_time

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
COMMANDS = "/commands/"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MONITOR = {"poll_seconds": 0.1, "stream_seconds": 60}


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("op", password="pw")  # noqa: S106
    user.user_permissions.add(Permission.objects.get(codename="add_devicecommand"))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.mark.django_db
def test_the_page_needs_a_login_and_shows_the_devices(client, operator):
    make_device(alias="front-door")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("monitor:login"))
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert "front-door" in page
    assert '"canCommand": true' in page
    assert "/static/monitor/live.js" in page


@pytest.mark.django_db
def test_login_page_logs_in(client, operator):
    response = client.post(reverse("monitor:login"), {"username": "op", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_buttons_queue_real_commands_through_enqueue(client, operator):
    device = make_device(alias="gate", acpanel_type=2, timezone="Europe/Berlin")
    assert (
        client.post(COMMANDS, {"device": device.pk, "action": "close", "door": 1}).status_code
        == 401
    )
    client.force_login(operator)

    def press(**payload):
        return client.post(COMMANDS, payload, content_type="application/json")

    response = press(device=device.pk, action="open", door=2, seconds=7)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pushed"] is False  # memory backend: the agent's feeder reads the row
    row = DeviceCommand.objects.get(pk=body["command"]["id"])
    assert (row.content, row.status, row.immediate, row.priority) == (
        "DEVICE SET 2 1 7",
        CommandStatus.PENDING,
        True,
        MONITOR_PRIORITY,
    )
    assert row.expires_at is not None  # door commands expire (legacy 50 s)
    again = press(device=device.pk, action="open", door=2, seconds=7).json()
    assert again["command"]["id"] == row.pk  # a second click is the same pending command
    expected = {
        "close": "DEVICE SET 1 1 0",
        "normal_open_on": "CONTROL NO 1 1",
        "normal_open_off": "CONTROL NO 1 0",
        "cancel_alarm": "CANCEL ALARM 1",
    }
    for action, text in expected.items():
        content = press(device=device.pk, action=action, door=1).json()["command"]["content"]
        assert content == text
        grammar.parse_command(content)
    assert press(device=device.pk, action="cancel_alarm", door=0).json()["command"]["content"] == (
        "CANCEL ALARM 0"
    )
    sync = press(device=device.pk, action="sync_time").json()["command"]["content"]
    assert isinstance(grammar.parse_command(sync), grammar.SetOption)
    packed = int(sync.removeprefix("SET OPTION DateTime="))
    berlin = timezone.now().astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    assert abs(decode_time(packed) - berlin) < timedelta(seconds=30)  # the panel's local time


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"device": None, "action": "open", "door": 1, "seconds": 5}, 400, "device is required"),
        ({"device": 999999, "action": "close", "door": 1}, 404, "no device"),
        ({"action": "explode", "door": 1}, 400, "unknown action"),
        ({"action": "open", "door": 1}, 400, "open for 1..254 seconds"),
        ({"action": "open", "door": 1, "seconds": 255}, 400, "open for 1..254 seconds"),
        ({"action": "close", "door": 3}, 400, "door must be 1..2"),
        ({"action": "close"}, 400, "door must be 1..2"),
        ({"action": "close", "door": "one"}, 400, "door must be a number"),
    ],
)
def test_bad_button_requests_are_clear_errors(client, operator, payload, status, error):
    device = make_device(acpanel_type=2)
    client.force_login(operator)
    payload = {"device": device.pk, **payload}
    if payload["device"] is None:
        del payload["device"]
    response = client.post(COMMANDS, payload, content_type="application/json")
    assert response.status_code == status
    assert error in response.json()["error"]
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_commands_need_the_permission(client, django_user_model):
    device = make_device()
    viewer = django_user_model.objects.create_user("viewer", password="pw")  # noqa: S106
    client.force_login(viewer)
    assert '"canCommand": false' in client.get("/").content.decode()
    response = client.post(COMMANDS, {"device": device.pk, "action": "close", "door": 1})
    assert response.status_code == 403
    assert not DeviceCommand.objects.exists()


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    return client


@pytest.mark.redis
@pytest.mark.django_db
def test_with_the_redis_backend_a_button_also_pushes_to_the_agents_queue(
    client, operator, settings
):
    plain = _redis_or_skip()
    settings.ZKAGENT = {**settings.ZKAGENT, "backend": "redis", "redis_url": REDIS_URL}
    device = make_device(alias="redis-door")
    keys = f"commcenter:queue:{device.pk}:*"
    plain.delete(*plain.keys(keys) or ["-"])
    client.force_login(operator)
    try:
        body = client.post(
            COMMANDS,
            {"device": device.pk, "action": "open", "door": 1, "seconds": 3},
            content_type="application/json",
        ).json()
        assert body["pushed"] is True

        async def take():
            queue = RedisQueue.from_url(REDIS_URL)
            try:
                return await queue.get(device.pk, 1.0)
            finally:
                await queue.close()

        envelope = asyncio.run(take())
        assert envelope is not None
        assert (envelope.command_id, envelope.content, envelope.immediate) == (
            body["command"]["id"],
            "DEVICE SET 1 1 3",
            True,
        )
    finally:
        plain.delete(*plain.keys(keys) or ["-"])
        plain.close()


# -- the stream -----------------------------------------------------------------------------------
_MESSAGE = re.compile(r"id: (?P<id>\S+)\nevent: (?P<name>\w+)\ndata: (?P<data>.*)\n\n")


class Reader:
    """Reads SSE messages from an async streaming response."""

    def __init__(self, response) -> None:
        self.chunks = response.streaming_content
        self.buffer = ""

    async def drain(self, timeout: float = 30.0) -> None:
        """Read to the end (the stream ends after stream_seconds), so the view cleans up."""
        async with asyncio.timeout(timeout):
            async for _ in self.chunks:
                pass

    async def next(self, name: str, timeout: float = 20.0) -> tuple[str, dict | list]:
        import json  # noqa: PLC0415

        async with asyncio.timeout(timeout):
            while True:
                match = _MESSAGE.search(self.buffer)
                if match:
                    self.buffer = self.buffer[match.end() :]
                    if match["name"] == name:
                        return match["id"], json.loads(match["data"])
                    continue
                self.buffer += (await anext(self.chunks)).decode()


def _orm(fn):
    """A sync ORM call from the async test, on a fresh thread whose connection is closed."""

    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()  # else the test database cannot be dropped (PostgreSQL)

    async def run(*args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: call(*args, **kwargs))

    return run


@pytest.mark.django_db(transaction=True)
async def test_stream_sends_new_rows_and_resumes_after_last_event_id(
    async_client, operator, settings, monkeypatch
):
    settings.MONITOR = {"poll_seconds": 0.1, "stream_seconds": 4}
    # As run_monitor does under ASGI: the request threads' connections close at request end.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    try:
        await _stream_and_resume(async_client, operator)
    finally:
        await sync_to_async(connections.close_all)()  # the test client's own thread


async def _stream_and_resume(async_client, operator) -> None:
    assert (await async_client.get("/stream/")).status_code == 401
    await async_client.aforce_login(operator)
    assert (await async_client.get("/stream/?door=x")).status_code == 400
    device = await _orm(make_device)(alias="streamed")

    def store(second: int, **fields) -> None:
        persistence.write_events(
            device.pk, [event(local(2026, 1, 1, 8, 0, second), **fields)], "rt"
        )

    await _orm(store)(1)
    response = await async_client.get("/stream/")
    assert response["Content-Type"] == "text/event-stream"
    reader = Reader(response)
    _, devices = await reader.next("devices")
    assert [d["alias"] for d in devices] == ["streamed"]
    _, backlog = await reader.next("events")
    assert backlog["backlog"] is True
    assert len(backlog["rows"]) == 1
    await _orm(store)(2, event_type=101, pin=77)
    last_id, fresh = await reader.next("events")
    assert re.fullmatch(r"e\d+\.r\d+\.c\d+", last_id)
    assert [(r["event_type"], r["pin"], r["alarm"]) for r in fresh["rows"]] == [(101, "77", True)]
    await reader.drain()

    await _orm(store)(3, event_type=8)  # while the browser is away
    resumed = Reader(await async_client.get("/stream/", headers={"Last-Event-ID": last_id}))
    _, rows = await resumed.next("events")
    assert rows["backlog"] is False
    assert [r["event_type"] for r in rows["rows"]] == [8]  # only what was missed
    await resumed.drain()


def test_run_monitor_binds_loopback_by_default():
    from monitor.management.commands.run_monitor import Command  # noqa: PLC0415

    options = Command().create_parser("manage.py", "run_monitor").parse_args([])
    assert (options.host, options.port, options.no_static) == ("127.0.0.1", 8000, False)

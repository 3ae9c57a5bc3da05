"""The live page, the command buttons' endpoint and the health endpoint."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agent.models import Device, DeviceCommand

from . import actions, conf, health
from .feed import command_json, event_types

logger = logging.getLogger("monitor.views")
COMMAND_PERMISSION = "agent.add_devicecommand"


@login_required
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """The live monitor page; everything on it then arrives over /stream/."""
    context = {
        "devices": list(Device.objects.order_by("alias").values("id", "alias")),
        "event_types": event_types(),
        "can_command": request.user.has_perm(COMMAND_PERMISSION),
        "max_open_seconds": actions.MAX_OPEN_SECONDS,
    }
    return render(request, "monitor/live.html", context)


@require_POST
async def command(request: HttpRequest) -> HttpResponse:
    """POST /commands/ {device, action, door, seconds}: queue one everyday command (JSON)."""
    user = await request.auser()
    if not user.is_authenticated:
        return JsonResponse({"error": "login required"}, status=401)
    if not await sync_to_async(user.has_perm)(COMMAND_PERMISSION):
        return JsonResponse({"error": "you may not send commands"}, status=403)
    try:
        data = _payload(request)
        device_id = _required(_int(data.get("device"), "device"), "device")
        door = _int(data.get("door"), "door", optional=True)
        seconds = _int(data.get("seconds"), "seconds", optional=True)
    except actions.ActionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        row = await sync_to_async(_queue)(device_id, str(data.get("action", "")), door, seconds)
    except Device.DoesNotExist:
        return JsonResponse({"error": f"no device {device_id}"}, status=404)
    except actions.ActionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    settings = conf.load()
    # In cluster mode enqueue() already put it on its shard's stream; the plain Redis queue
    # has no reader there.
    pushed = (
        await actions.push(row, settings.agent.redis_url)
        if settings.redis and not settings.agent.cluster
        else False
    )
    logger.info(
        "user %s queued %r for device %s: command %s (pushed to Redis: %s)",
        user,
        row.content,
        device_id,
        row.pk,
        pushed,
    )
    body = await sync_to_async(command_json)(row)
    return JsonResponse({"command": body, "pushed": pushed}, status=201)


@never_cache
@require_http_methods(["GET", "HEAD"])
async def healthz(request: HttpRequest) -> HttpResponse:  # noqa: ARG001 (a view)
    """GET /healthz: 200 when healthy, 503 otherwise; JSON details either way (no login)."""
    try:
        settings = conf.load()
    except ImproperlyConfigured as exc:  # a bad MONITOR_* value reads as unhealthy, not a 500
        return JsonResponse({"status": "fail", "error": str(exc)}, status=503)
    healthy, body = await health.report(settings)
    return JsonResponse(body, status=200 if healthy else 503)


def _queue(device_id: int, action: str, door: int | None, seconds: int | None) -> DeviceCommand:
    device = Device.objects.get(pk=device_id)
    row = actions.queue(device, action, door, seconds)
    row.device = device  # command_json names the device without another query
    return row


def _payload(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise actions.ActionError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise actions.ActionError("the body must be a JSON object")
        return data
    return dict(request.POST.items())


def _required(value: int | None, name: str) -> int:
    if value is None:
        raise actions.ActionError(f"{name} is required")
    return value


def _int(value: object, name: str, *, optional: bool = False) -> int | None:
    if value is None or value == "":
        if optional:
            return None
        raise actions.ActionError(f"{name} is required")
    if isinstance(value, bool):
        raise actions.ActionError(f"{name} must be a number")
    try:
        return int(str(value))
    except ValueError:
        raise actions.ActionError(f"{name} must be a number") from None

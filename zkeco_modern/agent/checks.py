"""System checks: agent.E001-E003 for invalid ZKAGENT values, agent.W001.. for risky ones.

E001 ZKAGENT is not a dict · E002 unknown key · E003 invalid value (the message names the key).
W001 the dev SECRET_KEY with DEBUG off · W002 metrics served beyond localhost ·
W003 no scheduled download hours (new records only on connect and on demand).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks

from . import conf

_LOCAL_HOSTS = frozenset({"localhost", "ip6-localhost"})


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """Validate `settings.ZKAGENT` exactly as `conf.load()` will."""
    found = conf.problems()
    messages: list[checks.CheckMessage] = [
        checks.Error(
            problem.message,
            hint="Fix settings.ZKAGENT or the ZKAGENT_<KEY> environment variable.",
            id=problem.check_id,
        )
        for problem in found
    ]
    if found:
        return messages
    loaded = conf.load()
    if not _is_loopback(loaded.metrics_host):
        messages.append(
            checks.Warning(
                f"ZKAGENT metrics_host {loaded.metrics_host!r} exposes the metrics beyond this machine.",
                hint="Use 127.0.0.1 unless a scraper on another host needs it.",
                id="agent.W002",
            )
        )
    if not loaded.download_hours:
        messages.append(
            checks.Warning(
                "ZKAGENT download_hours is empty: new records are downloaded only on (re)connect and on demand.",
                hint='Legacy downloads at midnight ("0") by default.',
                id="agent.W003",
            )
        )
    return messages


def check_secret_key(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the development SECRET_KEY is used with DEBUG off (i.e. in production)."""
    if not settings.DEBUG and str(settings.SECRET_KEY).startswith("django-insecure-"):
        return [
            checks.Warning(
                "SECRET_KEY is the development default while DEBUG is off.",
                hint="Set DJANGO_SECRET_KEY to a long random value.",
                id="agent.W001",
            )
        ]
    return []


def _is_loopback(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

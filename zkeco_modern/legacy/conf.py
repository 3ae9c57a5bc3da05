"""`settings.ZKLEGACY` validated into `LegacySettings`; the one reader of the legacy knobs.

Keys: `alias` (the database alias of the ZKECO database, default "legacy"), `writer` (bool:
the agent also writes acc_monitor_log rows), `writer_batch` (rows per legacy transaction),
`writer_poll_seconds` (30: how often every linked device is checked even without a nudge,
which catches up after outages and picks up rows other agents stored),
`lookup_ttl_seconds` (how long door/reader/area names are cached).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class LegacySettings:
    alias: str = "legacy"
    writer: bool = False
    writer_batch: int = 1000
    writer_poll_seconds: float = 30.0
    lookup_ttl_seconds: float = 60.0


def load(raw: Mapping[str, Any] | None = None) -> LegacySettings:
    """Validated settings from *raw* (default `settings.ZKLEGACY`); raises ImproperlyConfigured."""
    values = dict(getattr(settings, "ZKLEGACY", {}) if raw is None else raw)
    known = set(LegacySettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ImproperlyConfigured(f"ZKLEGACY: unknown keys {unknown} (known: {sorted(known)})")
    try:
        return LegacySettings(
            alias=_text(values.get("alias", "legacy")),
            writer=_bool(values.get("writer", False)),
            writer_batch=_positive_int(values.get("writer_batch", 1000)),
            writer_poll_seconds=_positive(values.get("writer_poll_seconds", 30.0)),
            lookup_ttl_seconds=_positive(values.get("lookup_ttl_seconds", 60.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"ZKLEGACY: {exc}") from exc


def require_alias(legacy: LegacySettings) -> str:
    """The legacy alias, or ImproperlyConfigured saying how to configure it."""
    if legacy.alias not in connections.settings:
        raise ImproperlyConfigured(
            f"no database alias {legacy.alias!r}: set LEGACY_DATABASE_URL "
            "(e.g. mysql://user:password@host:3306/zkeco_db)"
        )
    return legacy.alias


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"alias must be a non-empty string, got {value!r}")
    return value.strip()


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"writer must be a boolean, got {value!r}")


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or int(value) < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return int(value)


def _positive(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str) or float(value) <= 0:
        raise ValueError(f"expected a positive number, got {value!r}")
    return float(value)

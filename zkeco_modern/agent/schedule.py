"""Pure timing helpers: reconnect backoff and the scheduled "new records" download slots.

Nothing here reads a clock: callers pass `now`, so tests cover time zones, DST and day
boundaries with plain values.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


def backoff(*, base: float, cap: float) -> Iterator[float]:
    """Yield base, 2·base, 4·base … seconds, never more than *cap* (deterministic)."""
    delay = base
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


def jittered(delay: float, rng: random.Random, spread: float = 0.2) -> float:
    """*delay* ± spread·delay, so a fleet that dropped together does not reconnect together."""
    return max(0.0, delay * (1 + rng.uniform(-spread, spread)))


def parse_hours(text: str | Iterable[int]) -> frozenset[int]:
    """`"0,6,12,18"` (legacy `down_newlog`) → {0, 6, 12, 18}; raises ValueError on bad hours."""
    items = text.split(",") if isinstance(text, str) else list(text)
    hours = set()
    for item in items:
        value = int(str(item).strip())
        if not 0 <= value <= 23:
            raise ValueError(f"download hour {value} is not 0..23")
        hours.add(value)
    return frozenset(hours)


@dataclass
class DownloadSchedule:
    """Once per listed hour per panel, in the panel's local time (legacy `DOWN_LOG_TIME_<id>`).

    The slot is the local (date, hour): in the autumn the repeated hour is one slot, so the
    download runs once; in the spring a skipped hour has no slot, as on the panel's own clock.
    """

    hours: frozenset[int]
    zone: ZoneInfo
    last_slot: tuple[date, int] | None = None

    def due(self, now: datetime) -> bool:
        """Whether a download should run at aware time *now*; marks the slot as taken."""
        local = now.astimezone(self.zone)
        slot = (local.date(), local.hour)
        if local.hour not in self.hours or slot == self.last_slot:
            return False
        self.last_slot = slot
        return True

    def mark_done(self, now: datetime) -> None:
        """A download ran for another reason (on connect): it covers the current slot too."""
        local = now.astimezone(self.zone)
        if local.hour in self.hours:
            self.last_slot = (local.date(), local.hour)

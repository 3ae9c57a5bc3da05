"""Compare the simulator's ground truth (JSON lines) with what reached DeviceEventLog.

Used by the embedded demo and by the end-to-end tests: "every event the simulator stored in
a transaction table is in DeviceEventLog exactly once". Both sides are reduced to the panel's
own view of an event: local wall-clock time and the raw numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .models import Device, DeviceEventLog
from .records import NO_VALUE

Key = tuple[
    int, str, int, int, int, int, int
]  # device id, local time, pin, card, door, event, inout


@dataclass
class Comparison:
    expected: int = 0
    stored: int = 0
    missing: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    duplicated: list[Key] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.duplicated)


def read_ground_truth(path: Path, device_by_port: Mapping[int, int]) -> Counter[Key]:
    """Events of the simulator file, keyed like `stored_events`; panels not in the map skipped."""
    events: Counter[Key] = Counter()
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if not line.strip():
                continue
            item = json.loads(line)
            device_id = device_by_port.get(int(item["port"]))
            if device_id is None:
                continue
            events[
                (
                    device_id,
                    item["time"],
                    item["pin"],
                    item["card"],
                    item["door"],
                    item["event_type"],
                    item["inout"],
                )
            ] += 1
    return events


def stored_events(device_ids: Iterable[int], *, since: datetime | None = None) -> Counter[Key]:
    """DeviceEventLog rows of *device_ids* (stored at or after *since*), as panel-local keys."""
    zones = {d.pk: ZoneInfo(d.timezone) for d in Device.objects.filter(pk__in=list(device_ids))}
    rows: Counter[Key] = Counter()
    query = DeviceEventLog.objects.filter(device_id__in=list(zones))
    if since is not None:
        query = query.filter(created_at__gte=since)
    values = query.values_list(
        "device_id", "time", "pin", "card_no", "event_point_id", "event_type", "state"
    )
    for device_id, when, pin, card, door, event_type, state in values.iterator():
        local = when.astimezone(zones[device_id]).replace(tzinfo=None).isoformat()
        rows[(device_id, local, _number(pin), _number(card), door, event_type, state)] += 1
    return rows


def compare(expected: Counter[Key], stored: Counter[Key]) -> Comparison:
    """Missing, unexpected and duplicated events between the two sides."""
    return Comparison(
        expected=sum(expected.values()),
        stored=sum(stored.values()),
        missing=sorted(k for k in expected if k not in stored),
        unexpected=sorted(k for k in stored if k not in expected),
        duplicated=sorted(k for k, n in stored.items() if n > 1),
    )


def _number(text: str) -> int:
    return 0 if text == NO_VALUE else int(text)

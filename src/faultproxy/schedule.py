"""A fault timetable drawn from a seed: same seed, same faults at the same offsets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

KINDS: Final = ("latency", "stall", "reset", "cut", "slice", "blackhole", "down")


@dataclass(frozen=True)
class FaultEvent:
    """One fault on one target, from `at` seconds for `duration` seconds."""

    at: float
    target: int
    kind: str
    duration: float
    value: float = 0.0
    direction: str = "both"

    def start_line(self) -> str:
        """The control line that starts it."""
        t = self.target
        if self.kind == "latency":
            return f"latency {t} {self.value:.3f} {self.direction}"
        if self.kind == "stall":
            return f"stall {t} {self.duration:.3f} {self.direction}"
        if self.kind == "cut":
            return f"cut {t} {int(self.value)} {self.direction}"
        if self.kind in {"slice", "blackhole"}:
            return f"{self.kind} {t} on {self.direction}"
        if self.kind in {"reset", "down"}:
            return f"{self.kind} {t}"
        raise ValueError(f"unknown fault kind {self.kind!r}")

    def end_line(self) -> str | None:
        """The control line that ends it (None: nothing to undo)."""
        t = self.target
        if self.kind == "latency":
            return f"latency {t} 0 {self.direction}"
        if self.kind == "cut":
            return f"cut {t} off {self.direction}"
        if self.kind in {"slice", "blackhole"}:
            return f"{self.kind} {t} off {self.direction}"
        if self.kind == "down":
            return f"up {t}"
        return None  # reset is instant, a stall ends by itself


class FaultSchedule:
    """Random faults over `targets` proxies for `duration` seconds, reproducible by seed."""

    def __init__(
        self,
        seed: int,
        duration: float,
        targets: int,
        *,
        rate: float = 1.0,
        kinds: tuple[str, ...] = KINDS,
        max_fault_seconds: float = 4.0,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if targets < 1 or duration <= 0 or rate <= 0:
            raise ValueError("need targets >= 1, duration > 0, rate > 0")
        rng = random.Random(seed)
        events: list[FaultEvent] = []
        at = rng.expovariate(rate)
        while at < duration:
            kind = rng.choice(kinds)
            length = round(rng.uniform(0.5, max_fault_seconds), 3)
            value = 0.0
            direction = rng.choice(("both", "upstream", "client"))
            if kind == "latency":
                value = round(rng.uniform(0.05, 0.5), 3)
            elif kind == "cut":
                value = float(rng.randint(0, 300))
            elif kind in {"reset", "down"}:
                direction = "both"
            events.append(
                FaultEvent(round(at, 3), rng.randrange(targets), kind, length, value, direction)
            )
            at += rng.expovariate(rate)
        self.seed = seed
        self.events = events

    def __iter__(self) -> Iterator[FaultEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def timeline(self) -> list[tuple[float, str]]:
        """(offset, control line) pairs, starts and ends, in time order."""
        lines: list[tuple[float, str]] = []
        for event in self.events:
            lines.append((event.at, event.start_line()))
            end = event.end_line()
            if end is not None:
                lines.append((event.at + event.duration, end))
        lines.sort(key=lambda pair: pair[0])
        return lines

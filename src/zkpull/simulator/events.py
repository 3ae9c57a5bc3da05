"""Seeded generator of plausible panel activity (event codes: fact sheet §7.1).

The mix, per generated event: granted card swipes dominate, then door-sensor changes (each
door toggles open/closed so 200 and 201 alternate), refusals, exit buttons, aux inputs, and now
and then an alarm. Field conventions follow §4.4: swipes carry the user's pin and card,
verify 4 (card) and in/out 0 or 1; everything else carries card 0, pin 0, verify 200, in/out 2.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from zkpull.protocol.codes import EventType, InOutState, VerifyMode
from zkpull.protocol.tables import Value

from .model import ModelSpec
from .store import Row, RowTable

SENSOR_CLOSED: Final = 1
SENSOR_OPEN: Final = 2
UNREGISTERED_CARDS: Final = (90_000_000, 99_999_999)  # never handed to preloaded users


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What to emit: everything but the time."""

    event_type: int
    door: int = 0
    pin: int = 0
    card: int = 0
    verify: int = int(VerifyMode.OTHER)
    inout: int = int(InOutState.NONE)


# Cumulative percentages of each kind of event.
_MIX: Final = (
    (55, "swipe"),
    (75, "sensor"),
    (83, "unregistered"),
    (88, "denied"),
    (95, "exit"),
    (98, "aux"),
    (100, "alarm"),
)


class EventGenerator:
    """Picks the next event for one panel from its own RNG (deterministic per seed and panel).

    Only `random()` is drawn (no `choices`/`randint`): preloading 100,000 events per panel for
    thousands of panels must stay cheap.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def next(
        self, spec: ModelSpec, users: Sequence[tuple[int, int]], sensors: Sequence[int]
    ) -> EventSpec:
        """One event. *users* is (pin, card) pairs; *sensors* the door-sensor states (door 1 first)."""
        draw = self.rng.random
        roll = draw() * 100
        kind = next(name for limit, name in _MIX if roll < limit)
        door = int(draw() * spec.lock_count) + 1
        if kind in ("swipe", "denied") and not users:
            kind = "unregistered"
        if kind == "aux" and not spec.aux_in_count:
            kind = "exit"
        if kind in ("swipe", "denied"):
            pin, card = users[int(draw() * len(users))]
            event = EventType.NORMAL_PUNCH_OPEN if kind == "swipe" else EventType.ACCESS_DENIED
            return EventSpec(event, door, pin, card, VerifyMode.CARD, int(draw() * 2))
        if kind == "unregistered":
            low, high = UNREGISTERED_CARDS
            card = low + int(draw() * (high - low))
            return EventSpec(
                EventType.UNREGISTERED_CARD, door, 0, card, VerifyMode.CARD, int(draw() * 2)
            )
        if kind == "sensor":
            is_open = door <= len(sensors) and sensors[door - 1] == SENSOR_OPEN
            event = EventType.DOOR_CLOSED_CORRECTLY if is_open else EventType.DOOR_OPENED_CORRECTLY
            return EventSpec(event, door)
        if kind == "exit":
            return EventSpec(EventType.EXIT_BUTTON_OPEN, door)
        if kind == "aux":
            event = (
                EventType.AUX_INPUT_DISCONNECTED if draw() < 0.5 else EventType.AUX_INPUT_SHORTED
            )
            return EventSpec(event, int(draw() * spec.aux_in_count) + 1)
        event = EventType.OPENING_TIMEOUT if draw() < 0.5 else EventType.OPENED_FORCEFULLY
        return EventSpec(event, door)


def preload_gaps(rng: random.Random, count: int) -> list[int]:
    """Seconds between consecutive preloaded events: 1..120, so their times are all distinct."""
    draw = rng.random
    return [1 + int(draw() * 120) for _ in range(count)]


def user_rows(store: RowTable, rng: random.Random, count: int) -> list[Row]:
    """Rows for preloaded users: pins from 1001, distinct 8-digit cards, UID 1.. where the layout has one."""
    table = store.table
    pin, card = table.field("Pin").id, table.field("CardNo").id
    uid = next((field.id for field in table.fields if field.name == "UID"), None)
    cards = rng.sample(range(10_000_000, 50_000_000), count)
    rows = []
    for number, number_card in enumerate(cards, 1):
        values: dict[int, Value] = {pin: 1000 + number, card: number_card}
        if uid is not None:
            values[uid] = number
        rows.append(store.make_row(values))
    return rows

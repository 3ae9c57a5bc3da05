"""Event generation: seeded determinism, mix, limits, rate, natural-key uniqueness, preload."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta

from zkpull.protocol.timecodec import decode_time
from zkpull.simulator import FakePanel, PanelConfig, Simulator

from .simhelpers import T0, clock


def keys(panel: FakePanel) -> list[tuple[int, ...]]:
    return [tuple(row) for row in panel.transactions.rows()]


def test_same_seed_same_events_other_index_other_events() -> None:
    first = FakePanel(PanelConfig(seed=3, index=1), clock=clock())
    again = FakePanel(PanelConfig(seed=3, index=1), clock=clock())
    other = FakePanel(PanelConfig(seed=3, index=2), clock=clock())
    for panel in (first, again, other):
        for _ in range(50):
            panel.generate_event()
    assert keys(first) == keys(again) != keys(other)


def test_generated_mix_is_realistic() -> None:
    panel = FakePanel(PanelConfig(users=10), clock=clock())
    events = [panel.generate_event() for _ in range(2000)]
    kinds = Counter(e.event_type for e in events if e is not None)
    assert kinds[0] > 800
    assert {0, 23, 27, 200, 201, 202}.issubset(kinds)
    assert kinds.keys() & {28, 102}
    users = set(panel.users())
    for event in events:
        assert event is not None
        if event.event_type in (0, 23):
            assert (event.pin, event.card) in users
            assert event.verified == 4
            assert event.inout in (0, 1)
            assert 1 <= event.door <= 4
        elif event.event_type == 27:
            assert event.pin == 0
            assert event.card >= 90_000_000
        else:
            assert (event.pin, event.card, event.verified, event.inout) == (0, 0, 200, 2)


def test_door_sensor_events_alternate_per_door() -> None:
    panel = FakePanel(clock=clock())
    per_door: dict[int, list[int]] = {}
    for _ in range(1000):
        event = panel.generate_event()
        assert event is not None
        if event.event_type in (200, 201):
            per_door.setdefault(event.door, []).append(event.event_type)
    for sequence in per_door.values():
        assert all(a != b for a, b in itertools.pairwise(sequence))


def test_max_events_stops_generation_but_not_emit() -> None:
    panel = FakePanel(PanelConfig(max_events=3, events_per_second=100), clock=clock())
    assert panel.tick(1.0) == 3
    assert panel.generate_event() is None
    panel.emit(202, door=1)
    assert len(panel.transactions) == 4


def test_tick_follows_the_rate_with_fractions() -> None:
    panel = FakePanel(PanelConfig(events_per_second=2.5), clock=clock())
    assert sum(panel.tick(0.1) for _ in range(100)) == 25


def test_identical_events_are_moved_to_a_unique_second() -> None:
    panel = FakePanel(clock=clock())
    made = [panel.emit(202, door=1) for _ in range(5)]
    assert [e.time for e in made] == [T0 + timedelta(seconds=s) for s in range(5)]
    assert panel.emit(202, door=2).time == T0  # a different event may share the second
    panel.set_time(T0 + timedelta(seconds=2))  # clock set back over stored events
    again = panel.emit(202, door=1)
    assert again.time == T0 + timedelta(seconds=5)
    assert len(set(keys(panel))) == len(keys(panel))


def test_high_rate_generation_keeps_natural_keys_unique() -> None:
    panel = FakePanel(PanelConfig(users=3), clock=(now := clock()))
    for n in range(3000):
        panel.generate_event()
        if n % 200 == 199:
            now.advance(1)  # 200 events per second, few users: many would collide
    rows = keys(panel)
    assert len(set(rows)) == len(rows) == 3000


def test_preload_is_in_the_past_valid_and_not_on_the_ring() -> None:
    panel = FakePanel(PanelConfig(transactions=500), clock=clock())
    assert panel.pending_rt == 0
    times = [decode_time(row[6]) for row in panel.transactions.rows()]
    assert len(times) == 500
    assert all(t < T0 for t in times)
    assert times == sorted(times)
    assert len(set(times)) == 500
    assert panel.doors.status(T0, session_firmware=True).alarms == (
        0,
        0,
        0,
        0,
    )  # the past leaves no alarm


async def test_simulator_generates_at_the_configured_rate() -> None:
    loop = asyncio.get_running_loop()
    async with Simulator([PanelConfig(events_per_second=200)], tick=0.01) as sim:
        started = loop.time()
        await asyncio.sleep(0.25)
        made, elapsed = sim.panels[0].stats.generated, loop.time() - started
    assert 10 <= made <= 200 * elapsed + 1  # the ticker never runs ahead of the clock

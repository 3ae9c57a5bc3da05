"""One body per behaviour, run on the memory backends and on a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.backends import CommandEnvelope, CommandQueue, DeviceStatusRecord

from .support import Beats

DEVICE = 7


def envelope(
    command_id: int,
    *,
    device_id: int = DEVICE,
    immediate: bool = False,
    priority: int = 0,
    content: str = "DEVICE SET 1 1 5",
) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=command_id,
        device_id=device_id,
        content=content,
        immediate=immediate,
        priority=priority,
        enqueued_at=1_700_000_000.5,
        expires_at=None,
    )


async def drain(queue: CommandQueue, device_id: int = DEVICE) -> list[int]:
    taken = []
    while (got := await queue.get(device_id, timeout=0)) is not None:
        taken.append(got.command_id)
        await queue.ack(got)
    return taken


# --- queue -------------------------------------------------------------------------------


async def test_immediate_then_higher_priority_then_fifo(queue: CommandQueue) -> None:
    await queue.put(envelope(1))
    await queue.put(envelope(2, priority=5))
    await queue.put(envelope(3, immediate=True))
    await queue.put(envelope(4, priority=5))
    await queue.put(envelope(5))
    await queue.put(envelope(6, immediate=True, priority=-3))
    await queue.put(envelope(7, priority=-2))

    assert await drain(queue) == [3, 6, 2, 4, 1, 5, 7]


async def test_envelope_comes_back_unchanged(queue: CommandQueue) -> None:
    sent = CommandEnvelope(
        command_id=42,
        device_id=DEVICE,
        content="DATA UPDATE user Pin=1\tCardNo=123\r\nPin=2\tCardNo=456 | ünïcode",
        immediate=True,
        priority=-7,
        enqueued_at=1_700_000_123.25,
        expires_at=1_700_000_173.25,
    )
    await queue.put(sent)
    assert await queue.get(DEVICE, timeout=1) == sent
    assert await queue.in_flight(DEVICE) == [sent]


async def test_duplicate_put_is_a_no_op_while_pending_or_in_flight(queue: CommandQueue) -> None:
    assert await queue.put(envelope(1)) is True
    assert await queue.put(envelope(1, content="something else")) is False
    assert await queue.depth(DEVICE) == 1

    taken = await queue.get(DEVICE, timeout=1)
    assert taken == envelope(1)
    assert await queue.put(envelope(1)) is False  # in flight
    assert await queue.depth(DEVICE) == 0

    await queue.ack(taken)
    assert await queue.put(envelope(1)) is True  # done: may be enqueued again
    assert await queue.depth(DEVICE) == 1


async def test_queues_are_per_device(queue: CommandQueue) -> None:
    await queue.put(envelope(1, device_id=1))
    await queue.put(envelope(2, device_id=2))
    assert await queue.get(3, timeout=0) is None
    got = await queue.get(2, timeout=1)
    assert got is not None
    assert got.command_id == 2
    assert await queue.depth(1) == 1


async def test_taken_but_unacked_command_is_delivered_again_after_recover(
    queue: CommandQueue,
) -> None:
    await queue.put(envelope(1))
    await queue.put(envelope(2))
    first = await queue.get(DEVICE, timeout=1)
    assert first == envelope(1)
    assert await queue.in_flight(DEVICE) == [first]

    assert await queue.recover() == 1  # the agent died and restarted
    assert await queue.in_flight(DEVICE) == []
    assert await queue.depth(DEVICE) == 2
    assert await drain(queue) == [1, 2]  # back at its old place


async def test_recover_of_one_device_leaves_the_others_in_flight(queue: CommandQueue) -> None:
    await queue.put(envelope(1, device_id=1))
    await queue.put(envelope(2, device_id=2))
    assert await queue.get(1, timeout=1) is not None
    assert await queue.get(2, timeout=1) is not None

    assert await queue.recover(1) == 1
    assert await queue.depth(1) == 1
    assert [e.command_id for e in await queue.in_flight(2)] == [2]


async def test_acked_command_is_gone_for_good(queue: CommandQueue) -> None:
    await queue.put(envelope(1))
    taken = await queue.get(DEVICE, timeout=1)
    assert taken is not None
    await queue.ack(taken)
    await queue.ack(taken)  # a second ack is harmless

    assert await queue.recover() == 0
    assert await queue.get(DEVICE, timeout=0) is None


async def test_release_puts_back_at_the_head_of_its_class(queue: CommandQueue) -> None:
    for command_id in (1, 2, 3):
        await queue.put(envelope(command_id))
    first = await queue.get(DEVICE, timeout=1)
    second = await queue.get(DEVICE, timeout=1)
    assert first is not None
    assert second is not None

    await queue.release(first)
    await queue.release(second)  # released last, so delivered first
    await queue.put(envelope(9, immediate=True))  # still more urgent than a retry

    assert await queue.in_flight(DEVICE) == []
    assert await drain(queue) == [9, 2, 1, 3]


async def test_release_of_an_envelope_not_in_flight_does_nothing(queue: CommandQueue) -> None:
    await queue.put(envelope(1))
    await queue.release(envelope(1))  # pending, not taken
    await queue.release(envelope(2))  # never seen
    assert await queue.depth(DEVICE) == 1


async def test_get_returns_none_after_its_timeout(queue: CommandQueue) -> None:
    started = time.monotonic()
    assert await queue.get(DEVICE, timeout=0.2) is None
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.7

    started = time.monotonic()
    assert await queue.get(DEVICE, timeout=0) is None
    assert time.monotonic() - started < 0.1


async def test_waiting_get_wakes_as_soon_as_a_command_is_put(queue: CommandQueue) -> None:
    waiter = asyncio.create_task(queue.get(DEVICE, timeout=5))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await queue.put(envelope(1))
    got = await asyncio.wait_for(waiter, timeout=2)
    assert got == envelope(1)
    assert time.monotonic() - started < 0.5


async def test_depth_in_flight_and_purge(queue: CommandQueue) -> None:
    for command_id in range(1, 6):
        await queue.put(envelope(command_id))
    taken = [await queue.get(DEVICE, timeout=1) for _ in range(2)]
    assert await queue.depth(DEVICE) == 3
    assert [e.command_id for e in await queue.in_flight(DEVICE)] == [1, 2]

    assert await queue.purge(DEVICE) == 5
    assert await queue.depth(DEVICE) == 0
    assert await queue.in_flight(DEVICE) == []
    assert await queue.recover() == 0
    for gone in taken:
        assert gone is not None
        await queue.ack(gone)  # acking a purged command is harmless
    assert await queue.put(envelope(1)) is True  # ids were forgotten too


async def test_concurrent_consumers_never_get_the_same_envelope(queue: CommandQueue) -> None:
    received: list[int] = []

    async def consumer() -> None:
        while (got := await queue.get(DEVICE, timeout=0.3)) is not None:
            received.append(got.command_id)
            await asyncio.sleep(0)
            await queue.ack(got)

    consumers = [asyncio.create_task(consumer()) for _ in range(5)]
    await asyncio.sleep(0.05)  # let them block first
    for command_id in range(1, 41):
        await queue.put(envelope(command_id))
    await asyncio.gather(*consumers)

    assert sorted(received) == list(range(1, 41))


# --- heartbeat ---------------------------------------------------------------------------


def status(
    *, online: bool = True, code: int = 1, op: str = "REAL_LOG", detail: str = ""
) -> DeviceStatusRecord:
    return DeviceStatusRecord(
        online=online,
        last_activity=None if not online else 1_700_000_001.125,
        return_code=code,
        op=op,
        updated_at=1_700_000_002.5,
        detail=detail,
    )


async def test_agent_is_alive_until_its_ttl_runs_out(beats: Beats) -> None:
    hb = beats.heartbeat
    assert await hb.alive("agent-a") is False
    await hb.beat("agent-a", beats.ttl, {"last_cycle": 1_700_000_000.0, "devices": [1, 2]})
    assert await hb.alive("agent-a") is True

    agents = await hb.agents()
    assert set(agents) == {"agent-a"}
    assert agents["agent-a"]["last_cycle"] == 1_700_000_000.0
    assert agents["agent-a"]["devices"] == [1, 2]
    assert isinstance(agents["agent-a"]["beat_at"], float)

    await beats.wait(beats.ttl * 0.6)
    await hb.beat("agent-a", beats.ttl, {"last_cycle": 1_700_000_001.0})  # refreshes
    await beats.wait(beats.ttl * 0.6)
    assert await hb.alive("agent-a") is True
    assert (await hb.agents())["agent-a"]["last_cycle"] == 1_700_000_001.0

    await beats.wait(beats.ttl * 0.6)
    assert await hb.alive("agent-a") is False
    assert await hb.agents() == {}


async def test_beat_rejects_a_non_positive_ttl(beats: Beats) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await beats.heartbeat.beat("agent-a", 0, {})


async def test_device_status_round_trips_and_is_replaced(beats: Beats) -> None:
    hb = beats.heartbeat
    await hb.beat("agent-a", beats.ttl, {})
    assert await hb.device_status(1) is None

    await hb.set_device_status("agent-a", 1, status(op="CONNECT", code=1, detail="ok, fw 5.2"))
    await hb.set_device_status("agent-a", 2, status(online=False, code=-1001, op="DISCONNECT"))
    assert await hb.device_status(1) == status(op="CONNECT", code=1, detail="ok, fw 5.2")
    await hb.set_device_status("agent-a", 1, status())
    assert await hb.device_status(1) == status()
    assert await hb.all_device_status() == {
        1: status(),
        2: status(online=False, code=-1001, op="DISCONNECT"),
    }

    await hb.clear_device_status(2)
    assert await hb.all_device_status() == {1: status()}


async def test_device_status_expires_with_its_agent(beats: Beats) -> None:
    hb = beats.heartbeat
    await hb.beat("agent-a", beats.ttl, {})
    await hb.beat("agent-b", beats.ttl * 10, {})
    await hb.set_device_status("agent-a", 1, status())
    await hb.set_device_status("agent-b", 2, status(code=-1002, op="DISABLED"))

    await beats.wait(beats.ttl * 0.6)
    await hb.beat("agent-a", beats.ttl, {})  # a beat keeps its devices' statuses alive
    await beats.wait(beats.ttl * 0.6)
    assert await hb.device_status(1) == status()

    await beats.wait(beats.ttl * 0.6)  # agent-a died
    assert await hb.device_status(1) is None
    assert await hb.all_device_status() == {2: status(code=-1002, op="DISABLED")}
    assert set(await hb.agents()) == {"agent-b"}


async def test_status_written_before_the_first_beat_shows_once_the_agent_beats(
    beats: Beats,
) -> None:
    hb = beats.heartbeat
    await hb.set_device_status("agent-a", 1, status(code=1001, op="CONNECT"))
    assert await hb.device_status(1) is None  # its agent is not alive (yet)
    await hb.beat("agent-a", beats.ttl, {})
    assert await hb.device_status(1) == status(code=1001, op="CONNECT")


async def test_a_device_moved_to_another_agent_follows_that_agent(beats: Beats) -> None:
    hb = beats.heartbeat
    await hb.beat("agent-a", beats.ttl, {})
    await hb.beat("agent-b", beats.ttl * 10, {})
    await hb.set_device_status("agent-a", 1, status())
    await hb.set_device_status("agent-b", 1, status(code=-1001, online=False, op="CONNECT"))

    await beats.wait(beats.ttl * 0.6)
    await hb.beat("agent-a", beats.ttl, {})  # must not keep agent-b's status on agent-a's life
    await beats.wait(beats.ttl * 0.6)
    assert await hb.device_status(1) == status(code=-1001, online=False, op="CONNECT")

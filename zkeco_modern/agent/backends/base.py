"""Ports for the command queue and the heartbeat, with the semantics every backend keeps.

Times are epoch seconds (``time.time()``) unless a name says otherwise; ``ttl`` and
``timeout`` are seconds. Device ids are the legacy ``iclock.id``. Plain asyncio, no Django.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "BackendUnavailable",
    "CommandEnvelope",
    "CommandQueue",
    "DeviceStatusRecord",
    "Heartbeat",
]

MIN_PRIORITY: Final = -(2**31)
MAX_PRIORITY: Final = 2**31 - 1


class BackendUnavailable(Exception):  # noqa: N818  (the name says what the caller reacts to)
    """The backend (e.g. Redis) cannot be reached right now: back off and try again.

    Raised instead of the client library's connection and timeout errors, which are kept
    as ``__cause__``. The message never contains a password.
    """


@dataclass(frozen=True, slots=True)
class CommandEnvelope:
    """One legacy command (a ``DeviceCommand`` row) travelling through the queue.

    ``command_id`` is the row's primary key and the de-duplication key. ``content`` is the
    legacy ``CmdContent`` text. ``immediate`` is legacy ``CmdImmediately``. A higher
    ``priority`` runs earlier; it must lie in ``[MIN_PRIORITY, MAX_PRIORITY]``.
    ``expires_at`` is when running it stops making sense (None: never); the queue still
    delivers expired envelopes so that the consumer records the legacy -1005 outcome.
    """

    command_id: int
    device_id: int
    content: str
    immediate: bool = False
    priority: int = 0
    enqueued_at: float = 0.0
    expires_at: float | None = None

    def __post_init__(self) -> None:
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority {self.priority} outside [{MIN_PRIORITY}, {MAX_PRIORITY}]")

    def is_expired(self, now: float) -> bool:
        """True when *now* (epoch s) is at or past ``expires_at``."""
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> str:
        """Compact, deterministic JSON (sorted keys): equal envelopes give equal text."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> CommandEnvelope:
        """Parse :meth:`to_json` output; raise ValueError on anything else."""
        try:
            data = json.loads(text)
            expires_at = data["expires_at"]
            return cls(
                command_id=_exact(data["command_id"], int),
                device_id=_exact(data["device_id"], int),
                content=_exact(data["content"], str),
                immediate=_exact(data["immediate"], bool),
                priority=_exact(data["priority"], int),
                enqueued_at=float(data["enqueued_at"]),
                expires_at=None if expires_at is None else float(expires_at),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a command envelope: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class DeviceStatusRecord:
    """What the agent last knew about one panel (legacy ``ICLOCK_<id>_TMP``).

    ``return_code`` is in the legacy code space (PullSDK codes, -1001 disconnected,
    -1002 disabled, -1004 paused, -1005 timeout, 1000 getting new records, 1001 connecting);
    ``op`` is the legacy label of the last operation (CONNECT, DISCONNECT, REAL_LOG,
    DOWN_NEWLOG, DISABLED, a command verb, ...). ``last_activity`` is the last good exchange.
    The offline rule for a code is ``agent.returncodes.is_offline``.
    """

    online: bool
    last_activity: float | None
    return_code: int
    op: str
    updated_at: float
    detail: str = ""


class CommandQueue(Protocol):
    """Per-device queue of legacy commands with acknowledged (at-least-once) delivery.

    Order: immediate before queued, then higher ``priority`` first, then first in first out.
    ``get`` moves the envelope to the device's in-flight set instead of deleting it, so a
    command taken by an agent that dies before :meth:`ack` is delivered again after
    :meth:`recover`. Every operation is atomic with respect to concurrent consumers (also in
    other processes, for shared backends): one envelope is never handed to two consumers
    unless it went back through :meth:`release` or :meth:`recover`. Connection problems raise
    :class:`BackendUnavailable`.
    """

    async def put(self, envelope: CommandEnvelope) -> bool:
        """Enqueue; False (a no-op) if the command_id is already pending or in flight.

        De-duplication is per device. After :meth:`ack` the same id may be enqueued again.
        """

    async def get(self, device_id: int, timeout: float) -> CommandEnvelope | None:
        """Take the next envelope into in-flight, waiting up to *timeout* s (<= 0: don't wait).

        Wakes as soon as something is put; returns None when the time is up.
        """

    async def ack(self, envelope: CommandEnvelope) -> None:
        """The outcome is recorded: forget the in-flight envelope (no-op if not in flight)."""

    async def release(self, envelope: CommandEnvelope) -> None:
        """Put an in-flight envelope back at the head of its class, for a later retry.

        "Its class" is (immediate, priority): the envelope goes before its equals but not
        before anything more urgent. No-op if it is not in flight.
        """

    async def recover(self, device_id: int | None = None) -> int:
        """Move in-flight envelopes back to pending, at their old places; return how many.

        Call at agent start. ``None`` means every device: with several agents on one Redis,
        pass each of this agent's devices instead, or another agent's running commands
        would be delivered twice.
        """

    async def depth(self, device_id: int) -> int:
        """Number of pending (not in-flight) envelopes."""

    async def in_flight(self, device_id: int) -> list[CommandEnvelope]:
        """The in-flight envelopes, in delivery order."""

    async def purge(self, device_id: int) -> int:
        """Drop all pending and in-flight envelopes (legacy ``ClearCmdCache``); count them."""

    async def close(self) -> None:
        """Release connections. Call after the consumers have stopped."""


class Heartbeat(Protocol):
    """Liveness of agents and the status of the devices they serve.

    An agent is alive for *ttl* seconds after its last :meth:`beat`. A device status is
    visible only while the agent that wrote it is alive: when an agent dies (stops beating),
    its devices read as unknown (None), never as a stale "online". Connection problems raise
    :class:`BackendUnavailable`.
    """

    async def beat(self, agent_id: str, ttl: float, info: Mapping[str, Any]) -> None:
        """Mark the agent alive for *ttl* s and store *info*; raise ValueError if ttl <= 0.

        *info* holds JSON-serialisable values (e.g. ``last_cycle``). Each beat also extends
        the life of the device statuses this agent wrote.
        """

    async def alive(self, agent_id: str) -> bool:
        """True while the agent's last beat is younger than its ttl."""

    async def agents(self) -> dict[str, dict[str, Any]]:
        """Live agents -> the *info* of their last beat, plus ``beat_at`` (epoch s)."""

    async def set_device_status(
        self, agent_id: str, device_id: int, status: DeviceStatusRecord
    ) -> None:
        """Publish *status* for the device as served by *agent_id* (replaces the last one)."""

    async def device_status(self, device_id: int) -> DeviceStatusRecord | None:
        """The device's status, or None if unknown or its agent is dead."""

    async def all_device_status(self) -> dict[int, DeviceStatusRecord]:
        """Every visible device status, by device id."""

    async def clear_device_status(self, device_id: int) -> None:
        """Forget the device's status (the device was removed)."""

    async def close(self) -> None:
        """Release connections."""


def _exact(value: Any, kind: type[Any]) -> Any:
    if type(value) is not kind:  # exact: True is not an int id, 1 is not a bool
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value

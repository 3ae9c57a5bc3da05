"""What a DeviceSession needs from the rest of the agent, as Protocols (STYLE §4.1 rule 4).

The session never touches the ORM, Redis or settings: the ModernCommCenter binds these ports
to the database thread, the queue/heartbeat backends and the persistence writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command taken from the queue, with what the session needs to run it."""

    command_id: int
    device_id: int
    content: str
    immediate: bool
    expires_at: float | None  # epoch seconds
    attempts: int = 0
    token: object = None  # the backend's handle (e.g. the queue envelope) for ack/release


@dataclass(frozen=True, slots=True)
class Outcome:
    """The one recorded result of a command (legacy CmdReturn / CmdReturnContent)."""

    status: str  # done | failed | expired
    return_code: int
    content: str = ""


class CommandPort(Protocol):
    async def next(self, device_id: int, timeout: float) -> PendingCommand | None:
        """The next command for the device (immediate first), or None after *timeout* s."""

    async def start(self, command: PendingCommand) -> bool:
        """Mark it running; False when it already has an outcome (then skip it)."""

    async def finish(self, command: PendingCommand, outcome: Outcome) -> None:
        """Record the outcome (at most once) and acknowledge the queue entry."""

    async def retry_later(self, command: PendingCommand) -> None:
        """Put it back for another attempt (idempotent commands after a link failure)."""


class StatusPort(Protocol):
    async def update(
        self, device_id: int, *, online: bool, return_code: int, op: str, detail: str = ""
    ) -> None:
        """Publish the device status (heartbeat backend; throttled, transitions always)."""

    async def save_facts(self, device_id: int, facts: Mapping[str, object]) -> None:
        """Store what the panel said about itself on connect."""

    async def disable(self, device_id: int, reason: str) -> None:
        """Disable the device in the database (legacy: wrong panel type)."""

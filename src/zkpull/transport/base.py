"""The transport interface the client talks to."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

DEFAULT_TIMEOUT: Final = (
    5.0  # seconds; the SDK suggests 5-20 s, legacy used 3 s (TCP) / 4 s (RS485)
)


class Transport(Protocol):
    """A byte link to one panel. All methods raise only `TransportError` subclasses."""

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None:
        """Open the link (idempotent)."""

    async def read_exactly(self, size: int) -> bytes:
        """Return exactly *size* bytes; ConnectionClosed at EOF, TransportTimeout when slow."""

    async def write(self, data: bytes) -> None:
        """Send *data* completely."""

    async def close(self) -> None:
        """Close the link; never raises."""

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Hold the medium for one request/reply exchange (an RS485 bus is shared)."""


@contextlib.asynccontextmanager
async def no_lock() -> AsyncIterator[None]:
    """`exclusive()` for links that are not shared."""
    yield

"""The transport interface the client talks to."""

from __future__ import annotations

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


class _NoLock:
    """An async context manager that does nothing (cheaper than a generator-based one)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_NO_LOCK: Final = _NoLock()


def no_lock() -> AbstractAsyncContextManager[None]:
    """`exclusive()` for links that are not shared (one request per exchange on a hot path)."""
    return _NO_LOCK

"""Frame layer: `AA | address | command | length (u16 LE) | data | CRC-16 (LE) | 55`.

Rule 1: frames are delimited by the length field, never by scanning for 0x55; 0xAA and 0x55
occur freely inside data and there is no escaping (fact sheet §1.2).
Rule 2: the CRC covers address..data; a frame is accepted only when both CRC bytes match
(zkaccess-c3 accepts a frame when either byte matches; we do not).
Rule 3: the length is bounded before any data is buffered, so a hostile length field can not
make us hold more than `max_data` bytes.
The address byte is carried but never validated: panels reply with their own DeviceID (§1.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .checksum import crc16
from .constants import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_DATA,
    END,
    HEADER_SIZE,
    MAX_DATA,
    START,
    TRAILER_SIZE,
)
from .errors import ChecksumError, FrameError


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: the command (or reply) byte and the raw data field."""

    command: int
    data: bytes = b""
    address: int = DEFAULT_ADDRESS


def encode_frame(frame: Frame) -> bytes:
    """Serialise *frame*; raises ValueError for out-of-range fields."""
    if not 0 <= frame.address <= 0xFF or not 0 <= frame.command <= 0xFF:
        raise ValueError(f"address and command must be bytes: {frame!r}")
    if len(frame.data) > MAX_DATA:
        raise ValueError(f"data of {len(frame.data)} bytes does not fit the u16 length field")
    body = (
        bytes((frame.address, frame.command)) + len(frame.data).to_bytes(2, "little") + frame.data
    )
    return bytes((START,)) + body + crc16(body).to_bytes(2, "little") + bytes((END,))


class FrameDecoder:
    """Turn a byte stream into frames. Feed it whatever the link delivered.

    After it raises, the buffer still holds the offending bytes; call `reset()` (or drop the
    connection) before feeding more. `needed()` tells a caller that reads exactly how many more
    bytes complete the current frame, so it never reads into the next one.
    """

    def __init__(self, *, max_data: int = DEFAULT_MAX_DATA) -> None:
        if not 0 <= max_data <= MAX_DATA:
            raise ValueError(f"max_data must be within 0..{MAX_DATA}")
        self._buffer = bytearray()
        self._max_data = max_data
        self._error: FrameError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """Buffer *data* and return every frame it completes (possibly none)."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        frames: list[Frame] = []
        try:
            while (frame := self._next_frame()) is not None:
                frames.append(frame)
        except FrameError as exc:
            # Sticky until reset(): a caller that feeds on regardless must not make the
            # buffer grow without bound behind the bad bytes (rule 3).
            self._error = exc
            if not frames:
                raise
            # Hand out the good frames that came before the bad bytes; fail on the next feed.
        return frames

    def needed(self) -> int:
        """Bytes still missing before the next frame is complete (at least 1).

        Never more than the frame bound: behind an error or an oversize length field it is 1,
        so a caller that reads exactly this much gets the error at its next feed.
        """
        if self._error is not None:
            return 1
        if len(self._buffer) < HEADER_SIZE:
            return HEADER_SIZE - len(self._buffer)
        length = int.from_bytes(self._buffer[3:5], "little")
        if length > self._max_data:
            return 1
        return max(1, HEADER_SIZE + length + TRAILER_SIZE - len(self._buffer))

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        """Discard anything buffered (after an error, or to resynchronise a serial bus)."""
        self._buffer.clear()
        self._error = None

    def _next_frame(self) -> Frame | None:
        buffer = self._buffer
        if not buffer:
            return None
        if buffer[0] != START:
            raise FrameError(f"expected start byte {START:#04x}, got {buffer[0]:#04x}")
        if len(buffer) < HEADER_SIZE:
            return None
        length = int.from_bytes(buffer[3:5], "little")
        if length > self._max_data:
            raise FrameError(f"length field {length} exceeds the limit of {self._max_data} bytes")
        end = HEADER_SIZE + length + TRAILER_SIZE
        if len(buffer) < end:
            return None
        raw = bytes(buffer[:end])
        if raw[-1] != END:
            raise FrameError(f"expected end byte {END:#04x}, got {raw[-1]:#04x}")
        expected = crc16(raw[1 : HEADER_SIZE + length])
        actual = int.from_bytes(raw[HEADER_SIZE + length : HEADER_SIZE + length + 2], "little")
        if expected != actual:
            raise ChecksumError(expected=expected, actual=actual)
        del buffer[:end]
        return Frame(command=raw[2], data=raw[HEADER_SIZE : HEADER_SIZE + length], address=raw[1])

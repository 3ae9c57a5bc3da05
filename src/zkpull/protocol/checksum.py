"""CRC-16/ARC as used by C3/inBio panels: reflected poly 0xA001, init 0, no final XOR (§1.4)."""

from __future__ import annotations

from typing import Final


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: Final = _make_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Return the CRC-16/ARC of *data* (the frame from the address byte to the last data byte)."""
    crc = 0
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc

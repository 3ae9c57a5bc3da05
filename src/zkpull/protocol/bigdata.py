"""Big-data transfer (fact sheet §3.6): how a panel returns results larger than one packet.

Instead of OK, the panel answers with command byte 0x0D and a 17-byte announce:
`[compressed u8][transfer len u32][original len u32][crc32 u32][chunk len u32]` (LE).
The client then asks READ_DATA(offset u32) until it has `transfer len` bytes; each OK reply
is `[offset u32][chunk]`. FREE_DATA releases the panel's buffer. The checksum is assumed to
be the standard CRC-32 (zlib): the fact sheet marks the variant uncertain, so callers may
switch the check off.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .constants import BIGDATA_ANNOUNCE_SIZE
from .errors import MessageError

_ANNOUNCE = struct.Struct("<BIIII")
MAX_TRANSFER = 4 * 1024 * 1024  # firmware big buffer; SDK error -106 beyond it


@dataclass(frozen=True, slots=True)
class BigDataInfo:
    compressed: int
    transfer_length: int
    original_length: int
    crc32: int
    chunk_length: int


def decode_announce(payload: bytes) -> BigDataInfo:
    """Parse the 0x0D announce; raises MessageError for sizes no panel would send."""
    if len(payload) < BIGDATA_ANNOUNCE_SIZE:
        raise MessageError(
            f"big-data announce of {len(payload)} bytes, need {BIGDATA_ANNOUNCE_SIZE}"
        )
    info = BigDataInfo(*_ANNOUNCE.unpack_from(payload))
    if info.transfer_length > MAX_TRANSFER:
        raise MessageError(f"big-data transfer of {info.transfer_length} bytes exceeds 4 MiB")
    if info.chunk_length == 0 and info.transfer_length:
        raise MessageError("big-data announce with a zero chunk length")
    return info


def encode_announce(info: BigDataInfo) -> bytes:
    """The 0x0D announce payload (simulator side)."""
    return _ANNOUNCE.pack(
        info.compressed, info.transfer_length, info.original_length, info.crc32, info.chunk_length
    )


def encode_offset(offset: int) -> bytes:
    """READ_DATA request payload."""
    return offset.to_bytes(4, "little")


def decode_offset(payload: bytes) -> int:
    """Parse a READ_DATA request payload (simulator side)."""
    if len(payload) < 4:
        raise MessageError(f"READ_DATA offset of {len(payload)} bytes, need 4")
    return int.from_bytes(payload[:4], "little")


def decode_chunk(payload: bytes, expected_offset: int) -> bytes:
    """Check a READ_DATA reply's offset and return its chunk."""
    offset = decode_offset(payload)
    if offset != expected_offset:
        raise MessageError(f"READ_DATA reply for offset {offset}, asked {expected_offset}")
    return payload[4:]


def checksum(data: bytes) -> int:
    """CRC-32 of a whole transfer (assumed zlib's)."""
    return zlib.crc32(data) & 0xFFFFFFFF


class Assembler:
    """Track one incoming transfer: next offset, completeness, running CRC-32."""

    def __init__(self, info: BigDataInfo) -> None:
        if info.compressed:
            raise MessageError("compressed big-data transfers are not documented; cannot decode")
        self.info = info
        self.offset = 0
        self._crc = 0

    @property
    def done(self) -> bool:
        return self.offset >= self.info.transfer_length

    def next_request(self) -> bytes:
        return encode_offset(self.offset)

    def add(self, payload: bytes) -> bytes:
        """Take one READ_DATA reply payload; return its chunk."""
        chunk = decode_chunk(payload, self.offset)
        if not chunk:
            raise MessageError(f"empty big-data chunk at offset {self.offset}")
        if self.offset + len(chunk) > self.info.transfer_length:
            raise MessageError("big-data chunk runs past the announced length")
        self.offset += len(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        return chunk

    def crc_matches(self) -> bool:
        return (self._crc & 0xFFFFFFFF) == self.info.crc32

"""Big-data transfers of one link (fact sheet §3.6), built on `zkpull.protocol.bigdata`.

Downloads: a result longer than MaxLen is parked whole (built once, however many chunks are
read) and announced with 0x0D; READ_DATA serves `[offset][chunk <= MaxLen-12]`. Uploads:
PREPARE_DATA `[total][packet]` opens a buffer, DATA fills it, HASH_DATA names the command it
feeds (7 SET_DATA or 9 DELETE_DATA) and FREE_DATA hands it over to be executed.
"""

from __future__ import annotations

import struct
from typing import Final

from zkpull.protocol.bigdata import (
    MAX_TRANSFER,
    BigDataInfo,
    checksum,
    decode_offset,
    encode_announce,
    encode_offset,
)
from zkpull.protocol.constants import (
    DEFAULT_BIGDATA_PACKET,
    FRAME_OVERHEAD,
    MAX_DATA,
    SESSION_HEADER_SIZE,
    Command,
    Reply,
)

from .model import RefusalError

CHUNK_OVERHEAD: Final = 12  # MaxLen minus this is the chunk size
MIN_PACKET: Final = 64
MAX_PACKET: Final = MAX_DATA - FRAME_OVERHEAD - SESSION_HEADER_SIZE


class Transfers:
    """The big-data buffers and MaxLen of one link."""

    def __init__(self) -> None:
        self.max_len = DEFAULT_BIGDATA_PACKET
        self.download: bytes | None = None
        self._chunk = 0
        self._upload: bytearray | None = None
        self._target: int | None = None

    def reset(self) -> None:
        """CONNECT resets the big-data buffers (§2.1); MaxLen stays."""
        self.download = self._upload = self._target = None

    def reply(self, payload: bytes) -> tuple[int, bytes]:
        """Answer inline, or park *payload* and announce it when it exceeds MaxLen."""
        if len(payload) <= self.max_len:
            return Reply.OK, payload
        if len(payload) > MAX_TRANSFER:
            raise RefusalError(-12, "result exceeds the 4 MiB big-data buffer")
        self.download, self._chunk = payload, self.max_len - CHUNK_OVERHEAD
        info = BigDataInfo(0, len(payload), len(payload), checksum(payload), self._chunk)
        return Reply.PREPARE_DATA, encode_announce(info)

    def read(self, payload: bytes) -> bytes:
        offset = decode_offset(payload)
        data = self.download
        if data is None or offset >= len(data):
            raise RefusalError(-11, f"READ_DATA offset {offset} is beyond the buffer")
        return encode_offset(offset) + data[offset : offset + self._chunk]

    def prepare(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise RefusalError(-11, "PREPARE_DATA needs total and packet lengths")
        total, packet = struct.unpack_from("<II", payload)
        if total > MAX_TRANSFER:
            raise RefusalError(-18, "upload exceeds the 4 MiB big-data buffer")
        if packet:
            self.max_len = min(max(packet, MIN_PACKET), MAX_PACKET)
        self._upload = bytearray(total) if total else None
        self._target = None

    def write(self, payload: bytes) -> None:
        offset = decode_offset(payload)
        chunk = payload[4:]
        if self._upload is None or offset + len(chunk) > len(self._upload):
            raise RefusalError(-11, "DATA outside the prepared upload")
        self._upload[offset : offset + len(chunk)] = chunk

    def hash(self, payload: bytes) -> bytes:
        """HASH_DATA: CRC-32 of the upload (naming its target command) or of the download."""
        if self._upload is not None:
            if not payload or payload[0] not in (Command.SET_DATA, Command.DELETE_DATA):
                raise RefusalError(-13, "uploads can only feed SET_DATA or DELETE_DATA")
            self._target = payload[0]
            return checksum(bytes(self._upload)).to_bytes(4, "little")
        if self.download is not None:
            return checksum(self.download).to_bytes(4, "little")
        raise RefusalError(-11, "no big-data buffer to hash")

    def free(self) -> tuple[int, bytes] | None:
        """Release everything; return (target command, uploaded bytes) when an upload completes."""
        upload, target = self._upload, self._target
        self.reset()
        if upload is None or target is None:
            return None
        return target, bytes(upload)

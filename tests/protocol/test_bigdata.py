"""Big-data transfer: the 0x0D announce and the READ_DATA assembler (fact sheet §3.6)."""

from __future__ import annotations

import zlib

import pytest

from zkpull.protocol import MessageError
from zkpull.protocol.bigdata import (
    MAX_TRANSFER,
    Assembler,
    BigDataInfo,
    checksum,
    decode_announce,
    decode_chunk,
    decode_offset,
    encode_announce,
    encode_offset,
)

PAYLOAD = bytes(range(256)) * 40  # 10 KiB, two full chunks and a short one
INFO = BigDataInfo(0, len(PAYLOAD), len(PAYLOAD), zlib.crc32(PAYLOAD), 5 * 1024 - 12)


def _reply(offset: int, size: int = INFO.chunk_length) -> bytes:
    return offset.to_bytes(4, "little") + PAYLOAD[offset : offset + size]


def test_announce_round_trips_in_17_bytes() -> None:
    payload = encode_announce(INFO)
    assert len(payload) == 17
    assert payload[:5] == b"\x00" + len(PAYLOAD).to_bytes(4, "little")
    assert decode_announce(payload) == INFO
    assert decode_announce(payload + b"\x00") == INFO  # trailing bytes are ignored


@pytest.mark.parametrize(
    ("info", "match"),
    [
        (BigDataInfo(0, MAX_TRANSFER + 1, 0, 0, 100), "4 MiB"),
        (BigDataInfo(0, 10, 10, 0, 0), "zero chunk"),
    ],
)
def test_announce_with_impossible_sizes_is_refused(info: BigDataInfo, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        decode_announce(encode_announce(info))


def test_short_announce_is_refused() -> None:
    with pytest.raises(MessageError, match="need 17"):
        decode_announce(bytes(16))


def test_assembler_collects_the_transfer() -> None:
    assembler, received = Assembler(INFO), b""
    while not assembler.done:
        offset = decode_offset(assembler.next_request())
        assert offset == assembler.offset == len(received)
        received += assembler.add(_reply(offset))
    assert received == PAYLOAD
    assert assembler.crc_matches()
    assert checksum(PAYLOAD) == INFO.crc32


def test_assembler_detects_a_wrong_checksum() -> None:
    assembler = Assembler(BigDataInfo(0, 4, 4, 0x12345678, 100))
    assembler.add(b"\x00\x00\x00\x00abcd")
    assert assembler.done
    assert not assembler.crc_matches()


def test_empty_transfer_is_done_at_once() -> None:
    assembler = Assembler(BigDataInfo(0, 0, 0, 0, 0))
    assert assembler.done
    assert assembler.crc_matches()


def test_assembler_errors() -> None:
    with pytest.raises(MessageError, match="compressed"):
        Assembler(BigDataInfo(1, 10, 20, 0, 100))
    assembler = Assembler(INFO)
    with pytest.raises(MessageError, match="offset 100, asked 0"):
        assembler.add(_reply(100))
    with pytest.raises(MessageError, match="empty"):
        assembler.add(encode_offset(0))
    with pytest.raises(MessageError, match="past the announced length"):
        Assembler(BigDataInfo(0, 3, 3, 0, 100)).add(b"\x00\x00\x00\x00abcd")
    with pytest.raises(MessageError, match="need 4"):
        decode_offset(b"\x00\x00")
    assert assembler.offset == 0  # nothing was taken from the refused replies


def test_offsets_are_u32_le() -> None:
    assert encode_offset(0x01020304) == b"\x04\x03\x02\x01"
    assert decode_chunk(b"\x04\x03\x02\x01xyz", 0x01020304) == b"xyz"

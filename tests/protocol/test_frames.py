"""Frame layer edge cases beyond the vectors: limits, bad bytes, recovery."""

from __future__ import annotations

import pytest

from zkpull.protocol import (
    ChecksumError,
    Frame,
    FrameDecoder,
    FrameError,
    ProtocolError,
    encode_frame,
)
from zkpull.protocol.constants import DEFAULT_MAX_DATA, MAX_DATA

CONNECT = bytes.fromhex("aa01010000503c55")


@pytest.mark.parametrize(
    "frame",
    [
        Frame(command=256),
        Frame(command=-1),
        Frame(command=1, address=256),
        Frame(command=1, address=-1),
    ],
)
def test_encode_refuses_fields_that_are_not_bytes(frame: Frame) -> None:
    with pytest.raises(ValueError, match="must be bytes"):
        encode_frame(frame)


def test_encode_refuses_data_beyond_the_u16_length() -> None:
    assert len(encode_frame(Frame(1, bytes(MAX_DATA)))) == MAX_DATA + 8
    with pytest.raises(ValueError, match="u16"):
        encode_frame(Frame(1, bytes(MAX_DATA + 1)))


@pytest.mark.parametrize("limit", [-1, MAX_DATA + 1])
def test_decoder_limit_must_fit_the_length_field(limit: int) -> None:
    with pytest.raises(ValueError, match="max_data"):
        FrameDecoder(max_data=limit)


def test_default_limit_accepts_the_largest_firmware_packet() -> None:
    frame = Frame(0xC8, bytes(DEFAULT_MAX_DATA))
    assert FrameDecoder().feed(encode_frame(frame)) == [frame]


def test_zero_limit_still_accepts_empty_frames() -> None:
    assert FrameDecoder(max_data=0).feed(CONNECT) == [Frame(1)]


def test_bad_start_byte_is_rejected_at_the_first_byte() -> None:
    with pytest.raises(FrameError, match="start byte"):
        FrameDecoder().feed(b"\x55")


def test_bad_end_byte_is_a_frame_error_not_a_checksum_error() -> None:
    with pytest.raises(FrameError, match="end byte") as info:
        FrameDecoder().feed(CONNECT[:-1] + b"\x00")
    assert not isinstance(info.value, ChecksumError)


def test_checksum_error_reports_both_values() -> None:
    with pytest.raises(ChecksumError) as info:
        FrameDecoder().feed(CONNECT[:5] + b"\x51\x3c\x55")
    assert (info.value.expected, info.value.actual) == (0x3C50, 0x3C51)
    assert isinstance(info.value, ProtocolError)


def test_frame_is_accepted_only_when_both_crc_bytes_match() -> None:
    for corrupted in (b"\x50\x3d", b"\x51\x3c"):  # zkaccess-c3 accepts either byte matching
        with pytest.raises(ChecksumError):
            FrameDecoder().feed(CONNECT[:5] + corrupted + b"\x55")


def test_data_may_contain_start_and_end_bytes() -> None:
    frame = Frame(0xC8, b"\x55\xaa\x55\xaa\x00\x55")
    assert FrameDecoder().feed(encode_frame(frame)) == [frame]


def test_decoder_keeps_the_bad_bytes_until_reset() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"\x00" + CONNECT)
    assert decoder.buffered == 1 + len(CONNECT)
    with pytest.raises(FrameError):
        decoder.feed(b"")
    decoder.reset()
    assert decoder.buffered == 0
    assert decoder.feed(CONNECT) == [Frame(1)]


def test_needed_counts_down_to_the_end_of_the_frame() -> None:
    decoder = FrameDecoder()
    assert decoder.needed() == 5
    decoder.feed(b"\xaa\x01")
    assert decoder.needed() == 3
    decoder.feed(b"\xc8\x02\x00")
    assert decoder.needed() == 5  # 2 data bytes + CRC + end
    decoder.feed(b"ok")
    assert decoder.needed() == 3

"""The inputs the fuzzers found, pinned as plain tests (each failed before its fix)."""

from __future__ import annotations

import pytest

from zkpull.protocol.errors import FrameError, MessageError
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.tables import decode_table_struct

from . import fuzz_client


def test_a_failed_decoder_stops_buffering() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"\x00garbage")
    held = decoder.buffered
    for _ in range(100):  # a caller that ignores the error must not grow the buffer
        with pytest.raises(FrameError):
            decoder.feed(b"\xaa" * 1000)
    assert decoder.buffered == held
    decoder.reset()
    assert decoder.feed(encode_frame(Frame(0xC8))) == [Frame(0xC8)]


def test_needed_stays_within_the_frame_bound() -> None:
    decoder = FrameDecoder(max_data=64)
    good = encode_frame(Frame(0xC8, b"ok"))
    oversize = b"\xaa\x01\xc8\xff\xff"  # a length field of 65535
    assert decoder.feed(good + oversize) == [Frame(0xC8, b"ok")]  # error held back
    assert decoder.needed() == 1  # not 65,538: the next byte read gets the error
    with pytest.raises(FrameError):
        decoder.feed(b"")
    fresh = FrameDecoder(max_data=64)
    fresh.feed(oversize[:2])
    with pytest.raises(FrameError):
        fresh.feed(oversize[2:])
    assert fresh.needed() == 1


@pytest.mark.parametrize(
    "schema",
    [
        b"user=300,Pin=i1\n",  # a table id does not fit the request byte
        b"user=1,Pin=i256\n",  # nor a field id
        b"user=" + b"9" * 5000 + b",Pin=i1\n",  # int() would refuse it with ValueError
        b"user=1,Pin=i" + b"1" * 5000 + b"\n",
        b"user=1,\x0c=i1,",  # a field name of blanks (found by the round-trip check)
        b" \t=1,Pin=i1\n",
    ],
)
def test_bad_schema_lines_are_message_errors(schema: bytes) -> None:
    with pytest.raises(MessageError):
        decode_table_struct(schema)


def test_transaction_schema_without_a_field_is_the_documented_key_error() -> None:
    # The client raises KeyError (Table.field) for a transaction table lacking one of its
    # seven fields; the harness accepts exactly that and nothing else.
    schema = b"transaction=5,Cardno=i1,Pin=i2\n"
    script = bytes((0,)) + len(schema).to_bytes(2, "little") + schema
    fuzz_client.client_bigdata(b"\x00" + script)


def test_serial_port_pattern_may_not_build_huge_or_reach_into_the_number() -> None:
    from .support import setup_django  # noqa: PLC0415

    setup_django()
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    from agent import conf  # noqa: PLC0415

    for pattern in ("/dev/ttyS{n:>999999999}", "/dev/{n.real}", "/dev/{n[0]}", "/dev/{n!r}"):
        with pytest.raises(ImproperlyConfigured, match="serial_port_pattern"):
            conf.load({"serial_port_pattern": pattern})
    assert conf.load({"serial_port_pattern": "/dev/ttyUSB{n_minus_1:02}"}).serial_port_path(3) == (
        "/dev/ttyUSB02"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"comm_type": 1, "ip_port": 70000},
        {"comm_type": 1, "ip_port": -1},
        {"comm_type": 2, "com_port": 3, "com_address": 300, "baudrate": 2},
        {"comm_type": 2, "com_port": 300, "com_address": 2, "baudrate": 2},
    ],
)
def test_device_rows_out_of_range_are_refused(fields: dict[str, int]) -> None:
    from .support import setup_django  # noqa: PLC0415

    setup_django()
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    from agent.conf import AgentSettings  # noqa: PLC0415
    from agent.deviceconfig import DeviceConfig  # noqa: PLC0415
    from agent.models import Device  # noqa: PLC0415

    device = Device(pk=1, alias="x", ipaddress="10.0.0.1", timezone="UTC", **fields)
    with pytest.raises(ImproperlyConfigured):
        DeviceConfig.from_model(device, AgentSettings())

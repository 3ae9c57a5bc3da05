"""Frame decoder and session layer: arbitrary byte streams in arbitrary splits, both dialects.

Input layout (so that seeds stay meaningful under mutation): byte 0 picks the mode and the
split pattern, the rest is the stream. In "framed" mode the rest is a list of records that
the harness frames with a correct CRC, so mutations reach the layers behind the checksum.
Only ProtocolError (FrameError, ChecksumError, UnexpectedReply) may escape the code under test.
"""

from __future__ import annotations

from zkpull.protocol.constants import (
    DEFAULT_MAX_DATA,
    HEADER_SIZE,
    TRAILER_SIZE,
    Command,
    Dialect,
    Reply,
)
from zkpull.protocol.errors import FrameError, ProtocolError
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame
from zkpull.protocol.session import Session, SessionState

from .support import framed_vectors, splits

_SMALL_MAX = 64  # a decoder with a small bound exercises the length check often
_REQUESTS = (
    Command.GET_REALTIME_LOG,
    Command.GET_DEVICE_PARAM,
    Command.CONTROL_DEVICE,
    Command.GET_DATA,
    Command.READ_DATA,
    Command.DISCONNECT,
)
_REPLY_CODES = (Reply.OK, Reply.ERROR, Reply.PREPARE_DATA)


def _records(body: bytes) -> list[tuple[int, int, bytes]]:
    """`[command][mode][len u8][data]...` -> (command, mode, data); a short tail is dropped."""
    out = []
    position = 0
    while position + 3 <= len(body):
        command, mode, size = body[position], body[position + 1], body[position + 2]
        data = body[position + 3 : position + 3 + size]
        out.append((command, mode, data))
        position += 3 + size
    return out


# -- frame decoder ---------------------------------------------------------------------------
def _decode(chunks: list[bytes], max_data: int) -> tuple[list[Frame], bool]:
    decoder = FrameDecoder(max_data=max_data)
    bound = HEADER_SIZE + max_data + TRAILER_SIZE
    frames: list[Frame] = []
    failed = False
    for chunk in [*chunks, b""]:  # the empty feed delivers an error held back with good frames
        try:
            frames += decoder.feed(chunk)
        except FrameError:
            failed = True
            break
        # Rule 3: what stays buffered is one incomplete frame, never more than the bound.
        if decoder.buffered >= bound:
            # Only allowed behind an error held back with good frames: it must come now.
            try:
                decoder.feed(b"")
            except FrameError:
                failed = True
                break
            raise AssertionError(f"decoder holds {decoder.buffered} bytes, bound {bound}")
        if not 1 <= decoder.needed() <= bound - decoder.buffered:
            raise AssertionError(f"needed() = {decoder.needed()} with {decoder.buffered} held")
    if failed:
        # Once failed, the decoder refuses more bytes instead of buffering them.
        before = decoder.buffered
        try:
            decoder.feed(b"\xaa" * 64)
        except FrameError:
            pass
        else:
            raise AssertionError("a failed decoder accepted more bytes")
        if decoder.buffered > before:
            raise AssertionError("a failed decoder kept buffering")
    return frames, failed


def frame_stream(data: bytes) -> None:
    """The frame decoder over a raw (or correctly framed) stream, split two ways."""
    if not data:
        return
    flags, body = data[0], data[1:]
    max_data = _SMALL_MAX if flags & 0x02 else DEFAULT_MAX_DATA
    if flags & 0x01:
        wanted = [Frame(command, payload, mode) for command, mode, payload in _records(body)]
        stream = b"".join(encode_frame(frame) for frame in wanted)
    else:
        wanted = None
        stream = body
    whole, whole_failed = _decode([stream], max_data)
    split, split_failed = _decode(list(splits(stream, flags >> 2)), max_data)
    if (whole, whole_failed) != (split, split_failed):
        raise AssertionError("the frames depend on how the stream was split")
    if stream[: sum(len(encode_frame(f)) for f in whole)] != b"".join(map(encode_frame, whole)):
        raise AssertionError("decoded frames do not re-encode to the bytes they came from")
    if wanted is not None:
        fits = all(len(frame.data) <= max_data for frame in wanted)
        if fits and (whole != wanted or whole_failed):
            raise AssertionError("well-formed frames were not decoded back")


# -- session ----------------------------------------------------------------------------------
class _Driver:
    """Plays the client: connect, then one request per reply, as the PanelClient does."""

    def __init__(self, dialect: Dialect, abandon_every: int) -> None:
        self.session = Session()
        self.dialect = dialect
        self.abandon_every = abandon_every
        self.sent = 0
        self.command: int | None = None
        self.wire = self.session.connect(dialect)
        self.command = self.session.pending

    def after_chunk(self, index: int) -> None:
        session = self.session
        while (reply := session.next_reply()) is not None:
            if reply.command != self.command:
                raise AssertionError(f"reply for {reply.command:#x}, asked {self.command}")
            headless = self.dialect is Dialect.SESSION and reply.session_id is None
            if headless and reply.command != Command.CONNECT_SESSION:
                raise AssertionError("session reply without a session id")
        if self.abandon_every and index % self.abandon_every == 0:
            session.abandon()
        if session.pending is None:
            if session.state is SessionState.CONNECTED:
                self.command = _REQUESTS[self.sent % len(_REQUESTS)]
                self.sent += 1
                self.wire = session.request(self.command, bytes((self.sent & 0xFF,)))
            else:  # refused, broken or disconnected: the client reconnects
                self.wire = session.connect(self.dialect)
                self.command = session.pending

    def expected_header(self) -> tuple[int, int]:
        """(session id, message number) the pending request's reply must carry."""
        number = int.from_bytes(self.wire[7:9], "little")
        if self.command == Command.CONNECT_SESSION:
            return 0x1234, number
        return self.session.session_id or 0, number


def session_stream(data: bytes) -> None:
    """The session layer's reply matching over any bytes, in any splits."""
    if not data:
        return
    flags, body = data[0], data[1:]
    dialect = Dialect.SESSION if flags & 0x01 else Dialect.SESSIONLESS
    driver = _Driver(dialect, abandon_every=(flags >> 5) & 0x07)
    try:
        if not flags & 0x02:
            for index, chunk in enumerate(splits(body, flags >> 2), start=1):
                driver.session.receive(chunk)
                driver.after_chunk(index)
            return
        for index, (code, mode, body_data) in enumerate(_records(body), start=1):
            payload = body_data
            command = _REPLY_CODES[code % 3] if code < 0xC0 else code
            if dialect is Dialect.SESSION and mode % 4 != 3:
                session_id, number = driver.expected_header()
                if mode % 4 == 1:
                    number = (number - 1 - (mode >> 2)) & 0xFFFF  # a late reply
                elif mode % 4 == 2:
                    session_id ^= mode
                header = session_id.to_bytes(2, "little") + number.to_bytes(2, "little")
                payload = header + payload
            wire = encode_frame(Frame(command, payload, mode))
            for chunk in splits(wire, index + flags):
                driver.session.receive(chunk)
            driver.after_chunk(index)
    except ProtocolError:
        return


def frame_seeds() -> list[bytes]:
    wires = framed_vectors()
    seeds = [bytes((flags,)) + wire for wire in wires for flags in (0x00, 0x04, 0x08, 0x0C)]
    seeds.append(b"\x00" + b"".join(wires))
    seeds.append(b"\x02" + b"".join(wires))
    seeds.append(b"\x01" + bytes((0xC8, 0x01, 4)) + b"\x01\x02\x03\x04")
    return seeds


def session_seeds() -> list[bytes]:
    wires = framed_vectors()
    seeds = [bytes((flags,)) + wire for wire in wires for flags in (0x00, 0x01, 0x05, 0x21)]
    ok, err = Reply.OK, Reply.ERROR
    seeds.append(
        bytes((0x03, ok, 1, 0, ok, 1, 16)) + bytes(16) + bytes((ok, 5, 0, err, 1, 1, 0xF5))
    )
    seeds.append(bytes((0x02, ok, 0, 0, ok, 0, 16)) + bytes(16) + bytes((err, 0, 1, 0xF2)))
    seeds.append(bytes((0x23, ok, 1, 0, ok, 5, 0, ok, 1, 0, ok, 2, 0)))
    return seeds

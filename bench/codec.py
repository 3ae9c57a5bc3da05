"""Codec throughput (pure functions, in this process): frames, RT records, transactions, CRC-16."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime

from zkpull.protocol import ZKError, rtlog, tables
from zkpull.protocol.checksum import crc16
from zkpull.protocol.frames import FrameDecoder
from zkpull.protocol.timecodec import encode_time
from zkpull.simulator import FakePanel, PanelConfig
from zkpull.simulator.layouts import NEWER_LAYOUT

from .common import REPO, Figure, Results

VECTORS = REPO / "tests" / "vectors" / "c3-test-vectors.json"
READ_CHUNK = 64 * 1024  # what a transport read hands the decoder at most
BIGDATA_CHUNK = 5 * 1024 - 12  # a READ_DATA chunk at the firmware's MaxLen


def run(results: Results, reps: int, quick: bool) -> None:
    scale = 0.2 if quick else 1.0
    stream, frames_per_stream = _frame_stream(int(2_000_000 * scale))
    results.add(
        Figure(
            "codec.frames_per_s",
            "codec",
            "FrameDecoder: captured-size frames decoded",
            "frames/s",
            [frames_per_stream / _timed(lambda: _decode_frames(stream)) for _ in range(reps)],
            note=f"{len(stream):,} B stream of the captured cap_* frames ({frames_per_stream:,} frames), fed in 64 KiB reads",
        )
    )
    payload = _rtlog_payload(30)  # a full RT ring: 30 records per reply
    loops = int(20_000 * scale)
    results.add(
        Figure(
            "codec.rt_records_per_s",
            "codec",
            "decode_rtlog: real-time records decoded",
            "records/s",
            [
                30 * loops / _timed(lambda: _repeat(loops, rtlog.decode_rtlog, payload))
                for _ in range(reps)
            ],
            note="replies of 30 binary records (one full ring)",
        )
    )
    count = int(100_000 * scale)
    table, wire = _transaction_table(count)
    request = tables.GetDataRequest(table.id, tuple(f.id for f in table.fields))
    results.add(
        Figure(
            "codec.tx_records_per_s",
            "codec",
            "RecordDecoder + decode_row: transaction records decoded",
            "records/s",
            [count / _timed(lambda: _decode_table(table, request, wire)) for _ in range(reps)],
            note=f"{count:,} simulator transactions ({len(wire):,} B), fed in 5,108 B big-data chunks",
        )
    )
    data = os.urandom(int(4_000_000 * scale))
    results.add(
        Figure(
            "codec.crc16_mb_per_s",
            "codec",
            "crc16 (CRC-16/ARC) throughput",
            "MB/s",
            [len(data) / 1e6 / _timed(lambda: crc16(data)) for _ in range(reps)],
        )
    )
    _peer_crc(results, reps, data[:200_000])


def _peer_crc(results: Results, reps: int, data: bytes) -> None:
    from c3 import crc  # noqa: PLC0415 GPL peer: imported only inside the bench

    results.add(
        Figure(
            "codec.c3_crc16_mb_per_s",
            "codec",
            "zkaccess-c3 crc16 throughput (peer)",
            "MB/s",
            [len(data) / 1e6 / _timed(lambda: crc.crc16(data)) for _ in range(reps)],
        )
    )


# -- inputs ---------------------------------------------------------------------------------------
def _frame_stream(size: int) -> tuple[bytes, int]:
    frames = []
    for vector in json.loads(VECTORS.read_text()):
        if not vector["name"].startswith("cap_"):
            continue
        wire = bytes.fromhex(vector["hex"].replace(" ", ""))
        try:
            if len(FrameDecoder().feed(wire)) == 1:
                frames.append(wire)
        except ZKError:
            continue  # a capture kept for its defect (bad CRC, truncated)
    one = b"".join(frames)
    copies = max(1, size // len(one))
    return one * copies, len(frames) * copies


def _rtlog_payload(records: int) -> bytes:
    moment = datetime(2026, 12, 3, 16, 40, 5)  # noqa: DTZ001 panel wall clock
    events = [
        rtlog.RtEvent(moment, 1000 + i, 12_345_678 + i, 1 + i % 4, 0, i % 2, 4, encode_time(moment))
        for i in range(records)
    ]
    return b"".join(rtlog.encode_rt_event(event) for event in events)


def _transaction_table(count: int) -> tuple[tables.Table, bytes]:
    table = next(t for t in NEWER_LAYOUT if t.name == "transaction")
    panel = FakePanel(PanelConfig(transactions=count, seed=3))
    wire = tables.encode_records(table.id, [f.id for f in table.fields], panel.transactions.rows())
    return table, wire


# -- work -----------------------------------------------------------------------------------------
def _decode_frames(stream: bytes) -> int:
    decoder = FrameDecoder()
    total = 0
    for start in range(0, len(stream), READ_CHUNK):
        total += len(decoder.feed(stream[start : start + READ_CHUNK]))
    return total


def _decode_table(table: tables.Table, request: tables.GetDataRequest, wire: bytes) -> int:
    decoder = tables.RecordDecoder(request)
    fields = table.fields
    rows = 0
    for start in range(0, len(wire), BIGDATA_CHUNK):
        for raw in decoder.feed(wire[start : start + BIGDATA_CHUNK]):
            tables.decode_row(fields, raw)
            rows += 1
    decoder.finish()
    return rows


def _repeat(loops: int, function: Callable[[bytes], object], payload: bytes) -> None:
    for _ in range(loops):
        function(payload)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started

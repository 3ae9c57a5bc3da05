"""Ground truth: one JSON line per stored event (preload included), never for status records."""

from __future__ import annotations

import io
import json
from pathlib import Path

from zkpull.protocol.constants import Command, OutputType
from zkpull.protocol.params import output_control
from zkpull.protocol.timecodec import decode_time
from zkpull.simulator import FakePanel, GroundTruthWriter, PanelConfig, Simulator, make_configs

from .simhelpers import TcpClient, clock

KEYS = ["serial", "port", "time", "pin", "card", "door", "event_type", "inout", "verify"]


async def test_ground_truth_file_lists_preloaded_and_live_events(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    configs = make_configs(2, transactions=5, seed=9)
    async with Simulator(configs, clock=clock(), ground_truth=path) as sim:
        client = await TcpClient.open(sim.ports[1])
        await client.connect()
        await client.request(Command.CONTROL_DEVICE, output_control(3, OutputType.DOOR, 10))
        await client.request(Command.GET_REALTIME_LOG)  # the event
        await client.request(Command.GET_REALTIME_LOG)  # a status record: not ground truth
        lines = path.read_text().splitlines()  # visible before the simulator stops: line-buffered
        await client.close()
    records = [json.loads(line) for line in lines]
    assert all(list(record) == KEYS for record in records)
    assert len(records) == 11
    per_panel = {(r["serial"], r["port"]) for r in records}
    assert per_panel == {(p.serial, p.port) for p in sim.panels}
    live = records[-1]
    assert live == {
        "serial": sim.panels[1].serial, "port": sim.ports[1], "time": "2026-12-03T16:40:05", "pin": 0,
        "card": 0, "door": 3, "event_type": 8, "inout": 2, "verify": 200,
    }  # fmt: skip
    assert all(r["event_type"] != 255 for r in records)


def test_ground_truth_matches_the_transaction_table() -> None:
    stream = io.StringIO()
    writer = GroundTruthWriter(stream)
    panel = FakePanel(
        PanelConfig(transactions=50), clock=clock(), on_event=writer.write, preload=False
    )
    panel.preload(50)
    for _ in range(20):
        panel.generate_event()
    panel.emit(202, door=1)
    panel.emit(202, door=1)  # identical: moved a second on, in the table and the ground truth alike
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(records) == len(panel.transactions) == 72
    for record, row in zip(records, panel.transactions.rows(), strict=True):
        card, pin, verify, door, event, inout, packed = row
        assert (record["card"], record["pin"], record["verify"], record["door"]) == (
            card,
            pin,
            verify,
            door,
        )
        assert (record["event_type"], record["inout"]) == (event, inout)
        assert record["time"] == decode_time(packed).isoformat()
    *_, first, second = records
    assert {**first, "time": ""} == {**second, "time": ""}
    assert second["time"] > first["time"] >= "2026-12-03T16:40:05"
    assert records[0]["port"] is None  # not served on TCP

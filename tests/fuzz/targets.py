"""The fuzz targets: name -> harness function, its seed corpus and its input size limit."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    module: str  # tests.fuzz.<module>
    function: str
    seeds: str  # function in the module returning the seed inputs
    max_len: int = 4096  # bytes per input (libFuzzer -max_len)
    weight: float = 1.0  # share of the recorded run's inputs (slow harnesses get fewer)
    parser: str = ""  # what it covers, for the report

    def load(self) -> tuple[Callable[[bytes], None], Callable[[], list[bytes]]]:
        module = importlib.import_module(f"tests.fuzz.{self.module}")
        return getattr(module, self.function), getattr(module, self.seeds)


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            "frames",
            "fuzz_frames",
            "frame_stream",
            "frame_seeds",
            4096,
            0.35,
            "FrameDecoder: byte streams in any split, CRC-valid or not",
        ),
        Target(
            "session",
            "fuzz_frames",
            "session_stream",
            "session_seeds",
            4096,
            0.6,
            "Session: reply matching, both dialects, late replies, abandon",
        ),
        Target(
            "rtlog_binary",
            "fuzz_rtlog",
            "rtlog_binary",
            "binary_seeds",
            4096,
            1.6,
            "decode_rtlog: 16-byte event and door-status records",
        ),
        Target(
            "rtlog_kv",
            "fuzz_rtlog",
            "rtlog_kv",
            "kv_seeds",
            4096,
            1.5,
            "decode_rtlog_kv: 0x79 key/value text",
        ),
        Target(
            "table_schema",
            "fuzz_tables",
            "table_schema",
            "schema_seeds",
            8192,
            1.2,
            "decode_table_struct: 0x06 schema text",
        ),
        Target(
            "table_data",
            "fuzz_tables",
            "table_data",
            "data_seeds",
            8192,
            0.8,
            "RecordDecoder in any chunking, decode_row, GETDATA/DELETEDATA/COUNT",
        ),
        Target(
            "bigdata",
            "fuzz_tables",
            "big_data",
            "bigdata_seeds",
            8192,
            1.6,
            "0x0D announce and READ_DATA chunk assembly, CRC-32",
        ),
        Target(
            "params",
            "fuzz_tables",
            "param_text",
            "param_seeds",
            4096,
            1.6,
            "GETPARAM/SETPARAM text, GETPARAM names, CONTROL, READ_DATA offset",
        ),
        Target(
            "client_bigdata",
            "fuzz_client",
            "client_bigdata",
            "client_seeds",
            16384,
            0.15,
            "PanelClient reply paths: schema, GETDATA via 0x0D, transactions, rtlog switch",
        ),
        Target(
            "grammar",
            "fuzz_agent",
            "command_grammar",
            "grammar_seeds",
            4096,
            0.9,
            "agent.grammar.parse_command (+ to_text round trip)",
        ),
        Target(
            "settings",
            "fuzz_agent",
            "agent_settings",
            "settings_seeds",
            4096,
            0.7,
            "agent.conf.load / problems from env strings and typed values",
        ),
        Target(
            "deviceconfig",
            "fuzz_agent",
            "device_row",
            "device_seeds",
            2048,
            0.5,
            "agent.deviceconfig.DeviceConfig.from_model from device rows",
        ),
    )
}

# Not fuzzed for real: it crashes on its seed, so the tests can show that a crash fails the run.
SELF_TEST = Target("selftest_crash", "selftest", "crash_on_boom", "seeds", 64, 0.0, "self-test")
ALL_TARGETS: dict[str, Target] = {**TARGETS, SELF_TEST.name: SELF_TEST}

"""Simulated ZKTeco C3/inBio panels speaking the PULL protocol, built on `zkpull.protocol`.

`FakePanel` holds one panel's state; `FakePanel.connection()` serves it sans-I/O
(`receive(request bytes) -> reply bytes`), `MemoryLink` as an in-memory transport,
`serve_stream` over any asyncio stream pair, and `Simulator` on TCP ports, an RS485 pty
bus and a control channel. Run `python -m zkpull.simulator --help` for the CLI.
"""

from __future__ import annotations

from .connection import PanelConnection
from .control import ControlServer
from .doors import DoorBank
from .events import EventGenerator, EventSpec
from .faults import FAULT_NAMES, Faults
from .groundtruth import GroundTruthWriter
from .layouts import LEGACY_LAYOUT, NEWER_LAYOUT, PRIMARY_KEYS
from .memory import MemoryLink
from .model import (
    MODELS,
    Clock,
    Firmware,
    ManualClock,
    ModelSpec,
    PanelConfig,
    RefusalError,
    host_clock,
    make_configs,
    model_spec,
)
from .panel import EventSink, FakePanel, PanelStats
from .serialbus import PtyBus
from .server import Simulator, serve_stream, start_simulator
from .store import RowTable, TransactionLog

__all__ = [
    "FAULT_NAMES",
    "LEGACY_LAYOUT",
    "MODELS",
    "NEWER_LAYOUT",
    "PRIMARY_KEYS",
    "Clock",
    "ControlServer",
    "DoorBank",
    "EventGenerator",
    "EventSink",
    "EventSpec",
    "FakePanel",
    "Faults",
    "Firmware",
    "GroundTruthWriter",
    "ManualClock",
    "MemoryLink",
    "ModelSpec",
    "PanelConfig",
    "PanelConnection",
    "PanelStats",
    "PtyBus",
    "RefusalError",
    "RowTable",
    "Simulator",
    "TransactionLog",
    "host_clock",
    "make_configs",
    "model_spec",
    "serve_stream",
    "start_simulator",
]

"""The simulated fleet of the multi-agent test, in its own process, watching its clients.

    python tests/cluster/simproc.py --panels 60 --truth FILE [--events-per-second R]

Prints one JSON line once listening: {"ports": [...], "control": N}. Besides the simulator's
ground truth it keeps the panel's own view of who talks to it: the live connections per
panel, every moment a second client connected while one was live (a violation: real panels
take one client), and every control operation run (to catch a command executed twice).
Control channel (one line in, one JSON line out): ``clients``, ``report``, ``pause``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from zkpull.simulator import Simulator, make_configs


def utc_clock() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class WatchedSimulator(Simulator):
    """A Simulator that counts live connections and control operations per panel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live: Counter[int] = Counter()
        self.peak: Counter[int] = Counter()
        self.violations: list[dict[str, Any]] = []
        self.controls: Counter[int] = Counter()
        for index, panel in enumerate(self.panels):
            original = panel.control

            def control(
                op: int, p1: int, p2: int, p3: int, _i: int = index, _o: Any = original
            ) -> bool:
                self.controls[_i] += 1
                return bool(_o(op, p1, p2, p3))

            panel.control = control  # type: ignore[method-assign]

    async def _accept(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.live[index] += 1
        self.peak[index] = max(self.peak[index], self.live[index])
        if self.live[index] > 1:
            peer = writer.get_extra_info("peername")
            self.violations.append(
                {"panel": index, "clients": self.live[index], "at": time.time(), "peer": str(peer)}
            )
        try:
            await super()._accept(index, reader, writer)
        finally:
            self.live[index] -= 1


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panels", type=int, default=60)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--events-per-second", type=float, default=1.0)
    parser.add_argument("--transactions", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    configs = make_configs(
        args.panels,
        firmware="mixed",
        seed=args.seed,
        events_per_second=args.events_per_second,
        transactions=args.transactions,
    )
    sim = WatchedSimulator(configs, clock=utc_clock, ground_truth=args.truth)
    await sim.start()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while line := (await reader.readline()).decode().strip():
                if line == "clients":
                    reply: Any = [sim.live[i] for i in range(len(sim.panels))]
                elif line == "pause":
                    sim.pause_generation()
                    if sim.ground_truth is not None:
                        sim.ground_truth.flush()
                    reply = "ok"
                elif line == "report":
                    if sim.ground_truth is not None:
                        sim.ground_truth.flush()
                    reply = {
                        "violations": sim.violations,
                        "peak": [sim.peak[i] for i in range(len(sim.panels))],
                        "controls": [sim.controls[i] for i in range(len(sim.panels))],
                        "connections": [p.stats.connections for p in sim.panels],
                    }
                else:
                    reply = {"error": f"unknown {line!r}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        writer.close()

    control = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = control.sockets[0].getsockname()[1]
    print(json.dumps({"ports": sim.ports, "control": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    control.close()
    await sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

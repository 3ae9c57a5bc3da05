"""Serve simulated ZKTeco C3/inBio panels (PULL protocol) on TCP ports BASE..BASE+N-1.

Prints one line once every port listens; stops cleanly (exit 0) on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Sequence

from .faults import REFUSE_MODES
from .model import MODELS, make_configs
from .server import Simulator

logger = logging.getLogger("zkpull.simulator")

_FAULT_FLAGS = (  # (flag, fault name, type, help)
    ("--fault-drop", "drop", int, "close instead of answering the next N requests"),
    ("--fault-delay", "delay", float, "wait X seconds before every reply"),
    ("--fault-corrupt-crc", "corrupt-crc", float, "corrupt each reply's CRC with probability X"),
    ("--fault-corrupt-next", "corrupt-next", int, "corrupt the CRC of the next N replies"),
    ("--fault-garbage", "garbage", int, "answer the next N requests with random bytes"),
    ("--fault-truncate", "truncate", int, "send part of the next N replies, then close"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zkpull.simulator", description=__doc__)
    add = parser.add_argument
    add("--panels", type=int, default=1, help="number of panels (default 1)")
    add(
        "--base-port",
        type=int,
        default=14370,
        help="first TCP port; 0 = any free ports (default 14370)",
    )
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--model", default="C3-400", choices=sorted(MODELS), help="panel model (default C3-400)")
    add(
        "--firmware",
        default="session",
        choices=("session", "sessionless", "mixed"),
        help="dialect; mixed alternates session/sessionless (default session)",
    )
    add("--password", default="", help="communication password (ComPwd)")
    add(
        "--kv-rtlog",
        action="store_true",
        help="emulate C3-400 AC Ver 5.4.3 (0x79 key/value RT log)",
    )
    add(
        "--events-per-second",
        type=float,
        default=1.0,
        help="generated events per panel per second (default 1)",
    )
    add(
        "--max-events",
        type=int,
        default=None,
        help="stop generating after this many events per panel",
    )
    add("--transactions", type=int, default=0, help="preload this many past transactions per panel")
    add("--users", type=int, default=20, help="preload this many users per panel (default 20)")
    add("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    add("--ground-truth", metavar="FILE", help="write every stored event as a JSON line to FILE")
    add("--control-port", type=int, default=None, help="line-based control channel on 127.0.0.1")
    add("--serial-pty", action="store_true", help="also serve all panels on one RS485 pty bus")
    for flag, _name, kind, text in _FAULT_FLAGS:
        add(flag, type=kind, default=None, metavar="N" if kind is int else "X", help=text)
    add("--fault-refuse", choices=REFUSE_MODES, default=None, help="refuse connections at start")
    add(
        "--fault-panels",
        type=_indices,
        default=None,
        help="panels the --fault-* flags hit: i,j,... (default all)",
    )
    add("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _raise_file_limit()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(args))
    return 0


async def _run(args: argparse.Namespace) -> int:
    configs = make_configs(
        args.panels,
        model=args.model,
        firmware=args.firmware,
        password=args.password,
        seed=args.seed,
        events_per_second=args.events_per_second,
        max_events=args.max_events,
        transactions=args.transactions,
        users=args.users,
        kv_rtlog=args.kv_rtlog,
    )
    simulator = Simulator(
        configs,
        host=args.host,
        base_port=args.base_port,
        ground_truth=args.ground_truth,
        control_port=args.control_port,
        serial_pty=args.serial_pty,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await simulator.start()
    except (OSError, ValueError) as exc:
        print(f"zkpull simulator: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        _apply_faults(simulator, args)
        if simulator.control_port is not None:
            print(
                f"zkpull simulator: control channel on 127.0.0.1:{simulator.control_port}",
                flush=True,
            )
        if simulator.pty_path is not None:
            print(
                f"zkpull simulator: RS485 bus on {simulator.pty_path}, addresses "
                f"{simulator.panels[0].address}-{simulator.panels[-1].address}",
                flush=True,
            )
        print(simulator.ready_line(), flush=True)
        await stop.wait()
    finally:
        await simulator.stop()
    return 0


def _apply_faults(simulator: Simulator, args: argparse.Namespace) -> None:
    panels = simulator.panels
    if args.fault_panels is not None:
        panels = [panels[i] for i in args.fault_panels if 0 <= i < len(panels)]
    for panel in panels:
        for flag, name, _kind, _text in _FAULT_FLAGS:
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                panel.faults.set(name, value)
        if args.fault_refuse is not None:
            panel.faults.set("refuse", args.fault_refuse)


def _indices(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected panel indices like 0,2,5, got {text!r}"
        ) from exc


def _raise_file_limit() -> None:
    # Thousands of panels need thousands of listening sockets; lift the soft limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    sys.exit(main())

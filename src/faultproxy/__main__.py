"""Command line: proxies in their own process, driven through the control channel.

    python -m faultproxy --listen 127.0.0.1:0 --upstream 127.0.0.1:5432 --control-port 0

`--listen`/`--upstream` may be repeated in pairs (proxy 0, 1, ...), or `--map L=U` used.
Once listening it prints one JSON line on stdout: {"ports": [...], "control": N}.
SIGINT/SIGTERM stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from .control import ControlServer
from .proxy import FaultProxy


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return host, number


def _mapping(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    listen, sep, upstream = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LISTEN=UPSTREAM, got {text!r}")
    return _hostport(listen), _hostport(upstream)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faultproxy", description=__doc__)
    parser.add_argument("--listen", type=_hostport, action="append", default=[])
    parser.add_argument("--upstream", type=_hostport, action="append", default=[])
    parser.add_argument("--map", type=_mapping, action="append", default=[])
    parser.add_argument("--control-host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, default=None)
    return parser


async def _serve(
    routes: list[tuple[tuple[str, int], tuple[str, int]]], args: argparse.Namespace
) -> None:
    proxies = [FaultProxy(lh, lp, uh, up) for (lh, lp), (uh, up) in routes]
    for proxy in proxies:
        await proxy.start()
    control = ControlServer(proxies)
    control_port = None
    if args.control_port is not None:
        control_port = await control.start(args.control_host, args.control_port)
    sys.stdout.write(
        json.dumps({"ports": [p.port for p in proxies], "control": control_port}) + "\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await control.stop()
    for proxy in proxies:
        await proxy.stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.listen) != len(args.upstream):
        parser.error("--listen and --upstream must come in pairs")
    routes = list(zip(args.listen, args.upstream, strict=True)) + list(args.map)
    if not routes:
        parser.error("nothing to proxy: give --listen/--upstream or --map")
    asyncio.run(_serve(routes, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

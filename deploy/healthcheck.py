"""Probe /healthz once; with --restart, restart the agent unit when only the agent is dead.

Exit status: 0 healthy, 1 unhealthy, 2 the monitor did not answer. Restarting is for a hung
agent: when the database is down a restart cannot help, so it is left alone (and logged).
Standard library only: it runs from a systemd timer (deploy/systemd/commcenter-watchdog.*).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any


def probe(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body); 503 answers carry a body too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (an http URL we were given)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--restart", metavar="UNIT", help="systemd unit of the agent to restart")
    args = parser.parse_args(argv)
    try:
        status, body = probe(args.url, args.timeout)
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {args.url} did not answer: {exc}", file=sys.stderr)
        return 2
    checks = body.get("checks", {})
    if status == 200:
        return 0
    failed = {name: check for name, check in checks.items() if not check.get("ok")}
    print(f"healthcheck: unhealthy: {json.dumps(failed or body)}", file=sys.stderr)
    agent_dead = "agent" in failed
    database_up = bool(checks.get("database", {}).get("ok"))
    if args.restart and agent_dead and database_up:
        print(f"healthcheck: restarting {args.restart}", file=sys.stderr)
        subprocess.run(["systemctl", "restart", args.restart], check=False)  # noqa: S603, S607
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The soak: the chaos harness (tests/chaos/harness.py) as a long run with more panels.

`scripts/bench --only soak` (or `python -m bench.soak`) runs 100 panels for 10 minutes of
faults by default, then the drain and the verdict, and writes bench/results/soak.json:
duration, panels, events, faults injected by kind, restarts, DB/Redis outages, lost,
duplicated, commands and their outcomes, the agent's peak RSS. Exit status 1 when a
guarantee broke. `--quick` is a 2-minute version for trying it out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .common import REPO, git_facts, machine_facts

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--panels", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=600.0, help="fault phase (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="30 panels, 90 s")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SOAK_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/3")
    )
    return parser


def harness_args(args: argparse.Namespace, workdir: Path, out: Path) -> list[str]:
    panels, seconds = (30, 90.0) if args.quick else (args.panels, args.seconds)
    # Rates scale with the run: about one proxy fault per 30 panel-seconds, an agent kill
    # every ~2 minutes, a database and a Redis outage every ~3 minutes.
    kills = max(2, int(seconds // 120))
    outages = max(1, int(seconds // 180))
    return [
        sys.executable, "-m", "tests.chaos.harness",
        "--panels", str(panels), "--seconds", str(seconds), "--seed", str(args.seed),
        "--events-per-second", "0.5", "--transactions", "50", "--interval", "1.0",
        "--fault-rate", str(round(panels / 30, 2)), "--panel-fault-rate", "0.5",
        "--command-rate", "1.0", "--kills", str(kills),
        "--db-outages", str(outages), "--redis-outages", str(outages), "--outage-seconds", "8",
        "--drain-timeout", "240",
        "--postgres-url", args.postgres_url, "--redis-url", args.redis_url,
        "--workdir", str(workdir), "--json-out", str(out),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        work = Path(folder)
        out = work / "result.json"
        command = harness_args(args, work / "run", out)
        print("soak:", " ".join(command[3:]), flush=True)
        run = subprocess.run(command, cwd=REPO, check=False, timeout=3 * 3600)
        if not out.exists():
            print(f"soak: the harness wrote no result (exit {run.returncode})", file=sys.stderr)
            return 2
        result = json.loads(out.read_text())
    document = {
        "benchmark": "soak",
        "started": started.isoformat(timespec="seconds"),
        "command": "scripts/bench --only soak" + (" --quick" if args.quick else ""),
        "machine": machine_facts(),
        "git": git_facts(),
        **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"soak results: {args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run fuzz targets in subprocesses and collect libFuzzer's figures.

`run_target` is shared by the CI smoke test (a few thousand inputs each) and the recorded run
(`python -m tests.fuzz`, at least a million inputs in total, results in bench/results/fuzz.json).
Each target runs in its own process with a per-input time limit (-timeout), an RSS limit
(-rss_limit_mb) and a wall-clock cap; a crash, a timeout or an out-of-memory stops it and is
reported with the input that caused it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .support import REPO
from .targets import ALL_TARGETS, TARGETS

RESULTS = REPO / "bench" / "results" / "fuzz.json"
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/.* exec/s: (\d+)")
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)")


@dataclass(slots=True)
class TargetResult:
    name: str
    parser: str
    inputs: int = 0
    seconds: float = 0.0
    exec_per_second: float = 0.0  # inputs / wall seconds, process start-up included
    fuzzer_exec_per_second: int = 0  # libFuzzer's own figure (fuzzing loop only)
    coverage: int = 0  # libFuzzer "cov": instrumented Python branch edges reached
    features: int = 0  # libFuzzer "ft"
    corpus: int = 0  # inputs kept for new coverage
    peak_rss_mb: int = 0
    crashes: int = 0
    timeouts: int = 0
    ooms: int = 0
    exit_code: int = 0
    artifacts: list[str] = field(default_factory=list)
    error: str = ""  # the exception (or libFuzzer's complaint) when it failed

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.crashes or self.timeouts or self.ooms)


def run_target(
    name: str,
    runs: int,
    workdir: Path,
    *,
    timeout: int = 10,
    rss_limit_mb: int = 1024,
    max_seconds: int = 1800,
    seed: int = 1,
) -> TargetResult:
    """Fuzz *name* for *runs* inputs (seeds included) and return its figures."""
    target = ALL_TARGETS[name]
    corpus = workdir / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = workdir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        name,
        f"-runs={runs}",
        f"-timeout={timeout}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-max_total_time={max_seconds}",
        f"-seed={seed}",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{name}-",
        str(corpus),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    done = subprocess.run(  # our own interpreter and module
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=max_seconds + 120,
    )
    result = TargetResult(name=name, parser=target.parser)
    result.seconds = round(time.perf_counter() - started, 2)
    result.exit_code = done.returncode
    log = done.stdout + "\n" + done.stderr  # atheris prints the Python traceback on stdout
    _parse(log, result)
    result.exec_per_second = round(result.inputs / result.seconds, 1) if result.seconds else 0.0
    result.artifacts = sorted(str(p) for p in artifacts.glob(f"{name}-*"))
    if done.returncode and not result.error:
        result.error = log[-2000:]
    return result


def _parse(log: str, result: TargetResult) -> None:
    lines = log.splitlines()
    for line in lines:
        if status := _STATUS.match(line):
            result.coverage = int(status[2])
            result.features = int(status[3])
            result.corpus = int(status[4])
            result.fuzzer_exec_per_second = int(status[5])
        elif stat := _STAT.match(line):
            if stat[1] == "number_of_executed_units":
                result.inputs = int(stat[2])
            elif stat[1] == "peak_rss_mb":
                result.peak_rss_mb = int(stat[2])
    if "Uncaught Python exception" in log:
        result.crashes = 1
        start = next(i for i, line in enumerate(lines) if "Uncaught Python exception" in line)
        result.error = "\n".join(lines[start : start + 30])
    if "ALARM: working on the last Unit" in log or "libFuzzer: timeout" in log:
        result.timeouts = 1
        result.error = "per-input time limit exceeded"
    if "out-of-memory" in log:
        result.ooms = 1
        result.error = "RSS limit exceeded"
    if "ERROR: libFuzzer" in log and not (result.timeouts or result.ooms):
        result.crashes = 1  # also a deadly signal or an exit, not only a Python exception


def _commit() -> dict[str, object]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--total", type=int, default=1_200_000, help="inputs over all targets")
    parser.add_argument("--only", help="comma list of targets (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    parser.add_argument("--max-seconds", type=int, default=1800, help="wall-clock cap per target")
    parser.add_argument("--workdir", type=Path, help="keep corpora and artifacts here")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(TARGETS)
    weights = sum(TARGETS[name].weight for name in names)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="zkfuzz-"))
    started = datetime.now(UTC)
    results = []
    for name in names:
        runs = int(args.total * TARGETS[name].weight / weights)
        result = run_target(
            name,
            runs,
            workdir,
            timeout=args.timeout,
            rss_limit_mb=args.rss_limit_mb,
            max_seconds=args.max_seconds,
        )
        results.append(result)
        print(
            f"{name:15} {result.inputs:>9,} inputs {result.exec_per_second:>8,.0f}/s "
            f"cov {result.coverage:>4} ft {result.features:>5} rss {result.peak_rss_mb:>4} MB "
            f"crashes {result.crashes} timeouts {result.timeouts} ooms {result.ooms}",
            flush=True,
        )
    report = {
        "date": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        **_commit(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "engine": "atheris (libFuzzer), Python bytecode edge coverage",
        "limits": {
            "timeout_seconds_per_input": args.timeout,
            "rss_limit_mb": args.rss_limit_mb,
            "max_seconds_per_target": args.max_seconds,
        },
        "totals": {
            "inputs": sum(r.inputs for r in results),
            "crashes": sum(r.crashes for r in results),
            "timeouts": sum(r.timeouts for r in results),
            "ooms": sum(r.ooms for r in results),
            "peak_rss_mb": max((r.peak_rss_mb for r in results), default=0),
        },
        "targets": [asdict(r) for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"total {sum(r.inputs for r in results):,} inputs; results in {args.out}")
    return 0 if all(r.ok for r in results) else 1

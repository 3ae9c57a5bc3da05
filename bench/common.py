"""Shared pieces of the benchmark suite: figures, machine facts, subprocesses, /proc, Prometheus.

Nothing here imports Django: the orchestrating process stays small and every database-backed
measurement runs in its own worker process (`bench.worker`), configured by its environment.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench"


# -- figures ----------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One reported number: the median of its repetitions, with its unit and samples."""

    key: str
    section: str
    label: str
    unit: str
    samples: list[float]
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = self.value
        data["median"] = self.value
        data["repetitions"] = len(self.samples)
        data["min"] = min(self.samples) if self.samples else None
        data["max"] = max(self.samples) if self.samples else None
        return data


class Results:
    """Every figure of one run, in the order measured."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.sections: dict[str, Any] = {}  # per-section detail (fleet steps, profiles, errors)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def get(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)


def ratio(numerator: Figure | None, denominator: Figure | None) -> float | None:
    """numerator / denominator of the medians, None when either is missing or zero."""
    if numerator is None or denominator is None or not denominator.value:
        return None
    return numerator.value / denominator.value


def fmt(value: float | None) -> str:
    """A number with three significant digits (thousands separated)."""
    if value is None or math.isnan(value):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# -- machine facts -------------------------------------------------------------------------------
def machine_facts() -> dict[str, Any]:
    """CPU model and counts from /proc/cpuinfo and nproc, memory from /proc/meminfo."""
    cpuinfo = _read("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    mhz = [
        line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("cpu MHz")
    ]
    meminfo = {
        line.split(":")[0]: line.split(":")[1].strip()
        for line in _read("/proc/meminfo").splitlines()
        if ":" in line
    }
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    total_kb = int(meminfo.get("MemTotal", "0 kB").split()[0])
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cpu_mhz": mhz[0] if mhz else None,
        "processors_in_cpuinfo": len(models),
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "mem_total_kb": total_kb,
        "mem_total_gib": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def python_facts() -> dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def git_facts() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    # Not git(): its strip() would eat the leading status blank of the first " M path" line.
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout
    return {
        "commit": git("rev-parse", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status.strip()),
        "dirty_files": [line[3:] for line in status.splitlines()][:50],
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# -- /proc ----------------------------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of *pid* (all its threads) from /proc/<pid>/stat, in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def proc_rss_kb(pid: int) -> int:
    """VmRSS of *pid* from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- ports ------------------------------------------------------------------------------------------
def free_port_block(count: int, start: int = 20_000, stop: int = 32_000) -> int:
    """The first port P with P..P+count-1 all free on 127.0.0.1 (below the ephemeral range)."""
    base = start
    while base + count <= stop:
        for offset in range(count):
            if not _port_free(base + offset):
                base += offset + 1
                break
        else:
            return base
    raise RuntimeError(f"no block of {count} free ports in {start}..{stop}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- subprocesses -------------------------------------------------------------------------------
def base_env(**extra: str) -> dict[str, str]:
    """The environment of every child: UTC clocks, the repo importable, quiet logging."""
    env = dict(os.environ)
    env.update(
        TZ="UTC",
        TZ_NAME="UTC",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "zkeco_modern")]),
        DJANGO_SETTINGS_MODULE="zkeco_modern.settings",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def raise_file_limit() -> None:
    """Lift the soft open-files limit to the hard one (thousands of panel sockets)."""
    import resource  # noqa: PLC0415 POSIX only, and only needed in children

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Child:
    """A child process whose stdout lines are collected by a thread (wait for one with `expect`)."""

    def __init__(
        self, argv: Sequence[str], *, env: dict[str, str] | None = None, name: str = ""
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(argv[1] if len(argv) > 1 else argv[0]).name
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env=env or base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=raise_file_limit,  # noqa: PLW1509 no threads in the child before exec
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, needle: str, timeout: float) -> str:
        """Wait for a stdout line containing *needle*; RuntimeError on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"{self.name}: no {needle!r} within {timeout}s; output: {self.tail()}"
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.proc.wait()}): {self.tail()}")
            if needle in line:
                return line

    def tail(self, lines: int = 15) -> str:
        return " | ".join(self.output[-lines:])

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait, SIGKILL if it hangs; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def simulator(
    panels: int, *args: str, base_port: int | None = None, timeout: float = 120.0
) -> Iterator[tuple[Child, int]]:
    """`python -m zkpull.simulator --panels N --base-port P ...` in its own process, ready."""
    port = base_port if base_port is not None else free_port_block(panels)
    argv = [
        PYTHON,
        "-m",
        "zkpull.simulator",
        "--panels",
        str(panels),
        "--base-port",
        str(port),
        *args,
    ]
    child = Child(argv, name="simulator")
    try:
        child.expect("listening on", timeout)
        yield child, port
    finally:
        child.stop()


def run_worker(
    task: str, args: dict[str, Any], *, env: dict[str, str] | None = None, timeout: float = 900.0
) -> dict[str, Any]:
    """Run `python -m bench.worker TASK JSON` in a fresh process; return its JSON result."""
    done = subprocess.run(
        [PYTHON, "-m", "bench.worker", task, json.dumps(args)],
        cwd=REPO,
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=raise_file_limit,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker {task} failed ({done.returncode}): {done.stderr[-3000:]}{done.stdout[-1000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- Prometheus text --------------------------------------------------------------------------------
def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name from the text exposition format (no escapes in our label values)."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        if rest:
            for item in rest.rstrip("}").split('",'):
                key, _, raw = item.partition("=")
                if key:
                    labels[key.strip(",")] = raw.strip('"')
        samples.setdefault(name, []).append((labels, float(value)))
    return samples


def histogram_buckets(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str
) -> dict[float, float]:
    """Cumulative bucket counts of histogram *name*, summed over every label set."""
    buckets: dict[float, float] = {}
    for labels, value in samples.get(f"{name}_bucket", []):
        bound = float(labels["le"])  # "+Inf" parses as inf
        buckets[bound] = buckets.get(bound, 0.0) + value
    return dict(sorted(buckets.items()))


def bucket_delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound  # beyond the last finite bucket: its bound (a lower limit)
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return bounds[-1]


def fraction_at_most(bound: float, buckets: dict[float, float]) -> float | None:
    """Share of observations <= *bound* (exact when *bound* is a bucket boundary)."""
    total = buckets.get(float("inf"))
    if not total:
        return None
    return buckets.get(bound, 0.0) / total


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of *values* by linear interpolation (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ControlChannel:
    """The simulator's line-based control channel (`--control-port`)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._file = self._sock.makefile("rwb")

    def send(self, line: str) -> str:
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        reply = self._file.readline().decode().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"simulator control {line!r}: {reply}")
        return reply

    def close(self) -> None:
        self._file.close()
        self._sock.close()

"""Fleet: how many simulated panels one `run_commcenter` process keeps at a 1-second interval.

Per fleet size N: a dedicated SQLite file (copied from a migrated template) with N Device rows,
`python -m zkpull.simulator --panels N --base-port P` in its own process (0.1 events/s per
panel, ground truth and control channel on), and `manage.py run_commcenter --interval 1.0
--metrics` in another. Once every panel is online: WINDOWS measurement windows, each reading
the agent's `commcenter_cycle_lag_seconds` and `commcenter_poll_duration_seconds` histograms
(deltas over the window), its utime+stime (/proc/<pid>/stat) and VmRSS (/proc/<pid>/status).
During the windows the bench emits probe events through the control channel at known wall
times; event-to-database latency = DeviceEventLog.created_at - that wall time. The steps stop
at the first size that misses p99 lag < 1 s, or when the time budget would run out.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import databases
from .common import (
    PYTHON,
    REPO,
    Child,
    ControlChannel,
    Figure,
    Results,
    base_env,
    bucket_delta,
    fraction_at_most,
    free_port,
    free_port_block,
    histogram_buckets,
    histogram_quantile,
    parse_prometheus,
    percentile,
    proc_cpu_seconds,
    proc_rss_kb,
    run_worker,
)

SIZES = (100, 250, 500, 1000, 2000, 3000, 4000, 5000)
EVENTS_PER_SECOND = 0.1  # per panel
WINDOWS = 3
WINDOW_SECONDS = 15.0
SETTLE_SECONDS = 5.0
# What the lag windows and the waits read from /metrics (`?name[]=` filtered): a full scrape
# at 2,000 panels takes 2-4 s of the agent's GIL (the per-device poll histograms) and, taken
# every window, stalled the very cycles being measured (p99 lag 0.001 s with filtered scrapes
# only vs 0.9-6.6 s with a full scrape every 5 s, same agent, same minute). The per-device
# poll histogram is read once before and once after all windows, outside them, and the full
# scrape's duration is reported as a figure of its own.
LIGHT = (
    "commcenter_cycle_lag_seconds_bucket",
    "commcenter_cycle_lag_seconds_count",
    "commcenter_devices_online",
)
POLL = ("commcenter_poll_duration_seconds_bucket", "commcenter_poll_duration_seconds_count")
PROBES_PER_SECOND = 4.0
LAG_TARGET = 1.0
PROFILE_SECONDS = 10
STEADY_SHARE = 0.95  # cycles per second per panel that count as "keeping up"
STEADY_PROBE_SECONDS = 4.0


def run(
    results: Results,
    *,
    quick: bool,
    folder: Path,
    budget: float,
    sizes: Sequence[int] | None,
    profile: bool,
) -> None:
    steps: list[dict[str, Any]] = []
    results.sections["fleet"] = {"steps": steps, "budget_seconds": budget}
    window = 5.0 if quick else WINDOW_SECONDS
    plan = list(sizes or ((20, 50) if quick else SIZES))
    databases.sqlite_template(folder)
    started = time.monotonic()
    last_cost = 0.0
    for index, panels in enumerate(plan):
        spent = time.monotonic() - started
        previous = plan[index - 1] if index else panels
        estimate = last_cost * panels / previous if last_cost else 60.0
        if spent + estimate > budget:
            results.sections["fleet"]["stopped"] = (
                f"time budget: {panels} panels would need about {estimate:.0f} s more ({spent:.0f} of {budget:.0f} s spent)"
            )
            break
        step_started = time.monotonic()
        last_step = index == len(plan) - 1
        step = _step(panels, folder, window, profile=profile, profile_agent=profile and last_step)
        last_cost = time.monotonic() - step_started
        step["seconds"] = last_cost
        steps.append(step)
        if not step["passed"]:
            results.sections["fleet"]["stopped"] = (
                f"{panels} panels missed the target: {step['verdict']}"
            )
            break
    else:
        results.sections["fleet"].setdefault("stopped", "every planned size passed")
    _refine(
        steps,
        folder=folder,
        window=window,
        left=budget - (time.monotonic() - started),
        cost=last_cost,
    )
    _figures(results, steps)


def _refine(
    steps: list[dict[str, Any]],
    *,
    folder: Path,
    window: float,
    left: float,
    cost: float,
) -> None:
    """One more step halfway between the largest passing and the first failing size."""
    passed = [s["panels"] for s in steps if s["passed"]]
    failed = [s["panels"] for s in steps if not s["passed"]]
    if not passed or not failed or left < cost:
        return
    middle = (max(passed) + min(failed)) // 2 // 25 * 25
    if max(passed) < middle < min(failed):
        step = _step(middle, folder, window, profile=False, profile_agent=False)
        step["refinement"] = True
        steps.append(step)
        steps.sort(key=lambda s: s["panels"])


# -- one fleet size -------------------------------------------------------------------------------
def _step(  # noqa: PLR0915 one fleet size from start to stop, in order
    panels: int,
    folder: Path,
    window: float,
    *,
    profile: bool,
    profile_agent: bool,
    windows: int = WINDOWS,
) -> dict[str, Any]:
    url = databases.fresh_sqlite(folder, f"fleet-{panels}.sqlite3")
    env = base_env(DATABASE_URL=url, ZKAGENT_DOWNLOAD_HOURS="0")
    base = free_port_block(panels)
    control_port, metrics_port = free_port(), free_port()
    truth = folder / f"fleet-{panels}-truth.jsonl"
    devices = run_worker("register", {"panels": panels, "base_port": base}, env=env)[
        "device_by_port"
    ]
    step: dict[str, Any] = {
        "panels": panels,
        "base_port": base,
        "windows": [],
        "profile_wanted": profile,
    }
    sim_argv = [
        PYTHON, "-m", "zkpull.simulator", "--panels", str(panels), "--base-port", str(base),
        "--events-per-second", str(EVENTS_PER_SECOND), "--ground-truth", str(truth),
        "--control-port", str(control_port), "--seed", "11",
    ]  # fmt: skip
    agent_argv = [
        PYTHON, "zkeco_modern/manage.py", "run_commcenter", "--interval", "1.0", "--metrics",
        "--metrics-port", str(metrics_port), "--log-level", "WARNING", "--agent-id", "bench",
    ]  # fmt: skip
    sim = Child(sim_argv, name="simulator")
    agent: Child | None = None
    probes: list[dict[str, Any]] = []
    try:
        sim.expect("listening on", 60 + panels / 20)
        control = ControlChannel(control_port)
        started = time.monotonic()
        agent = Child(agent_argv, env=env, name="run_commcenter")
        online = _wait_online(agent, metrics_port, panels, timeout=90 + panels * 0.04)
        step["online_seconds"] = time.monotonic() - started
        step["online_at_start"] = online
        # Online is not steady: the connect-time status and fact writes queue on the one DB
        # thread, and sessions wait for them. Measure once the cycle rate has caught up.
        rate, steady = _wait_steady(agent, metrics_port, panels, timeout=60 + panels * 0.03)
        step["steady"], step["steady_cycles_per_second"] = steady, rate
        step["warmup_seconds"] = time.monotonic() - started
        scrape_started = time.monotonic()
        _scrape(metrics_port)  # the full scrape, timed; its stall passes during the settle
        step["full_scrape_seconds"] = time.monotonic() - scrape_started
        polls_before = parse_prometheus(_scrape(metrics_port, *POLL))
        time.sleep(SETTLE_SECONDS)
        tail = _Tail(truth)
        tail.read()  # skip what is already there
        for _ in range(windows if steady else 1):  # not keeping up: one window shows how far
            step["windows"].append(
                _window(
                    agent,
                    sim,
                    metrics_port,
                    panels,
                    seconds=window,
                    control=control,
                    tail=tail,
                    base=base,
                    probes=probes,
                )
            )
        _poll_figures(step, polls_before, parse_prometheus(_scrape(metrics_port, *POLL)))
        _verdict(step, panels)
        if profile_agent or (step.pop("profile_wanted") and not step["passed"]):
            step["profile"] = _py_spy(agent.pid)
        time.sleep(2.5)  # the last probes: one poll interval plus the writer
        cutoff = (datetime.now(UTC) - timedelta(seconds=2)).replace(tzinfo=None, microsecond=0)
        control.close()
    except RuntimeError as exc:
        step["error"] = str(exc)
        cutoff = datetime.now(UTC).replace(tzinfo=None)
    finally:
        stop_started = time.monotonic()
        if agent is not None:
            step["agent_exit"] = agent.stop(timeout=180)
            step["agent_stop_seconds"] = time.monotonic() - stop_started
            step["agent_log_tail"] = agent.output[-5:]
        sim.stop()
    if "error" not in step:
        check = run_worker(
            "fleet-check",
            {
                "device_by_port": devices,
                "probes": probes,
                "truth": str(truth),
                "cutoff": cutoff.isoformat(),
            },
            env=env,
        )
        step["latency"] = _latency(check.pop("latencies"))
        step["latency"]["missing_probes"] = check.pop("missing_probes")
        step["integrity"] = check
    truth.unlink(missing_ok=True)
    _verdict(step, panels)
    return step


def _wait_online(agent: Child, port: int, panels: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    online = 0
    while time.monotonic() < deadline:
        if agent.proc.poll() is not None:
            raise RuntimeError(f"run_commcenter exited: {agent.tail()}")
        try:
            samples = parse_prometheus(_scrape(port, *LIGHT))
        except OSError:
            time.sleep(1.0)
            continue
        online = int(sum(v for _, v in samples.get("commcenter_devices_online", [])))
        if online >= panels:
            return online
        time.sleep(2.0 if panels > 1000 else 1.0)
    raise RuntimeError(f"only {online} of {panels} panels online after {timeout:.0f} s")


def _wait_steady(agent: Child, port: int, panels: int, timeout: float) -> tuple[float, bool]:
    """Wait until the agent starts >= 95 % of N cycles per second: (last rate, reached)."""
    deadline = time.monotonic() + timeout
    rate = 0.0
    while time.monotonic() < deadline:
        if agent.proc.poll() is not None:
            raise RuntimeError(f"run_commcenter exited: {agent.tail()}")
        before, t0 = _cycles(port), time.monotonic()
        time.sleep(STEADY_PROBE_SECONDS)
        rate = (_cycles(port) - before) / (time.monotonic() - t0)
        if rate >= STEADY_SHARE * panels:
            return rate, True
    return rate, False


def _cycles(port: int) -> float:
    lag = histogram_buckets(parse_prometheus(_scrape(port, *LIGHT)), "commcenter_cycle_lag_seconds")
    return lag.get(float("inf"), 0.0)


def _window(
    agent: Child,
    sim: Child,
    port: int,
    panels: int,
    *,
    seconds: float,
    control: ControlChannel,
    tail: _Tail,
    base: int,
    probes: list[dict[str, Any]],
) -> dict[str, Any]:
    before = parse_prometheus(_scrape(port, *LIGHT))
    cpu0, sim0, t0 = proc_cpu_seconds(agent.pid), proc_cpu_seconds(sim.proc.pid), time.monotonic()
    rng = random.Random(panels)
    next_probe = t0
    while (now := time.monotonic()) < t0 + seconds:
        if now < next_probe:
            time.sleep(min(next_probe - now, t0 + seconds - now))
            continue
        next_probe += 1.0 / PROBES_PER_SECOND
        index = rng.randrange(panels)
        sent = time.time()
        control.send(f"generate {index} 1")
        wall = (sent + time.time()) / 2
        line = next((item for item in reversed(tail.read()) if item["port"] == base + index), None)
        if line is not None:
            probes.append({**line, "wall": wall})
    elapsed = time.monotonic() - t0
    cpu, sim_cpu = proc_cpu_seconds(agent.pid) - cpu0, proc_cpu_seconds(sim.proc.pid) - sim0
    after = parse_prometheus(_scrape(port, *LIGHT))
    lag = bucket_delta(
        histogram_buckets(after, "commcenter_cycle_lag_seconds"),
        histogram_buckets(before, "commcenter_cycle_lag_seconds"),
    )
    cycles = lag.get(float("inf"), 0.0)
    online = int(sum(v for _, v in after.get("commcenter_devices_online", [])))
    rss = proc_rss_kb(agent.pid)
    return {
        "seconds": elapsed,
        "online": online,
        "cycles_per_second": cycles / elapsed,
        "lag_p50": histogram_quantile(0.5, lag),
        "lag_p99": histogram_quantile(0.99, lag),
        "lag_share_within_1s": fraction_at_most(LAG_TARGET, lag),
        "poll_p50": None,  # over all windows: _poll_figures
        "poll_p99": None,
        "agent_cpu_cores": cpu / elapsed,
        "agent_cpu_ms_per_panel_second": cpu / elapsed / panels * 1000,
        "simulator_cpu_cores": sim_cpu / elapsed,
        "agent_rss_kb": rss,
        "agent_rss_kb_per_panel": rss / panels,
        "simulator_rss_kb": proc_rss_kb(sim.proc.pid),
    }


def _verdict(step: dict[str, Any], panels: int) -> None:
    windows = step["windows"]
    if "error" in step or not windows:
        step["passed"], step["verdict"] = False, step.get("error", "no measurement window")
        return
    share = statistics.median(w["lag_share_within_1s"] or 0.0 for w in windows)
    p99 = statistics.median(w["lag_p99"] or 0.0 for w in windows)
    cycles = statistics.median(w["cycles_per_second"] for w in windows)
    online = min(w["online"] for w in windows)
    step["lag_p99"], step["lag_share_within_1s"], step["cycles_per_second"] = p99, share, cycles
    problems = []
    if share < 0.99:
        problems.append(
            f"only {share:.1%} of cycles started within 1 s of schedule (p99 lag {p99:.2f} s)"
        )
    if online < panels:
        problems.append(f"{panels - online} panels offline")
    if cycles < STEADY_SHARE * panels:
        problems.append(
            f"{cycles:.0f} cycles/s for {panels} panels (each panel polled every {panels / max(cycles, 1e-9):.1f} s)"
        )
    step["passed"] = not problems
    step["verdict"] = "; ".join(problems) or f"p99 lag {p99:.3f} s, {share:.2%} within 1 s"


def _latency(values: list[float]) -> dict[str, Any]:
    return {
        "probes": len(values),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
    }


# -- results ----------------------------------------------------------------------------------------
def _figures(results: Results, steps: list[dict[str, Any]]) -> None:
    passed = [s for s in steps if s["passed"]]
    best = max(passed, key=lambda s: s["panels"]) if passed else None
    largest = float(best["panels"]) if best else 0.0
    met = largest >= 2000
    results.add(
        Figure(
            "fleet.max_panels",
            "fleet",
            "largest fleet at a 1 s interval with p99 cycle lag < 1 s",
            "panels",
            [largest],
            target=">= 2,000 panels",
            met=met,
            note="; ".join(
                f"{s['panels']}: {'ok' if s['passed'] else 'FAIL'} ({s['verdict']})" for s in steps
            ),
            extra={"stopped": results.sections["fleet"].get("stopped")},
        )
    )
    for step in steps:
        windows = step["windows"]
        if not windows:
            continue
        n = step["panels"]
        section = f"fleet.{n}"

        def add(key: str, label: str, unit: str, values: list[float], **options: Any) -> None:
            results.add(
                Figure(f"{section}.{key}", "fleet", f"{n} panels: {label}", unit, values, **options)  # noqa: B023 called at once
            )

        add(
            "lag_p99_s",
            "p99 cycle lag",
            "s",
            [w["lag_p99"] or 0.0 for w in windows],
            target="< 1 s",
            met=statistics.median(w["lag_p99"] or 0.0 for w in windows) < LAG_TARGET,
            note="the agent's metric: how late a cycle started after the previous one ended",
        )
        add(
            "poll_p99_ms",
            "p99 poll duration",
            "ms",
            [(w["poll_p99"] or 0.0) * 1000 for w in windows],
            note="over all windows together (one pair of filtered scrapes around them)",
        )
        if "full_scrape_seconds" in step:
            add(
                "full_scrape_s",
                "one full /metrics scrape",
                "s",
                [step["full_scrape_seconds"]],
                note="taken before the settle pause, not inside a window: the per-device histograms make it O(panels) and it holds the agent's GIL meanwhile",
            )
        add(
            "cpu_ms_per_panel_s",
            "agent CPU per panel",
            "ms CPU/s",
            [w["agent_cpu_ms_per_panel_second"] for w in windows],
        )
        add("agent_cores", "agent CPU", "cores", [w["agent_cpu_cores"] for w in windows])
        add(
            "simulator_cores",
            "simulator CPU (separate process)",
            "cores",
            [w["simulator_cpu_cores"] for w in windows],
        )
        add(
            "rss_kb_per_panel",
            "agent RSS per panel (VmRSS / N, base included)",
            "KiB",
            [w["agent_rss_kb_per_panel"] for w in windows],
        )
        add(
            "cycle_share",
            "cycles started per panel per second",
            "1/s",
            [w["cycles_per_second"] / n for w in windows],
            target=">= 0.95",
            met=statistics.median(w["cycles_per_second"] for w in windows) >= STEADY_SHARE * n,
            note="1.0 = every panel polled once a second; part of the pass rule with the lag",
        )
        latency = step.get("latency") or {}
        if latency.get("probes"):
            add(
                "event_to_db_p50_s",
                "event-to-database latency p50",
                "s",
                [latency["p50"]],
                note=f"{latency['probes']} probe events",
            )
            add("event_to_db_p99_s", "event-to-database latency p99", "s", [latency["p99"]])
    if len(passed) >= 2:
        first, last = passed[0], passed[-1]
        rss_first = statistics.median(w["agent_rss_kb"] for w in first["windows"])
        rss_last = statistics.median(w["agent_rss_kb"] for w in last["windows"])
        marginal = (rss_last - rss_first) / (last["panels"] - first["panels"])
        results.add(
            Figure(
                "fleet.rss_kb_marginal_per_panel",
                "fleet",
                f"agent RSS per added panel ({first['panels']} -> {last['panels']})",
                "KiB",
                [marginal],
                target="< 150 KB",
                met=marginal * 1.024 < 150,
                note="slope of VmRSS between the smallest and largest passing fleet",
            )
        )


# -- helpers ------------------------------------------------------------------------------------------
def _scrape(port: int, *samples: str) -> str:
    """The agent's /metrics; only the named samples if any (prometheus_client's `name[]`)."""
    query = "?" + "&".join(f"name[]={name}" for name in samples) if samples else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=60) as response:
        return str(response.read().decode())


def _poll_figures(step: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> None:
    """Poll-duration quantiles over all windows (one pair of scrapes around them)."""
    poll = bucket_delta(
        histogram_buckets(after, "commcenter_poll_duration_seconds"),
        histogram_buckets(before, "commcenter_poll_duration_seconds"),
    )
    for window in step["windows"]:
        window["poll_p50"] = histogram_quantile(0.5, poll)
        window["poll_p99"] = histogram_quantile(0.99, poll)


class _Tail:
    """New JSON lines of the simulator's ground-truth file since the last read."""

    def __init__(self, path: Path) -> None:
        self._path, self._offset, self._partial = path, 0, ""

    def read(self) -> list[dict[str, Any]]:
        with self._path.open(encoding="utf-8") as stream:
            stream.seek(self._offset)
            data = stream.read()
            self._offset = stream.tell()
        text = self._partial + data
        lines = text.split("\n")
        self._partial = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]


def _py_spy(pid: int) -> dict[str, Any]:
    """py-spy samples of the agent under load: the heaviest functions, own and inclusive."""
    out = Path(f"/tmp/bench-py-spy-{pid}.txt")  # noqa: S108 a scratch file named by pid
    done = subprocess.run(
        [
            str(Path(PYTHON).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(PROFILE_SECONDS),
            "--rate",
            "100",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=PROFILE_SECONDS + 60,
    )
    if done.returncode != 0 or not out.exists():
        return {"error": (done.stderr or done.stdout)[-500:]}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    out.unlink(missing_ok=True)

    def top(table: dict[str, int]) -> list[str]:
        ranked = sorted(table.items(), key=lambda item: -item[1])[:45]
        return [f"{count / total:6.1%}  {frame}" for frame, count in ranked]

    return {
        "samples": total,
        "own": top(own),
        "inclusive": top(inclusive),
        "seconds": PROFILE_SECONDS,
    }

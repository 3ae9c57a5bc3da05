"""Download: 100,000 transactions from one simulated panel; with persistence; zkaccess-c3's limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import databases
from .common import ControlChannel, Figure, Results, base_env, free_port, run_worker, simulator

TRANSACTIONS = 100_000
BATCH = 500  # ZKAGENT batch_size default: rows per writer job and per bulk insert
C3_PROBE_PANELS = 16
C3_UPPER = 2_000  # binary-search bound: far above one 5 KiB packet of transaction rows
C3_READS = 20


def run(
    results: Results, *, reps: int, quick: bool, folder: Path, profile: bool, pg_error: str | None
) -> None:
    count = 20_000 if quick else TRANSACTIONS
    detail: dict[str, Any] = results.sections.setdefault("download", {})
    with simulator(1, "--transactions", str(count), "--events-per-second", "0", "--seed", "7") as (
        _sim,
        port,
    ):
        ours = [run_worker("ours-download", {"port": port}) for _ in range(reps)]
        _check_counts(ours, count)
        results.add(
            Figure(
                "download.ours_seconds",
                "download",
                f"PanelClient.iter_transactions: pull {count:,} transactions",
                "s",
                [r["wall"] for r in ours],
                note="wall time from after CONNECT to the last row; simulator in its own process",
            )
        )
        results.add(
            Figure(
                "download.ours_cpu_seconds",
                "download",
                f"client CPU for the {count:,}-transaction pull",
                "s",
                [r["cpu"] for r in ours],
                note="time.process_time() of the client process",
            )
        )
        if profile:
            detail["ours_profile"] = run_worker("ours-download", {"port": port, "profile": True})[
                "profile"
            ]
        targets: list[tuple[str, str, str | None]] = [
            ("sqlite", databases.fresh_sqlite(folder, "download.sqlite3"), None),
            ("postgres", databases.postgres_url(), pg_error),
        ]
        for name, url, error in targets:
            _download_persist(
                results,
                detail,
                name=name,
                url=url,
                error=error,
                port=port,
                count=count,
                reps=reps,
                profile=profile,
            )
    _c3(results, detail, reps, quick)


def _download_persist(
    results: Results,
    detail: dict[str, Any],
    *,
    name: str,
    url: str,
    error: str | None,
    port: int,
    count: int,
    reps: int,
    profile: bool,
) -> None:
    key = f"download.persist_{name}_seconds"
    label = f"pull + decode + persist {count:,} transactions ({'SQLite' if name == 'sqlite' else 'PostgreSQL'})"
    target = "< 10 s end to end" if name == "postgres" else ""
    if error:
        results.add(
            Figure(key, "download", label, "s", [], target=target, note=f"skipped: {error}")
        )
        return
    env = base_env(DATABASE_URL=url)
    done = run_worker(
        "download-persist",
        {"port": port, "batch": BATCH, "reps": reps, "profile": profile},
        env=env,
    )
    samples = done["samples"]
    _check_counts([{"count": s["stored"]} for s in samples], count)
    walls = [s["wall"] for s in samples]
    met = None
    if name == "postgres":
        met = sorted(walls)[len(walls) // 2] < 10.0 * count / TRANSACTIONS
    results.add(
        Figure(
            key,
            "download",
            label,
            "s",
            walls,
            target=target,
            met=met,
            note=f"agent write path: WriteJobs of {BATCH} -> PersistenceWriter (the jobs queued meanwhile in one transaction, as ModernCommCenter) -> DbThread -> write_events_detailed(batch_size={BATCH}), stored while the next rows are read; pull finished after a median {sorted(s['pulled_at'] for s in samples)[len(samples) // 2]:.2f} s",
        )
    )
    results.add(
        Figure(
            f"download.persist_{name}_cpu_seconds",
            "download",
            f"client CPU of that pull + persist ({name})",
            "s",
            [s["cpu"] for s in samples],
            note="every thread of the client process (asyncio loop and the DB thread)"
            + (
                "; SQLite itself runs in-process"
                if name == "sqlite"
                else "; PostgreSQL server CPU not included"
            ),
        )
    )
    if "profile" in done:
        detail[f"persist_{name}_profile_main_thread"] = done["profile"]


def _c3(results: Results, detail: dict[str, Any], reps: int, quick: bool) -> None:
    control_port = free_port()
    args = ("--events-per-second", "0", "--transactions", "0", "--control-port", str(control_port))
    with simulator(C3_PROBE_PANELS, *args) as (_sim, base):
        control = ControlChannel(control_port)
        probes: list[dict[str, Any]] = []
        panel = 0

        def works(size: int) -> bool:
            nonlocal panel
            index, panel = panel, panel + 1
            if index >= C3_PROBE_PANELS:
                raise RuntimeError("binary search needs more probe panels")
            control.send(f"generate {index} {size}")
            outcome = run_worker("c3-table-read", {"port": base + index, "reads": 1})
            ok = bool(outcome["ok"]) and outcome["counts"] == [size]
            probes.append({"size": size, "panel": index, "ok": ok, "error": outcome.get("error")})
            return ok

        low, high = 1, C3_UPPER
        if not works(low):
            raise RuntimeError("zkaccess-c3 cannot read even one transaction")
        if works(high):
            low = high  # never failed below the bound
        else:
            while high - low > 1:
                middle = (low + high) // 2
                if works(middle):
                    low = middle
                else:
                    high = middle
        detail["c3_probes"] = probes
        failure = next((p["error"] for p in probes if not p["ok"]), None)
        results.add(
            Figure(
                "download.c3_largest_table_rows",
                "download",
                "zkaccess-c3: largest transaction table it reads",
                "rows",
                [float(low)],
                note=(
                    f"fails from {high} rows ({failure}); binary search over generated table sizes 1..{C3_UPPER}"
                    if low < C3_UPPER
                    else f"never failed up to {C3_UPPER} rows"
                ),
                extra={"first_failing_rows": high if low < C3_UPPER else None, "probes": probes},
            )
        )
        # Per-record time where it works: both clients read the same largest readable table.
        working = next(p["panel"] for p in reversed(probes) if p["ok"] and p["size"] == low)
        control.close()
        reads = 5 if quick else C3_READS
        per_record: dict[str, list[float]] = {"ours": [], "c3": [], "ours_cpu": [], "c3_cpu": []}
        for _ in range(reps):
            c3 = run_worker("c3-table-read", {"port": base + working, "reads": reads})
            ours = run_worker("ours-table-read", {"port": base + working, "reads": reads})
            if not c3["ok"]:
                raise RuntimeError(f"zkaccess-c3 failed on a table it read before: {c3['error']}")
            per_record["c3"].append(_median(c3["walls"]) / low * 1e6)
            per_record["ours"].append(_median(ours["walls"]) / low * 1e6)
            per_record["c3_cpu"].append(_median(c3["cpus"]) / low * 1e6)
            per_record["ours_cpu"].append(_median(ours["cpus"]) / low * 1e6)
        for who, name in (("c3", "zkaccess-c3"), ("ours", "PanelClient")):
            results.add(
                Figure(
                    f"download.{who}_us_per_record",
                    "download",
                    f"{name}: time per record, {low}-row table",
                    "µs/record",
                    per_record[who],
                    note=f"median of {reads} reads per repetition, same simulated panel",
                )
            )
            results.add(
                Figure(
                    f"download.{who}_cpu_us_per_record",
                    "download",
                    f"{name}: client CPU per record, {low}-row table",
                    "µs/record",
                    per_record[f"{who}_cpu"],
                )
            )


def _check_counts(runs: list[dict[str, Any]], count: int) -> None:
    for item in runs:
        if item["count"] != count:
            raise RuntimeError(f"pulled {item['count']} transactions, expected {count}")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]

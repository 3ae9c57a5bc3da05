"""Persistence: events/s through persistence.write_events_detailed into SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import databases
from .common import Figure, Results, base_env, run_worker

EVENTS = 50_000
BATCHES = (500, 1000)
SMALL_JOBS = 300


def run(
    results: Results, *, reps: int, quick: bool, folder: Path, profile: bool, pg_error: str | None
) -> None:
    count = 10_000 if quick else EVENTS
    detail: dict[str, Any] = results.sections.setdefault("persistence", {})
    for name, title in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        for batch in BATCHES:
            key = f"persist.{name}_{batch}_events_per_s"
            label = f"write_events_detailed into {title}, batches of {batch}"
            target = ">= 20,000 events/s" if name == "postgres" else ""
            if name == "postgres" and pg_error:
                results.add(
                    Figure(
                        key,
                        "persistence",
                        label,
                        "events/s",
                        [],
                        target=target,
                        note=f"skipped: {pg_error}",
                    )
                )
                continue
            url = (
                databases.fresh_sqlite(folder, "persist.sqlite3")
                if name == "sqlite"
                else databases.postgres_url()
            )
            wants_profile = profile and batch == BATCHES[0]
            done = run_worker(
                "persist",
                {"count": count, "batch": batch, "reps": reps, "profile": wants_profile},
                env=base_env(DATABASE_URL=url),
            )
            samples = done["samples"]
            if any(s["stored"] != count for s in samples):
                raise RuntimeError(f"stored {[s['stored'] for s in samples]} of {count} events")
            rates = [count / s["wall"] for s in samples]
            median = sorted(rates)[len(rates) // 2]
            results.add(
                Figure(
                    key,
                    "persistence",
                    label,
                    "events/s",
                    rates,
                    target=target,
                    met=(median >= 20_000) if name == "postgres" else None,
                    note=f"{count:,} new events per repetition, one call per batch into an empty table; client CPU {sorted(s['cpu'] for s in samples)[len(samples) // 2] / count * 1e6:.0f} µs/event",
                    extra={"cpu_us_per_event": [s["cpu"] / count * 1e6 for s in samples]},
                )
            )
            if "profile" in done:
                detail[f"{name}_{batch}_profile"] = done["profile"]
            if name == "postgres":
                _what_if(results, count, batch, reps, url)
    _small_jobs(results, reps, folder, pg_error)


def _small_jobs(results: Results, reps: int, folder: Path, pg_error: str | None) -> None:
    """The real-time path: one event per write_events_detailed call (a poll that found one)."""
    for name, title in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        if name == "postgres" and pg_error:
            continue
        url = (
            databases.fresh_sqlite(folder, "jobs.sqlite3")
            if name == "sqlite"
            else databases.postgres_url()
        )
        done = run_worker(
            "persist",
            {"count": SMALL_JOBS, "batch": 1, "reps": reps},
            env=base_env(DATABASE_URL=url),
        )
        results.add(
            Figure(
                f"persist.{name}_single_event_calls_per_s",
                "persistence",
                f"write_events_detailed calls/s into {title}, one event each (the rt path)",
                "calls/s",
                [SMALL_JOBS / s["wall"] for s in done["samples"]],
                note="each call: the connection health check (CONN_HEALTH_CHECKS), the device zone query, one INSERT ... ON CONFLICT DO NOTHING, commit",
            )
        )


def _what_if(results: Results, count: int, batch: int, reps: int, url: str) -> None:
    """The suggested agent change, measured: same rows via COPY + INSERT ... ON CONFLICT."""
    done = run_worker(
        "persist-copy",
        {"count": count, "batch": batch, "reps": reps},
        env=base_env(DATABASE_URL=url),
    )
    samples = done["samples"]
    if any(s["stored"] != count for s in samples):
        raise RuntimeError(f"what-if stored {[s['stored'] for s in samples]} of {count} events")
    results.add(
        Figure(
            f"persist.postgres_{batch}_copy_whatif_events_per_s",
            "persistence",
            f"reference, not the agent: event_fields() + text COPY + ON CONFLICT, batches of {batch}",
            "events/s",
            [count / s["wall"] for s in samples],
            note=f"bench.worker.persist_copy (the agent now does this itself, in binary COPY through a staging table); client CPU {sorted(s['cpu'] for s in samples)[len(samples) // 2] / count * 1e6:.0f} µs/event",
        )
    )

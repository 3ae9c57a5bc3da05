"""`python -m bench`: run the benchmark suite, print the table, write bench/results/latest.json.

Sections (`--only` picks some): codec, download, fleet, persistence, polls. Every figure is
the median of `--reps` repetitions (>= 3); comparisons are ratios of figures measured in the
same run. The simulator always runs in its own process, and so does every measured client.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import codec, databases, download, fleet, persist, polls, soak
from .common import Figure, Results, fmt, git_facts, machine_facts, python_facts, ratio

SECTIONS = ("codec", "download", "fleet", "persistence", "polls")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--reps", type=int, default=3, help="repetitions per figure (default 3, at least 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller inputs, for trying the suite out"
    )
    parser.add_argument(
        "--fleet-sizes", help="comma list of fleet sizes (default 100,250,...,5000)"
    )
    parser.add_argument(
        "--fleet-budget",
        type=float,
        default=900.0,
        help="seconds for the fleet steps (default 900)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiling runs")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "latest.json", help="results file"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    if sections == ["soak"]:  # the long chaos run: its own results file (bench/soak.py)
        return soak.main(["--quick"] if args.quick else [])
    if sections == ["fuzz"]:  # the recorded fuzz run: bench/results/fuzz.json (bench/fuzz.py)
        from . import fuzz  # noqa: PLC0415  # imports the test harnesses

        return fuzz.main(["--quick"] if args.quick else [])
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.reps < 3 and not args.quick:
        print("--reps must be at least 3 (medians of three or more)", file=sys.stderr)
        return 2
    results = Results()
    load_before = _loadavg()
    started = datetime.now(UTC)
    clock = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="zkbench-"))
    errors: dict[str, str] = {}
    profile = not args.no_profile
    pg_url = databases.postgres_url()
    pg_error = _postgres(pg_url) if {"download", "persistence"} & set(sections) else None
    timings: dict[str, float] = {}
    try:
        for section in sections:
            section_started = time.monotonic()
            print(f"== {section} ...", flush=True)
            try:
                if section == "codec":
                    codec.run(results, args.reps, args.quick)
                elif section == "download":
                    download.run(
                        results,
                        reps=args.reps,
                        quick=args.quick,
                        folder=folder,
                        profile=profile,
                        pg_error=pg_error,
                    )
                elif section == "fleet":
                    sizes = (
                        [int(s) for s in args.fleet_sizes.split(",")] if args.fleet_sizes else None
                    )
                    fleet.run(
                        results,
                        quick=args.quick,
                        folder=folder,
                        budget=args.fleet_budget,
                        sizes=sizes,
                        profile=profile,
                    )
                elif section == "persistence":
                    persist.run(
                        results,
                        reps=args.reps,
                        quick=args.quick,
                        folder=folder,
                        profile=profile,
                        pg_error=pg_error,
                    )
                elif section == "polls":
                    polls.run(results, args.reps, args.quick, profile)
            except Exception as exc:  # one broken section must not lose the others' figures
                errors[section] = "".join(traceback.format_exception(exc))[-4000:]
                print(f"   {section} failed: {exc}", flush=True)
            timings[section] = time.monotonic() - section_started
            print(f"   {section} took {timings[section]:.0f} s", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _ratios(results)
    document = _document(
        args,
        argv,
        results,
        started,
        clock,
        load_before,
        sections,
        pg_url,
        pg_error,
        timings,
        errors,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print()
    print(table(results, document))
    print(f"\nresults: {args.out}")
    return 1 if errors else 0


def _document(  # noqa: PLR0917 one call site, every part of the results file
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    results: Results,
    started: datetime,
    clock: float,
    load_before: str,
    sections: list[str],
    pg_url: str,
    pg_error: str | None,
    timings: dict[str, float],
    errors: dict[str, str],
) -> dict[str, Any]:
    return {
        "schema": 1,
        "date": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(time.monotonic() - clock, 1),
        "command": "scripts/bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "options": {
            "reps": args.reps,
            "quick": args.quick,
            "sections": sections,
            "profile": not args.no_profile,
        },
        "machine": machine_facts(),
        "python": python_facts(),
        "git": git_facts(),
        "postgres": {"url": pg_url.rpartition("@")[2], "error": pg_error},
        "section_seconds": timings,
        "loadavg": {"before": load_before, "after": _loadavg()},
        "figures": [f.as_json() for f in results.figures],
        "details": results.sections,
        "errors": errors,
    }


def _postgres(url: str) -> str | None:
    """Create and migrate the bench database; why it is unusable, or None."""
    error = databases.ensure_postgres(url)
    if error is None:
        try:
            databases.migrate(url)
        except RuntimeError as exc:
            error = str(exc)
    return error


def _loadavg() -> str:
    """/proc/loadavg: other work on this 2-core machine shows in the figures' spread."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return ""


def _ratios(results: Results) -> None:
    """Comparisons measured in this run, as figures of their own."""
    pairs = [
        (
            "ratio.download_us_per_record",
            "per-record read time, zkaccess-c3 / ours (same table)",
            "download.c3_us_per_record",
            "download.ours_us_per_record",
        ),
        (
            "ratio.download_cpu_per_record",
            "per-record client CPU, zkaccess-c3 / ours",
            "download.c3_cpu_us_per_record",
            "download.ours_cpu_us_per_record",
        ),
        (
            "ratio.crc16",
            "CRC-16 throughput, ours / zkaccess-c3",
            "codec.crc16_mb_per_s",
            "codec.c3_crc16_mb_per_s",
        ),
        (
            "ratio.poll_wall",
            "poll round trip, ours / zkaccess-c3",
            "polls.ours_wall_us",
            "polls.c3_wall_us",
        ),
        (
            "ratio.persist_sqlite_pg",
            "download+persist time, PostgreSQL / SQLite",
            "download.persist_postgres_seconds",
            "download.persist_sqlite_seconds",
        ),
    ]
    for key, label, top, bottom in pairs:
        value = ratio(results.get(top), results.get(bottom))
        if value is not None:
            results.add(
                Figure(key, "ratios", label, "ratio", [value], note=f"{top} / {bottom} (medians)")
            )


def table(results: Results, document: dict[str, Any]) -> str:
    machine = document["machine"]
    head = (
        f"Modern CommCenter benchmarks, {document['date']}, commit {document['git']['commit'][:10]}"
        f"{' (dirty)' if document['git']['dirty'] else ''}\n"
        f"{machine['cpu_model']}, {machine['nproc']} cores, {machine['mem_total_gib']} GiB, "
        f"Python {document['python']['version']}"
    )
    rows = [("figure", "median", "unit", "reps", "target", "")]
    for figure in results.figures:
        status = "" if figure.met is None else ("met" if figure.met else "MISSED")
        value = fmt(figure.value) if figure.samples else "skipped"
        rows.append(
            (figure.label, value, figure.unit, str(len(figure.samples)), figure.target, status)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1])] + [
            c.ljust(w) for c, w in zip(row[2:], widths[2:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    if document["errors"]:
        lines.append("")
        lines.extend(
            f"section {name} FAILED: {text.strip().splitlines()[-1]}"
            for name, text in document["errors"].items()
        )
    return "\n".join(lines)

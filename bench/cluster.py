"""`scripts/bench --only cluster`: several agents on one Redis; results in bench/results/cluster.json.

The multi-agent scenario of tests/cluster/test_multi_agent.py (real processes: three
`run_commcenter --cluster` agents, a simulator process, PostgreSQL, Redis), here with the
production lease (15 s) and a larger fleet: panels per agent, the time from a lease expiring
to its panels being served again after a SIGKILL and after a Redis partition, the join and
heal rebalancing times, and the loss/duplicate counts against the simulator's ground truth.
`--quick` uses 60 panels and a 6 s lease (the test's setting).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import git_facts, machine_facts, python_facts

RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"


def main(argv: Sequence[str] = ()) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")
    repo = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(repo / "zkeco_modern"), str(repo / "src")]
    import django  # noqa: PLC0415

    django.setup()
    from tests.cluster import test_multi_agent as scenario  # noqa: PLC0415
    from tests.cluster.rig import ClusterRig, postgres_unreachable, redis_unreachable  # noqa: PLC0415

    for reason in (postgres_unreachable(), redis_unreachable()):
        if reason:
            print(reason, file=sys.stderr)
            return 2
    quick = "--quick" in argv
    panels, lease = (60, 6.0) if quick else (120, 15.0)
    scenario.LEASE = lease  # the scenario's partition lasts 2.5 leases
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="zkbench-cluster-") as folder:
        rig = ClusterRig(Path(folder), panels=panels, lease=lease)
        try:
            figures = scenario.run_scenario(rig)
        finally:
            rig.close()
    compare: dict[str, Any] = figures.pop("compare")  # type: ignore[assignment]
    sim: dict[str, Any] = figures.pop("sim")  # type: ignore[assignment]
    document = {
        "section": "cluster",
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "python": python_facts(),
        "git": git_facts(),
        "setup": {
            "panels": panels,
            "shards": rig.shards,
            "lease_seconds": lease,
            "interval_seconds": rig.interval,
            "events_per_second_per_panel": rig.events_per_second,
            "agents": "a, b, c (c through a fault proxy); a SIGKILLed, d started, c partitioned",
        },
        "figures": {
            **figures,
            "events_expected": compare["expected"],
            "events_stored": compare["stored"],
            "events_lost": compare["missing"],
            "events_doubled": compare["duplicated"],
            "events_unexpected": compare["unexpected"],
            "commands": compare["statuses"],
            "commands_outcome_unknown": sum(compare["control_unknown"]),
            "door_commands_run_twice": sum(
                max(0, ran - done - unknown)
                for ran, done, unknown in zip(
                    sim["controls"],
                    compare["control_done"],
                    compare["control_unknown"],
                    strict=True,
                )
            ),
            "panels_with_two_clients": len(sim["violations"]),
        },
    }
    out = RESULTS.with_name("cluster-quick.json") if quick else RESULTS
    out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(json.dumps(document["figures"], indent=2, default=str))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

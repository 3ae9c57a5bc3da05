"""Django-side helper of the multi-agent test, run as a process on the test's PostgreSQL DB.

    python tests/cluster/rigtool.py register PORT...             -> JSON device ids
    python tests/cluster/rigtool.py commander PREFIX SHARDS OUT  -> enqueue until SIGTERM
    python tests/cluster/rigtool.py compare TRUTH PORT...        -> JSON comparison

It runs in its own process because the test's own Django is bound to pytest-django's test
database, while the agents share this one (DATABASE_URL).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "zkeco_modern"), str(REPO / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")

import django  # noqa: E402

django.setup()

from agent import conf, groundtruth  # noqa: E402
from agent.cluster.keys import Keys  # noqa: E402
from agent.cluster.publish import publish_command  # noqa: E402
from agent.commands import enqueue  # noqa: E402
from agent.grammar import is_control, parse_command  # noqa: E402
from agent.models import CommType, Device, DeviceCommand  # noqa: E402


def register(ports: list[int]) -> list[int]:
    ids = []
    for number, port in enumerate(ports, start=1):
        device = Device.objects.create(
            alias=f"sim-{number}",
            comm_type=CommType.TCP,
            ipaddress="127.0.0.1",
            ip_port=port,
            acpanel_type=4,
            timezone="UTC",
        )
        ids.append(device.pk)
    return ids


def commander(prefix: str, shards: int, out: Path, rate: float) -> None:
    """Enqueue a command every 1/rate s (door opens and option reads) until SIGTERM."""
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    settings = conf.load(
        {
            "redis_url": os.environ["REDIS_URL"],
            "cluster_shards": shards,
            "command_expiry_seconds": 300,
        }
    )
    keys = Keys(prefix)
    rng = random.Random(11)
    devices = list(Device.objects.values_list("pk", flat=True))
    made: list[int] = []
    published = 0
    while not stop:
        device = rng.choice(devices)
        if rng.random() < 0.7:
            text = f"DEVICE SET {rng.randint(1, 4)} 1 {rng.randint(1, 60)}"
        else:
            text = "OPTION GET LockCount"
        row = enqueue(device, text, settings=settings)
        if row.pk not in made:
            made.append(row.pk)
            published += publish_command(row, settings, keys)
        time.sleep(1 / rate)
    out.write_text(json.dumps({"commands": made, "published": published}))


def compare(truth: Path, ports: list[int]) -> dict[str, Any]:
    by_port = dict(
        zip(ports, Device.objects.order_by("pk").values_list("pk", flat=True), strict=True)
    )
    expected = groundtruth.read_ground_truth(truth, by_port)
    stored = groundtruth.stored_events(list(by_port.values()))
    report = groundtruth.compare(expected, stored)
    statuses: Counter[str] = Counter()
    control_done: Counter[int] = Counter()
    control_unknown: Counter[int] = Counter()
    index_of = {device: i for i, device in enumerate(by_port.values())}
    for row in DeviceCommand.objects.all():
        statuses[row.status] += 1
        if is_control(parse_command(row.content)):
            if row.status == "done":
                control_done[index_of[row.device_id]] += 1
            elif "outcome unknown" in row.return_content:
                control_unknown[index_of[row.device_id]] += 1
    return {
        "expected": report.expected,
        "stored": report.stored,
        "missing": len(report.missing),
        "unexpected": len(report.unexpected),
        "duplicated": len(report.duplicated),
        "examples": [str(k) for k in (report.missing + report.duplicated)[:5]],
        "statuses": dict(statuses),
        "control_done": [control_done[i] for i in range(len(ports))],
        "control_unknown": [control_unknown[i] for i in range(len(ports))],
    }


def main(argv: list[str]) -> None:
    what, args = argv[0], argv[1:]
    if what == "register":
        print(json.dumps(register([int(p) for p in args])))
    elif what == "commander":
        commander(args[0], int(args[1]), Path(args[2]), float(args[3]))
    elif what == "compare":
        print(json.dumps(compare(Path(args[0]), [int(p) for p in args[1:]])))
    else:
        raise SystemExit(f"unknown action {what!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""`python zkeco_modern/manage.py run_demo`: the embedded defaults, end to end, in one command.

Creates the SQLite schema, starts simulated panels on loopback, registers them as devices,
runs the agent (memory queue and heartbeat) for a while, opens a door through the command
queue, then checks the database against the simulator's ground truth and prints a summary.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent import conf, groundtruth
from agent.backends import build_backends
from agent.commands import enqueue
from agent.logs import configure_logging
from agent.metrics import Metrics
from agent.models import CommType, Device, DeviceCommand, DeviceEventLog
from agent.modern_comm_center import ModernCommCenter, RunOptions
from zkpull.simulator import Simulator, make_configs

logger = logging.getLogger("commcenter.demo")


class Command(BaseCommand):
    help = "Run simulated panels and the agent against them for a while; verify what was stored."
    # A demo on dev defaults: the secret-key warning would only be noise here.
    requires_system_checks = []  # noqa: RUF012 (Django's own attribute, a plain list)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--panels", type=int, default=3)
        parser.add_argument("--seconds", type=float, default=20.0, help="how long the agent runs")
        parser.add_argument("--events-per-second", type=float, default=1.0, help="per panel")
        parser.add_argument("--transactions", type=int, default=200, help="preloaded per panel")
        parser.add_argument(
            "--firmware", default="mixed", choices=("session", "sessionless", "mixed")
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json-logs", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(json=options["json_logs"], level="INFO")
        call_command("migrate", verbosity=0, interactive=False)
        settings = conf.load()
        var = Path(getattr(django_settings, "VAR_DIR", Path.cwd() / "var"))
        var.mkdir(parents=True, exist_ok=True)
        truth = var / "demo-ground-truth.jsonl"
        result = asyncio.run(_demo(settings, truth, options))
        self.stdout.write(result.summary)
        if not result.ok:
            raise CommandError("the database does not match the simulator's ground truth")


class _Result:
    def __init__(self, summary: str, ok: bool) -> None:
        self.summary, self.ok = summary, ok


async def _demo(settings: conf.AgentSettings, truth: Path, options: dict[str, Any]) -> _Result:
    zone_name = str(getattr(django_settings, "TIME_ZONE", "UTC"))
    zone = ZoneInfo(zone_name)
    configs = make_configs(
        options["panels"],
        model="C3-400",
        firmware=options["firmware"],
        seed=options["seed"],
        events_per_second=options["events_per_second"],
        transactions=options["transactions"],
    )
    started = datetime.now(UTC)
    simulator = Simulator(
        configs, clock=lambda: datetime.now(zone).replace(tzinfo=None), ground_truth=truth
    )
    await simulator.start()
    print(simulator.ready_line(), flush=True)
    try:
        devices = await asyncio.to_thread(_register, simulator.ports, zone_name)
        metrics = Metrics()
        center = ModernCommCenter(
            settings,
            build_backends("memory"),
            metrics,
            RunOptions(only=[str(d) for d in devices], agent_id="demo"),
        )
        runner = asyncio.create_task(center.run())
        await asyncio.sleep(min(3.0, options["seconds"] / 2))
        command = await asyncio.to_thread(enqueue, devices[0], "DEVICE SET 1 1 5", immediate=True)
        print(
            f"queued 'DEVICE SET 1 1 5' (open door 1 for 5 s) on sim-1 as command {command.pk}",
            flush=True,
        )
        await asyncio.sleep(max(0.0, options["seconds"] - 3.0))
        simulator.pause_generation()
        await asyncio.sleep(2 * settings.interval + 0.5)  # let the last events be polled
        center.stop()
        await runner
    finally:
        await simulator.stop()
    return await asyncio.to_thread(_summarise, truth, simulator.ports, devices, command.pk, started)


def _register(ports: list[int], zone_name: str) -> list[int]:
    """Create or update `sim-N` devices pointing at the simulator's ports."""
    ids = []
    for number, port in enumerate(ports, start=1):
        device, _ = Device.objects.update_or_create(
            alias=f"sim-{number}",
            defaults={
                "comm_type": CommType.TCP,
                "ipaddress": "127.0.0.1",
                "ip_port": port,
                "enabled": True,
                "acpanel_type": 4,
                "timezone": zone_name,
            },
        )
        ids.append(device.pk)
    return ids


def _summarise(
    truth: Path, ports: list[int], devices: list[int], command_id: int, since: datetime
) -> _Result:
    expected = groundtruth.read_ground_truth(truth, dict(zip(ports, devices, strict=True)))
    stored = groundtruth.stored_events(devices, since=since)
    report = groundtruth.compare(expected, stored)
    command = DeviceCommand.objects.get(pk=command_id)
    per_device = ", ".join(
        f"sim-{n}: {DeviceEventLog.objects.filter(device_id=d, created_at__gte=since).count()}"
        for n, d in enumerate(devices, start=1)
    )
    lines = [
        "",
        "== Modern CommCenter demo ==",
        f"events generated by the simulator: {report.expected}",
        f"events stored in DeviceEventLog:   {report.stored} ({per_device})",
        f"missing: {len(report.missing)}, unexpected: {len(report.unexpected)}, duplicated: {len(report.duplicated)}",
        f"command {command_id} '{command.content}': {command.status}, return code {command.return_code}",
        "Browse them: python zkeco_modern/manage.py createsuperuser && python zkeco_modern/manage.py run_monitor",
        "then http://127.0.0.1:8000/ (the live page) or http://127.0.0.1:8000/admin/agent/deviceeventlog/",
        "",
    ]
    lines.extend(f"  missing: {key}" for key in report.missing[:5])
    return _Result("\n".join(lines), report.ok and command.status == "done")

"""`manage.py compare_legacy`: legacy acc_monitor_log vs DeviceEventLog, per device and day.

Exit status: 0 when every device-day is within the tolerance, 1 when one differs beyond it,
2 when the comparison could not run (no legacy database, bad option).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from legacy import conf
from legacy.compare import Comparison, Tolerance, compare, describe_key

DEFAULT_DAYS = 7
EXIT_DIFFERENT = 1
EXIT_UNUSABLE = 2


class Command(BaseCommand):
    help = (
        "Compare event counts and rows of the legacy acc_monitor_log with DeviceEventLog per "
        "device and site-local day; exits 1 when a device-day differs beyond --tolerance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
        parser.add_argument(
            "--until", type=date.fromisoformat, help="last day, inclusive (default today)"
        )
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help="days back when --since is not given"
        )
        parser.add_argument(
            "--device", action="append", help="only this device (alias, sn or id); repeatable"
        )
        parser.add_argument(
            "--tolerance",
            default="0",
            help="unmatched rows allowed per device-day: a count (3) or a percentage (0.5%%)",
        )
        parser.add_argument(
            "--show", type=int, default=10, help="unmatched rows listed per side and day"
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            alias = conf.require_alias(conf.load())
            tolerance = Tolerance.parse(options["tolerance"])
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc), returncode=EXIT_UNUSABLE) from exc
        site_zone = ZoneInfo(timezone.get_default_timezone_name())
        until = options["until"] or timezone.now().astimezone(site_zone).date()
        since = options["since"] or until - timedelta(days=max(1, options["days"]) - 1)
        if since > until:
            raise CommandError("--since is after --until", returncode=EXIT_UNUSABLE)
        try:
            result = compare(
                alias,
                start=since,
                end=until,
                tolerance=tolerance,
                site_zone=site_zone,
                devices=options["device"],
            )
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}", returncode=EXIT_UNUSABLE) from exc
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(result, site_zone), indent=2))
        else:
            self._table(result, site_zone, options["show"])
        failed = result.beyond_tolerance
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(result.days)} device-days differ beyond the tolerance "
                f"({tolerance})",
                returncode=EXIT_DIFFERENT,
            )

    def _table(self, result: Comparison, zone: ZoneInfo, show: int) -> None:
        self.stdout.write(
            f"legacy acc_monitor_log vs DeviceEventLog, {result.start}..{result.end} "
            f"({zone.key}), tolerance {result.tolerance}"
        )
        self.stdout.write(
            f"{'device':<20} {'iclock':>6} {'day':<10} {'legacy':>7} {'agent':>7} "
            f"{'only legacy':>11} {'only agent':>10}  result"
        )
        for day in result.days:
            verdict = "ok" if day.unmatched == 0 else "within" if day.within else "DIFFERENT"
            self.stdout.write(
                f"{day.alias[:20]:<20} {day.legacy_id:>6} {day.day.isoformat():<10} "
                f"{day.legacy_count:>7} {day.agent_count:>7} {len(day.only_legacy):>11} "
                f"{len(day.only_agent):>10}  {verdict}"
            )
            for side, keys in (("only legacy", day.only_legacy), ("only agent", day.only_agent)):
                for key in keys[:show]:
                    self.stdout.write(f"    {side}: {describe_key(key, zone)}")
                if len(keys) > show:
                    self.stdout.write(f"    {side}: ... {len(keys) - show} more")
        for legacy_id, rows in sorted(result.unlinked_legacy_rows.items()):
            self.stdout.write(
                f"note: iclock {legacy_id} has {rows} legacy rows but no imported device "
                "(run import_legacy_devices)"
            )
        total = len(result.days)
        self.stdout.write(
            f"{total - len(result.beyond_tolerance)} of {total} device-days within tolerance"
        )


def _as_json(result: Comparison, zone: ZoneInfo) -> dict[str, object]:
    return {
        "since": result.start.isoformat(),
        "until": result.end.isoformat(),
        "time_zone": zone.key,
        "tolerance": str(result.tolerance),
        "within_tolerance": not result.beyond_tolerance,
        "days": [
            {
                "device_id": d.device_id,
                "device": d.alias,
                "legacy_id": d.legacy_id,
                "day": d.day.isoformat(),
                "legacy": d.legacy_count,
                "agent": d.agent_count,
                "only_legacy": [describe_key(k, zone) for k in d.only_legacy],
                "only_agent": [describe_key(k, zone) for k in d.only_agent],
                "within_tolerance": d.within,
            }
            for d in result.days
        ],
        "unlinked_legacy_rows": {str(k): v for k, v in result.unlinked_legacy_rows.items()},
    }

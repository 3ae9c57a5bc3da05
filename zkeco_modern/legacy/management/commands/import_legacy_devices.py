"""`manage.py import_legacy_devices [--dry-run] [--id N ...] [--json]`: panels from ZKECO's iclock."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from legacy import conf
from legacy.importer import ImportReport, import_devices


class Command(BaseCommand):
    help = (
        "Create or update agent devices from the panels (device_type 2, 5) of the legacy "
        "iclock table; re-runs are idempotent. --dry-run reports and writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report only; write nothing")
        parser.add_argument(
            "--id", type=int, action="append", dest="ids", help="only this iclock id; repeatable"
        )
        parser.add_argument("--json", action="store_true", help="the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            alias = conf.require_alias(conf.load())
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            report = import_devices(alias, dry_run=options["dry_run"], only=options["ids"])
        except DatabaseError as exc:
            raise CommandError(f"legacy database {alias!r}: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(report), indent=2))
        else:
            self._table(report)

    def _table(self, report: ImportReport) -> None:
        verb = "would be " if report.dry_run else ""
        self.stdout.write(f"{'iclock':>6}  {'alias':<20} {'outcome':<10} {'device':>6}  detail")
        for action in report.actions:
            device = "" if report.dry_run or action.device_id is None else str(action.device_id)
            self.stdout.write(
                f"{action.legacy_id:>6}  {action.alias[:20]:<20} {action.outcome:<10} "
                f"{device:>6}  {action.detail}"
            )
        counts = report.counts()
        summary = ", ".join(f"{n} {verb}{name}" for name, n in counts.items())
        self.stdout.write(f"{'dry run: ' if report.dry_run else ''}{summary}")


def _as_json(report: ImportReport) -> dict[str, object]:
    return {
        "dry_run": report.dry_run,
        "counts": report.counts(),
        "rows": [
            {
                "legacy_id": a.legacy_id,
                "alias": a.alias,
                "outcome": a.outcome,
                "device_id": None if report.dry_run else a.device_id,
                "detail": a.detail,
            }
            for a in report.actions
        ],
    }

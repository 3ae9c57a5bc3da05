"""`manage.py export_legacy_events --since DATE`: copy stored events into acc_monitor_log now.

For the events the legacy writer does not copy by itself: those stored before it first ran
(e.g. in shadow mode, when ZKECO missed some, or before a rollback without the writer).
Rows already in acc_monitor_log are skipped (INSERT IGNORE under the 10-column unique key).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from legacy import conf
from legacy.legacy_writer import LegacyEventWriter, rewind
from legacy.models import DeviceLink


class Command(BaseCommand):
    help = (
        "Copy the agent's events into the legacy acc_monitor_log, enriched as the legacy "
        "writer does: every event stored from the first one of the --since day (site time) "
        "on, including older events downloaded after it; rows already there are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", type=date.fromisoformat, required=True, help="first day (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--device", action="append", help="only this device (alias, sn or id); repeatable"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = conf.load()
            conf.require_alias(settings)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        zone = ZoneInfo(timezone.get_default_timezone_name())
        since = datetime.combine(options["since"], time(), zone)
        links = DeviceLink.objects.all()
        if options["device"]:
            match = Q()
            for item in options["device"]:
                match |= Q(device__alias=item) | Q(device__sn=item)
                if item.isdigit():
                    match |= Q(device_id=int(item))
            links = links.filter(match)
        device_ids = list(links.values_list("device_id", flat=True))
        writer = LegacyEventWriter(settings, start_after=since)
        try:
            rewind(device_ids, since)
            copied = writer.export_pass(set(device_ids))
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}") from exc
        self.stdout.write(
            f"{len(device_ids)} devices: {copied} events copied (from {since.isoformat()}), "
            f"{writer.stats.inserted} new in acc_monitor_log, "
            f"{copied - writer.stats.inserted} already there"
        )

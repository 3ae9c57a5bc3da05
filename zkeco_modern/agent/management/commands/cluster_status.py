"""`manage.py cluster_status`: live agents, heartbeat ages, shard owners, epochs, devices."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent import conf
from agent.cluster.status import snapshot, to_json, to_text


class Command(BaseCommand):
    help = "Show the agents sharing the fleet through Redis and which shards each one holds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--redis-url", help="redis:// URL (default ZKAGENT redis_url)")
        parser.add_argument("--shards", type=int, help="shard count if Redis has none recorded")
        parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        raw: dict[str, Any] = {}
        if options["redis_url"]:
            raw["redis_url"] = options["redis_url"]
        if options["shards"]:
            raw["cluster_shards"] = options["shards"]
        try:
            settings_ = conf.load({**getattr(settings, "ZKAGENT", {}), **raw})
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        state = snapshot(settings_)
        self.stdout.write(to_json(state) if options["json"] else to_text(state))
        if not state.get("reachable"):
            raise CommandError("Redis unreachable")

"""`python zkeco_modern/manage.py run_commcenter`: run the agent until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent import conf
from agent.backends import DEFAULT_PREFIX, build_backends
from agent.cluster.coordinator import ClusterConfigError
from agent.cluster.node import ClusterNode
from agent.logs import configure_logging
from agent.metrics import Metrics, start_http_server
from agent.modern_comm_center import ModernCommCenter, RunOptions

logger = logging.getLogger("commcenter")
METRICS_LOG_INTERVAL = 60.0  # seconds between `--metrics` counter lines


class Command(BaseCommand):
    help = "Run the Modern CommCenter agent: serve every enabled panel until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, help="seconds per panel cycle (default 1.0)")
        parser.add_argument("--hours", help="local hours of the scheduled download, e.g. 0,6,12,18")
        parser.add_argument(
            "--metrics", action="store_true", help="serve Prometheus metrics and log counters"
        )
        parser.add_argument(
            "--metrics-port", type=int, help="Prometheus port (default ZKAGENT metrics_port)"
        )
        parser.add_argument("--metrics-host", help="Prometheus bind address (default 127.0.0.1)")
        parser.add_argument(
            "--redis", action="store_true", help="use Redis for the queue and heartbeat"
        )
        parser.add_argument("--redis-url", help="redis:// or rediss:// URL (implies --redis)")
        parser.add_argument("--json-logs", action="store_true", help="log JSON lines")
        parser.add_argument(
            "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
        )
        parser.add_argument(
            "--device", action="append", help="only this device (alias, sn or id); repeatable"
        )
        parser.add_argument("--once", action="store_true", help="one cycle per panel, then exit")
        parser.add_argument("--agent-id", help="name in the heartbeat (default host-pid)")
        parser.add_argument(
            "--cluster",
            action="store_true",
            help="share the fleet with other agents on the same Redis (shard leases; needs --redis)",
        )
        parser.add_argument("--cluster-shards", type=int, help="shard count (default 64)")
        parser.add_argument("--cluster-lease", type=float, help="shard lease TTL in s (default 15)")
        parser.add_argument(
            "--redis-prefix", default=DEFAULT_PREFIX, help="Redis key prefix (default commcenter:)"
        )
        parser.add_argument(
            "--shadow",
            action="store_true",
            help="observe only, ZKECO stays authoritative: no pointer commits, clock sync or commands",
        )
        parser.add_argument(
            "--shadow-no-rtlog", action="store_true", help="--shadow without real-time polls"
        )
        parser.add_argument(
            "--legacy-writer",
            action="store_true",
            default=None,
            help="also write acc_monitor_log rows to the legacy database (or LEGACY_WRITER=1)",
        )

    # Checks run in handle(), after logging is set up, so --json-logs covers them too.
    requires_system_checks = []  # noqa: RUF012 (Django's own attribute, a plain list)

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(json=options["json_logs"], level=options["log_level"])
        _run_checks()
        settings = _settings(options)
        backend = "redis" if options["redis"] or options["redis_url"] else settings.backend
        node = None
        if settings.cluster:
            if backend != "redis":
                raise CommandError("--cluster needs the Redis backend (--redis / --redis-url)")
            if options["once"]:
                raise CommandError("--cluster cannot be combined with --once")
            if not options["agent_id"]:
                raise CommandError("--cluster needs a stable --agent-id (it names the consumer)")
            node = ClusterNode.build(
                settings, settings.redis_url, options["agent_id"], prefix=options["redis_prefix"]
            )
            backends = node.backends
        else:
            try:
                backends = build_backends(
                    backend,  # type: ignore[arg-type]
                    settings.redis_url if backend == "redis" else None,
                    prefix=options["redis_prefix"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        metrics = Metrics()
        if options["metrics"] or options["metrics_port"]:
            try:
                server, _ = start_http_server(
                    metrics, port=settings.metrics_port, host=settings.metrics_host
                )
            except OSError as exc:
                raise CommandError(
                    f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}"
                ) from exc
            logger.info(
                "metrics on http://%s:%s/metrics", settings.metrics_host, server.server_port
            )
        run = RunOptions(
            only=options["device"],
            once=options["once"],
            metrics_log_interval=METRICS_LOG_INTERVAL if options["metrics"] else None,
        )
        if options["agent_id"]:
            run.agent_id = options["agent_id"]
        logger.info(
            "starting: backend=%s interval=%ss hours=%s",
            backend,
            settings.interval,
            sorted(settings.download_hours),
        )
        legacy = _legacy_hooks(options)
        center = ModernCommCenter(settings, backends, metrics, run, **legacy.center_kwargs())
        if node is not None:
            node.attach(center)
            logger.info(
                "cluster mode: agent %s, %d shards, lease %ss",
                run.agent_id,
                settings.cluster_shards,
                settings.cluster_lease_seconds,
            )
        try:
            with legacy.attached(center.writer):
                asyncio.run(_main(center))
        except ClusterConfigError as exc:
            raise CommandError(str(exc)) from exc
        if center.failure is not None:  # a non-zero exit, so that systemd restarts the agent
            raise CommandError(f"agent stopped itself: {center.failure!r}")


async def _main(center: ModernCommCenter) -> None:
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logger.info(
                "stopping: disconnecting panels and flushing events (signal again to force)"
            )
            center.stop()
        else:
            os._exit(1)  # the warm stop hangs: a second signal means "now"

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await center.run()


def _run_checks() -> None:
    """Django's system checks, reported through the log; any error stops the start."""
    failed = []
    for message in checks.run_checks():
        level = logging.ERROR if message.is_serious() else logging.WARNING
        hint = f" ({message.hint})" if message.hint else ""
        logger.log(level, "system check %s: %s%s", message.id, message.msg, hint)
        if message.is_serious():
            failed.append(str(message.id))
    if failed:
        raise CommandError(f"system checks failed: {', '.join(failed)}")


def _settings(options: dict[str, Any]) -> conf.AgentSettings:
    """ZKAGENT with the command-line overrides, validated as one (bad values → CommandError)."""
    raw = dict(getattr(django_settings, "ZKAGENT", {}))  # settings.py merged ZKAGENT_* already
    overrides = {
        "interval": options["interval"],
        "download_hours": options["hours"],
        "metrics_port": options["metrics_port"],
        "metrics_host": options["metrics_host"],
        "redis_url": options["redis_url"],
        "cluster_shards": options.get("cluster_shards"),
        "cluster_lease_seconds": options.get("cluster_lease"),
        "agent_id": options.get("agent_id"),  # validated: it names Redis keys
    }
    raw.update({key: value for key, value in overrides.items() if value is not None})
    if options["redis"] or options["redis_url"]:
        raw["backend"] = "redis"
    if options.get("cluster"):
        raw["cluster"] = True
    try:
        return conf.load(raw)
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc


def _legacy_hooks(options: dict[str, Any]) -> Any:
    """Shadow mode and the legacy writer (app `legacy`, docs/migration.md)."""
    # Imported here: the agent runs without the migration app unless these options are used.
    from legacy.integration import LegacyHooks  # noqa: PLC0415

    try:
        hooks = LegacyHooks.from_options(
            shadow=options["shadow"] or options["shadow_no_rtlog"],
            rtlog=not options["shadow_no_rtlog"],
            legacy_writer=options["legacy_writer"],
        )
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc
    logger.info("legacy: %s", hooks.describe())
    return hooks

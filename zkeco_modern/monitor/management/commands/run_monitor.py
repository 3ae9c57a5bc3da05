"""`python zkeco_modern/manage.py run_monitor [--host 127.0.0.1] [--port 8000]`: serve the site.

The live monitor, its event stream (long-lived async responses), the admin and /healthz,
with uvicorn on the project's ASGI application; static files through Django's
ASGIStaticFilesHandler (`--no-static` when a web server in front serves STATIC_ROOT).
Binds loopback unless told otherwise: put TLS (a reverse proxy) in front before exposing it.

Persistent database connections are switched off here, as Django advises under ASGI: each
request runs on a thread of its own, so a kept connection would never be reused. (An event
stream keeps its one connection for as long as it runs; see monitor.stream.)
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from django.conf import settings as django_settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitor import conf

logger = logging.getLogger("monitor")
GRACEFUL_SECONDS = 5  # open event streams never end by themselves: do not wait longer on stop


class Command(BaseCommand):
    help = "Serve the live monitor, the admin and /healthz with uvicorn (ASGI)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=8000, help="TCP port (default 8000; 0: any)"
        )
        parser.add_argument(
            "--no-static", action="store_true", help="do not serve /static/ (a proxy does)"
        )
        parser.add_argument(
            "--log-level", default="info", choices=("debug", "info", "warning", "error")
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="trust X-Forwarded-For/Proto from --forwarded-allow-ips (behind a reverse proxy)",
        )
        parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["port"] <= 65535:
            raise CommandError(f"--port {options['port']} is not a TCP port")
        try:
            conf.load()  # a bad MONITOR_* value stops the start with one clear message
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        for database in django_settings.DATABASES.values():
            database["CONN_MAX_AGE"] = 0  # before the first connection is made
        app: Any = get_asgi_application()
        if not options["no_static"]:
            app = ASGIStaticFilesHandler(app)
        config = uvicorn.Config(
            app,
            host=options["host"],
            port=options["port"],
            lifespan="off",  # Django's ASGI handler has no lifespan protocol
            log_level=options["log_level"],
            proxy_headers=options["proxy_headers"],
            forwarded_allow_ips=options["forwarded_allow_ips"],
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            access_log=options["log_level"] == "debug",
        )
        server = uvicorn.Server(config)
        try:
            server.run()
        except OSError as exc:  # e.g. the port is taken
            raise CommandError(
                f"cannot serve on {options['host']}:{options['port']}: {exc}"
            ) from exc
        if not server.started:
            raise CommandError(f"uvicorn did not start on {options['host']}:{options['port']}")

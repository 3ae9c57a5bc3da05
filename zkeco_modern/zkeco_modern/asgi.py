"""ASGI entry point: the admin, the live monitor and its event stream behind an ASGI server.

`manage.py run_monitor` serves this with uvicorn. The static files (the monitor's script and
styles, the admin's) are served by Django's own ASGIStaticFilesHandler unless
DJANGO_SERVE_STATIC=0, for a deployment where a web server in front serves `collectstatic`'s
STATIC_ROOT instead.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")

django_application = get_asgi_application()


def _with_static(app: object) -> object:
    if os.environ.get("DJANGO_SERVE_STATIC", "1").strip().lower() in {"0", "false", "no", "off"}:
        return app
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: PLC0415

    return ASGIStaticFilesHandler(app)  # type: ignore[arg-type]


application = _with_static(django_application)

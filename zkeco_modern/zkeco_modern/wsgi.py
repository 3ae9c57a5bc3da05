"""WSGI entry point (the admin behind a WSGI server)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")

application = get_wsgi_application()

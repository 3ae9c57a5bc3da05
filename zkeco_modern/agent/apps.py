"""App config: registers the system checks and the SQLite connection tuning."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created


class AgentConfig(AppConfig):
    name = "agent"
    verbose_name = "CommCenter agent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks as agent_checks  # noqa: PLC0415 (apps must be ready first)
        from .sqlite import configure_sqlite  # noqa: PLC0415

        checks.register(agent_checks.check_settings, "agent")
        checks.register(agent_checks.check_secret_key, checks.Tags.security)
        connection_created.connect(configure_sqlite, dispatch_uid="agent.configure_sqlite")

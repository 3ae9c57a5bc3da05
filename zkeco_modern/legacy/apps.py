"""App config of the ZKECO migration tools."""

from __future__ import annotations

from django.apps import AppConfig


class LegacyConfig(AppConfig):
    name = "legacy"
    verbose_name = "ZKECO migration"
    default_auto_field = "django.db.models.BigAutoField"

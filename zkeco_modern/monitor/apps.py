"""Django app config of the live monitor."""

from __future__ import annotations

from django.apps import AppConfig


class MonitorConfig(AppConfig):
    name = "monitor"
    verbose_name = "Live monitor"
    default_auto_field = "django.db.models.BigAutoField"

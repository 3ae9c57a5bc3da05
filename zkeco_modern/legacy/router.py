"""`LegacyRouter`: the legacy models live only in the ZKECO database, nothing else ever does.

The unmanaged models of this app (`LEGACY_DB` marker) read and write the `legacy` alias;
every other model (the agent's, this app's own bookkeeping) stays on its default route and
is refused on the legacy alias. No migration ever runs against the legacy database.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from . import conf


def is_legacy_model(model: type[Model] | Model) -> bool:
    """Whether *model* maps a table of the ZKECO database."""
    return bool(getattr(model, "LEGACY_DB", False))


class LegacyRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return conf.load().alias if is_legacy_model(model) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return conf.load().alias if is_legacy_model(model) else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # A relation across the two databases could never be joined.
        if is_legacy_model(obj1) != is_legacy_model(obj2):
            return False
        return None

    def allow_migrate(  # Django's router signature
        self,
        db: str,
        app_label: str,  # noqa: ARG002
        model_name: str | None = None,  # noqa: ARG002
        **hints: Any,
    ) -> bool | None:
        if db == conf.load().alias:
            return False  # the ZKECO schema belongs to ZKECO: never create or alter tables there
        model = hints.get("model")
        if model is not None and is_legacy_model(model):
            return False
        return None

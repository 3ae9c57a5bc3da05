"""How `run_commcenter` takes the legacy options: shadow mode and the legacy writer.

`LegacyHooks.from_options()` validates the combination (the legacy writer is refused in
shadow mode: ZKECO still writes acc_monitor_log then), `center_kwargs()` gives the session
factory, and `attached(writer)` runs the legacy writer around the agent: registered as an
after-stored hook before the agent starts, stopped (with a last catch-up pass) after the
agent has flushed its own events.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from agent.writer import PersistenceWriter

from . import conf
from .legacy_writer import LegacyEventWriter, describe
from .shadow import ShadowSessionFactory

logger = logging.getLogger("commcenter.legacy")


@dataclass
class LegacyHooks:
    shadow: ShadowSessionFactory | None = None
    writer: LegacyEventWriter | None = None

    @classmethod
    def from_options(
        cls, *, shadow: bool, rtlog: bool = True, legacy_writer: bool | None = None
    ) -> LegacyHooks:
        """Raises ImproperlyConfigured for an impossible combination or missing database."""
        settings = conf.load()
        enabled = settings.writer if legacy_writer is None else legacy_writer
        if shadow and enabled:
            raise ImproperlyConfigured(
                "the legacy writer cannot run in shadow mode: ZKECO still writes "
                "acc_monitor_log (unset LEGACY_WRITER or drop --legacy-writer)"
            )
        writer = None
        if enabled:
            conf.require_alias(settings)
            writer = LegacyEventWriter(settings)
        return cls(ShadowSessionFactory(rtlog=rtlog) if shadow else None, writer)

    def center_kwargs(self) -> dict[str, Any]:
        return {"session_factory": self.shadow} if self.shadow is not None else {}

    def describe(self) -> str:
        parts = []
        if self.shadow is not None:
            rtlog = "on" if self.shadow.rtlog else "off"
            parts.append(
                f"shadow mode (no pointer commits, no clock sync, no commands, rtlog {rtlog})"
            )
        if self.writer is not None:
            parts.append(f"legacy writer to database {self.writer.alias!r}")
        return "; ".join(parts) or "no legacy hooks"

    @contextlib.contextmanager
    def attached(self, persistence: PersistenceWriter) -> Iterator[None]:
        if self.writer is None:
            yield
            if self.shadow is not None:
                logger.info("shadow mode counters: %s", vars(self.shadow.counters))
            return
        persistence.after_stored.append(self.writer.on_stored)
        self.writer.start()
        try:
            yield
        finally:
            self.writer.stop()
            logger.info("legacy writer stopped: %s", describe(self.writer.stats))

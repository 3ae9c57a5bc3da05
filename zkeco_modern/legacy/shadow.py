"""Shadow mode: the agent observes the panels while ZKECO stays authoritative.

Used in the "observe side by side" and "shadow with verified counts" phases
(docs/migration.md). A `ShadowDriverAdapter` wraps each panel's driver so the agent changes
nothing on a panel that the legacy service relies on:

- the transaction "new records" pointer is never committed: downloads still read the new
  records (stored once each under the natural key), and ZKECO's own NewRecord download
  still gets every one of them;
- the clock is never set (ZKECO syncs it when `iclock.sync_time` is on);
- operator commands are never sent: each one fails at once with -1002 and the reason, so
  nobody waits 50 s for a door that will not open (ZKECO runs its own `devcmds`);
- with `rtlog=False` the real-time log is not polled either. The panel keeps ONE ring of
  pending real-time records for all clients: a record our poll takes is one ZKECO's live
  monitor does not show (it still reaches acc_monitor_log through ZKECO's next NewRecord
  download). Without rtlog polling the agent only connects and reads transactions, at
  connect and at the `--hours` slots.

Connecting still clears the panel's real-time ring (fact sheet §2.1), so each reconnect of
the agent can delay, never lose, a few real-time records of ZKECO's monitor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from agent.device_session import DeviceSession
from agent.deviceconfig import DeviceConfig
from agent.legacy_driver import Download, LegacyDriverAdapter
from agent.ports import Outcome
from agent.returncodes import DISABLED
from zkpull import RtRecord

logger = logging.getLogger("commcenter.shadow")
REFUSED: Final = "shadow mode: ZKECO runs the commands; this agent only observes"


@dataclass
class ShadowCounters:
    commits_skipped: int = 0
    time_syncs_skipped: int = 0
    commands_refused: int = 0


class ShadowDriverAdapter(LegacyDriverAdapter):
    """A panel driver that reads but never changes what ZKECO relies on (module doc)."""

    def __init__(
        self, inner: LegacyDriverAdapter, *, rtlog: bool, counters: ShadowCounters
    ) -> None:
        super().__init__(inner.config, inner.client)
        self.rtlog = rtlog
        self.counters = counters

    async def set_time(self, local: datetime) -> None:  # noqa: ARG002 (the driver's signature)
        self.counters.time_syncs_skipped += 1

    async def commit_new_records(self) -> None:
        self.counters.commits_skipped += 1

    async def get_rtlog(self) -> list[RtRecord]:
        if not self.rtlog:
            return []
        return await super().get_rtlog()

    async def execute(self, content: str, *, download: Download) -> Outcome:  # noqa: ARG002
        self.counters.commands_refused += 1
        logger.info("%s: refused command %r (shadow mode)", self.config.alias, content[:60])
        return Outcome("failed", DISABLED, REFUSED)


class ShadowSessionFactory:
    """`ModernCommCenter(session_factory=...)`: sessions whose drivers are shadowed."""

    def __init__(self, *, rtlog: bool = True) -> None:
        self.rtlog = rtlog
        self.counters = ShadowCounters()

    def __call__(
        self, config: DeviceConfig, driver: LegacyDriverAdapter, **kwargs: Any
    ) -> DeviceSession:
        shadowed = ShadowDriverAdapter(driver, rtlog=self.rtlog, counters=self.counters)
        return DeviceSession(config, shadowed, **kwargs)

"""The optional legacy writer: copies stored events into ZKECO's `acc_monitor_log`.

Policy when the legacy database is down: **log and catch up**. DeviceEventLog (the agent's
own database) is the source; `LegacyExportCursor` remembers, per device, the last event id
copied. The agent's write path only nudges this writer (`on_stored`, O(jobs), never blocks,
never touches the legacy database), so a slow or dead legacy server cannot delay or lose
the agent's own writes. The writer runs in its own thread: it copies what is beyond each
cursor in batches (INSERT IGNORE under the 10-column unique key, then the cursor moves),
retries with capped backoff while the legacy database fails (logged once per outage,
counted in `retries`), and catches up from the cursors when it is back, also after an
agent restart. A crash between the legacy commit and the cursor update re-copies one
batch, which the unique key makes harmless.

Events stored before the writer first saw a device are not copied (the legacy service
wrote those); `start_after` (default: when the writer starts) sets that boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import Max, Min
from django.utils import timezone

from agent.models import DeviceEventLog
from agent.records import KEY_FIELDS
from agent.schedule import backoff
from agent.writer import WriteJob

from .conf import LegacySettings
from .enrich import INSERT_SQL, DeviceNames, load_device_names, load_people, monitor_row
from .models import DeviceLink, LegacyExportCursor

logger = logging.getLogger("commcenter.legacy")
_EVENT_VALUES: Final = ("id", *KEY_FIELDS, "description")  # the natural key and its text


@dataclass
class WriterStats:
    exported: int = 0  # rows handed to INSERT IGNORE
    inserted: int = 0  # rows the legacy database took (the rest were already there)
    retries: int = 0  # failed passes (legacy or agent database unavailable)
    passes: int = 0
    outage: bool = False
    unlinked: int = 0  # devices with events but no legacy iclock row


class LegacyEventWriter:
    """Copies DeviceEventLog rows of linked devices into acc_monitor_log; see the module doc."""

    def __init__(
        self,
        settings: LegacySettings,
        *,
        start_after: datetime | None = None,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
    ) -> None:
        self.alias = settings.alias
        self.settings = settings
        self.start_after = start_after or timezone.now()
        self.stats = WriterStats()
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._dirty: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._names: dict[int, tuple[float, DeviceNames | None]] = {}
        self._warned_unlinked: set[int] = set()

    # -- the agent side (event loop thread) ------------------------------------------------------
    def on_stored(self, jobs: Sequence[WriteJob]) -> None:
        """`PersistenceWriter.after_stored` hook: note the devices with new events, wake up."""
        devices = {job.device_id for job in jobs if job.kind == "events"}
        if devices:
            with self._lock:
                self._dirty |= devices
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="legacy-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Copy what is pending (one last pass, unless the legacy DB is down), then end."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("legacy writer still busy after %.0f s; left behind", timeout)

    # -- the writer thread ------------------------------------------------------------------------
    def export_pass(self, devices: set[int] | None = None) -> int:
        """Copy everything beyond the cursors of *devices* (None: all linked). Returns rows.

        Raises django.db.Error when either database fails; the cursors then stay where the
        last successful batch left them.
        """
        close_old_connections()
        links = DeviceLink.objects.select_related("device")
        if devices is not None:
            links = links.filter(device_id__in=devices)
            self._note_unlinked(devices - set(links.values_list("device_id", flat=True)))
        copied = 0
        for link in links:
            copied += self._export_device(link)
        self.stats.passes += 1
        return copied

    def _run(self) -> None:
        delays: Iterator[float] = iter(())
        wait = 0.0  # seconds to back off while the outage lasts
        try:
            while True:
                if self.stats.outage:
                    self._stopping.wait(wait)  # back off; nudges wait, only a stop cuts it short
                else:
                    self._wake.wait(timeout=self.settings.writer_poll_seconds)
                self._wake.clear()
                stopping = self._stopping.is_set()
                with self._lock:
                    dirty, self._dirty = self._dirty, set()
                try:
                    # A sweep of every linked device catches up after outages and restarts.
                    self.export_pass(None if not dirty or stopping else dirty)
                except DatabaseError as exc:
                    with self._lock:
                        self._dirty |= dirty
                    self._failed(exc)
                    if not self.stats.outage:
                        delays = backoff(base=self._retry_base, cap=self._retry_cap)
                    self.stats.outage = True
                    wait = next(delays)
                    if stopping:
                        logger.warning(
                            "legacy writer stopping with the legacy database down; the "
                            "rows are copied from DeviceEventLog on the next start"
                        )
                        return
                    continue
                if self.stats.outage:
                    logger.info("legacy database reachable again; caught up")
                self.stats.outage = False
                if stopping:
                    return
        finally:
            connections.close_all()

    def _failed(self, exc: DatabaseError) -> None:
        self.stats.retries += 1
        if not self.stats.outage:
            logger.error(
                "legacy writer: database unavailable, catching up later from DeviceEventLog: %s",
                exc,
            )
        for alias in (self.alias, "default"):
            try:
                connections[alias].close()  # reconnect on the next attempt
            except DatabaseError:
                logger.debug("closing %s after an error failed", alias)

    def _export_device(self, link: DeviceLink) -> int:
        cursor = self._cursor(link.device_id)
        zone = ZoneInfo(link.device.timezone)
        copied = 0
        while True:
            rows = list(
                DeviceEventLog.objects.filter(device_id=link.device_id, id__gt=cursor)
                .order_by("id")
                .values(*_EVENT_VALUES)[: self.settings.writer_batch]
            )
            if not rows:
                return copied
            names = self._device_names(link.legacy_id)
            if names is None:
                self._note_unlinked({link.device_id}, f"iclock {link.legacy_id} is gone")
                return copied
            people = load_people(self.alias, (str(row["pin"]) for row in rows))
            created = timezone.now().astimezone(zone).replace(tzinfo=None)
            values = [monitor_row(row, names, people, zone, created) for row in rows]
            with transaction.atomic(using=self.alias), connections[self.alias].cursor() as sql:
                sql.executemany(INSERT_SQL, values)
                inserted = max(0, sql.rowcount)
            cursor = rows[-1]["id"]
            LegacyExportCursor.objects.update_or_create(
                device_id=link.device_id, defaults={"last_event_id": cursor}
            )
            self.stats.exported += len(rows)
            self.stats.inserted += inserted
            copied += len(rows)
            if len(rows) < self.settings.writer_batch:
                return copied

    def _cursor(self, device_id: int) -> int:
        found = LegacyExportCursor.objects.filter(device_id=device_id).first()
        if found is not None:
            return found.last_event_id
        before = DeviceEventLog.objects.filter(
            device_id=device_id, created_at__lt=self.start_after
        ).aggregate(last=Max("id"))["last"]
        start = int(before or 0)
        LegacyExportCursor.objects.create(device_id=device_id, last_event_id=start)
        return start

    def _device_names(self, legacy_id: int) -> DeviceNames | None:
        cached = self._names.get(legacy_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.settings.lookup_ttl_seconds:
            return cached[1]
        names = load_device_names(self.alias, legacy_id)
        self._names[legacy_id] = (now, names)
        return names

    def _note_unlinked(self, devices: set[int], why: str = "no legacy iclock row") -> None:
        for device_id in devices - self._warned_unlinked:
            self._warned_unlinked.add(device_id)
            self.stats.unlinked += 1
            logger.warning(
                "legacy writer: device %s has %s (import_legacy_devices links devices); "
                "its events are not written to acc_monitor_log",
                device_id,
                why,
            )


def rewind(device_ids: Sequence[int], since: datetime) -> dict[int, int]:
    """Move the cursors of *device_ids* back so every event from *since* on is copied again.

    The cursor goes to just before the first event (by id) whose time is at or after *since*;
    it only ever moves backwards (INSERT IGNORE makes copying again harmless). Returns the
    new cursor per device.
    """
    moved: dict[int, int] = {}
    for device_id in device_ids:
        first = DeviceEventLog.objects.filter(device_id=device_id, time__gte=since).aggregate(
            first=Min("id")
        )["first"]
        if first is None:
            continue
        target = int(first) - 1
        current = LegacyExportCursor.objects.filter(device_id=device_id).first()
        if current is not None and current.last_event_id <= target:
            moved[device_id] = current.last_event_id
            continue
        LegacyExportCursor.objects.update_or_create(
            device_id=device_id, defaults={"last_event_id": target}
        )
        moved[device_id] = target
    return moved


def describe(stats: WriterStats) -> dict[str, Any]:
    """The counters as a dict (logs, tests)."""
    return {
        "exported": stats.exported,
        "inserted": stats.inserted,
        "retries": stats.retries,
        "passes": stats.passes,
        "outage": stats.outage,
        "unlinked": stats.unlinked,
    }

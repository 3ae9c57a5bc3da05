"""The agent's ORM side: events, real-time lines, command state, device facts and status.

Synchronous; the agent runs it on its one database thread. Every function is idempotent
(safe to call again with the same arguments after a failure) and leaves retrying to the
caller: a database error propagates as `django.db.Error`. Functions start with
`close_old_connections()` (outside a caller's transaction), because the agent is a
long-running process and the server may have dropped the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from zkpull import DeviceInfo

from .models import (
    FINAL_STATUSES,
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceEventLog,
    DeviceRealtimeLog,
    DeviceStatus,
    EventSource,
    QuarantinedRecord,
)
from .records import (
    KEY_FIELDS,
    EventFields,
    EventPointType,
    EventRecord,
    InvalidRecordError,
    RawEvent,
    RealtimeLine,
    event_fields,
    event_point,
    lines_from_records,
    to_utc,
)
from .returncodes import AppReturnCode

__all__ = [
    "FACT_FIELDS",
    "EventPointType",
    "EventRecord",
    "QueuedCommand",
    "RawEvent",
    "RealtimeLine",
    "WriteCounts",
    "disable_device",
    "event_point",
    "expire_due_commands",
    "facts_from_info",
    "lines_from_records",
    "mark_command_running",
    "pending_commands",
    "record_command_result",
    "recover_running_commands",
    "release_command",
    "save_device_facts",
    "save_device_status",
    "write_events",
    "write_events_detailed",
    "write_realtime_lines",
]

DEFAULT_BATCH_SIZE: Final = 500
FACT_FIELDS: Final = (
    "sn",
    "fw_version",
    "device_name",
    "lock_count",
    "reader_count",
    "aux_in_count",
    "aux_out_count",
    "max_user_count",
    "max_attlog_count",
)
_OPEN_STATUSES: Final = (CommandStatus.PENDING, CommandStatus.RUNNING)
_IN_LIST_LIMIT: Final = 100  # device ids in one `IN (...)`; beyond, filter in Python


class DeviceNotFoundError(LookupError):
    """The device row does not exist (removed while the agent was running)."""


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """What one `write_events_detailed` call did with the records it was given."""

    stored: int  # new DeviceEventLog rows
    quarantined: int  # new QuarantinedRecord rows
    duplicates: int  # records already stored (or already quarantined, or repeated in the batch)
    quarantine_reasons: tuple[str, ...] = ()  # the reasons of the new QuarantinedRecord rows

    @property
    def total(self) -> int:
        """Rows written: events plus quarantined records."""
        return self.stored + self.quarantined


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A pending command as the agent queues it (field names as `CommandEnvelope`'s).

    Times are epoch seconds, like the queue backends use.
    """

    command_id: int
    device_id: int
    content: str
    immediate: bool
    priority: int
    enqueued_at: float
    expires_at: float | None
    attempts: int


# -- events ---------------------------------------------------------------------------------------
def write_events(
    device_id: int,
    events: Sequence[RawEvent],
    source: str,
    *,
    tz_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Store *events* once each; returns rows written (new events + newly quarantined ones)."""
    return write_events_detailed(
        device_id, events, source, tz_name=tz_name, batch_size=batch_size
    ).total


def write_events_detailed(
    device_id: int,
    events: Sequence[RawEvent],
    source: str,
    *,
    tz_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> WriteCounts:
    """Store *events* (panel-local times in *tz_name*, default the device's zone) atomically.

    Duplicates under the natural key are skipped, whatever their source ("rt" or "tx");
    records that are not valid events go to `QuarantinedRecord` with the reason. The counts
    come from the database (rows the INSERT actually added), so they stay exact even when
    another writer races.
    """
    source = EventSource(source)
    _fresh_connection()
    zone = _zone(device_id, tz_name)
    fields: dict[tuple[object, ...], EventFields] = {}
    bad: dict[str, str] = {}
    for record in events:
        try:
            item = event_fields(record, zone)
        except InvalidRecordError as exc:
            bad.setdefault(record.to_legacy_line(), exc.reason)
            continue
        fields.setdefault(item.key(), item)
    ordered = sorted(fields.values(), key=lambda item: item.time)
    # No savepoint: a failure must roll back the caller's whole batch anyway (it is retried
    # as a whole), and a savepoint per job costs two round trips.
    with transaction.atomic(savepoint=False):
        stored = _insert_events(device_id, ordered, str(source.value), batch_size)
        reasons = _quarantine(device_id, source, bad)
    quarantined = len(reasons)
    return WriteCounts(stored, quarantined, len(events) - stored - quarantined, reasons)


def write_realtime_lines(
    device_id: int,
    lines: Sequence[RealtimeLine],
    *,
    tz_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Store rtlog lines as received (impossible times kept as NULL); returns new rows."""
    _fresh_connection()
    zone = _zone(device_id, tz_name)
    unique = {(line.received_at, line.seq): line for line in lines}
    with transaction.atomic(savepoint=False):
        if connection.vendor not in _FAST_VENDORS:
            return _insert_realtime_orm(device_id, list(unique.values()), zone, batch_size)
        adapt = connection.ops.adapt_datetimefield_value
        rows = [
            (
                device_id,
                adapt(line.received_at),
                line.seq,
                line.line[:255],
                adapt(to_utc(line.time, zone)) if line.time is not None else None,
                line.pin,
                line.card,
                line.door,
                line.event_type,
                line.inout,
                line.verified,
                line.is_status,
            )
            for line in unique.values()
        ]
        return _insert_new(_REALTIME_TABLE, rows, batch_size)


# -- commands ---------------------------------------------------------------------------------------
def pending_commands(
    device_id: int | Iterable[int], *, now: datetime | None = None, limit: int | None = None
) -> list[QueuedCommand]:
    """Pending, unexpired commands of one device or several, in one query.

    Immediate first, then higher priority, then oldest.
    """
    _fresh_connection()
    moment = now if now is not None else timezone.now()
    wanted: set[int] | None = None
    devices: dict[str, object] = {}
    if isinstance(device_id, int):
        devices["device_id"] = device_id
    else:
        ids = list(device_id)
        if len(ids) <= _IN_LIST_LIMIT:
            devices["device_id__in"] = ids
        else:
            # The feeder asks for every served panel twice a second: an IN list of 2,000 ids
            # cost the ORM a value preparation per id (13 % of the agent's samples at 2,000
            # panels, py-spy). Pending commands are few: read them all and keep ours.
            wanted = set(ids)
    rows = (
        DeviceCommand.objects.filter(status=CommandStatus.PENDING, **devices)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment))
        .order_by("-immediate", "-priority", "commit_time", "id")
    )
    if wanted is not None:
        selected = [row for row in rows if row.device_id in wanted][:limit]
    else:
        selected = list(rows[:limit] if limit is not None else rows)
    return [
        QueuedCommand(
            command_id=row.pk,
            device_id=row.device_id,
            content=row.content,
            immediate=row.immediate,
            priority=row.priority,
            enqueued_at=row.commit_time.timestamp(),
            expires_at=row.expires_at.timestamp() if row.expires_at else None,
            attempts=row.attempts,
        )
        for row in selected
    ]


def mark_command_running(command_id: int, *, now: datetime | None = None) -> bool:
    """Pending -> running (trans_time, attempts + 1); False if it is not pending any more.

    A pending command past its expiry is expired (-1005) instead, and False returned.
    """
    _fresh_connection()
    moment = now if now is not None else timezone.now()
    started = (
        DeviceCommand.objects.filter(pk=command_id, status=CommandStatus.PENDING)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment))
        .update(status=CommandStatus.RUNNING, trans_time=moment, attempts=F("attempts") + 1)
    )
    if not started:
        expire_due_commands(moment, command_id=command_id)
    return started == 1


def record_command_result(
    command_id: int,
    status: str,
    return_code: int,
    content: str = "",
    *,
    now: datetime | None = None,
) -> bool:
    """Record the one outcome of a command; True if this call recorded it.

    A single conditional UPDATE (status still pending or running), so of concurrent or
    repeated calls exactly one wins and the others change nothing.
    """
    final = CommandStatus(status)
    if final not in FINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final status ({', '.join(FINAL_STATUSES)})")
    _fresh_connection()
    moment = now if now is not None else timezone.now()
    updated = DeviceCommand.objects.filter(pk=command_id, status__in=_OPEN_STATUSES).update(
        status=final, return_code=return_code, return_content=content, over_time=moment
    )
    return updated == 1


def release_command(command_id: int, return_code: int, content: str = "") -> bool:
    """Running -> pending for another attempt, keeping the last error; False if not running.

    If an identical command was queued meanwhile, this one is cancelled instead (the twin
    will run): two pending copies would run the command twice.
    """
    _fresh_connection()
    return _requeue(command_id, return_code, content)


def recover_running_commands(device_ids: Iterable[int] | None = None) -> int:
    """Put commands left running by a dead agent back to pending; returns how many moved.

    Call at agent start for the devices it serves (legacy: the queue item stayed until done).
    """
    _fresh_connection()
    rows = DeviceCommand.objects.filter(status=CommandStatus.RUNNING)
    if device_ids is not None:
        rows = rows.filter(device_id__in=list(device_ids))
    ids = list(rows.values_list("pk", flat=True))
    return sum(
        _requeue(pk, AppReturnCode.DISCONNECTED, "agent stopped while it ran; retrying")
        for pk in ids
    )


def expire_due_commands(
    now: datetime | None = None, *, device_id: int | None = None, command_id: int | None = None
) -> int:
    """Pending commands past `expires_at` -> expired (-1005); returns how many."""
    _fresh_connection()
    moment = now if now is not None else timezone.now()
    rows = DeviceCommand.objects.filter(status=CommandStatus.PENDING, expires_at__lte=moment)
    if device_id is not None:
        rows = rows.filter(device_id=device_id)
    if command_id is not None:
        rows = rows.filter(pk=command_id)
    return rows.update(
        status=CommandStatus.EXPIRED,
        return_code=AppReturnCode.TIMEOUT,
        return_content="expired before it could run",
        over_time=moment,
    )


# -- devices ---------------------------------------------------------------------------------------
def facts_from_info(info: DeviceInfo) -> dict[str, object]:
    """`save_device_facts` input from what zkpull read on connect."""
    facts: dict[str, object] = {
        "sn": info.serial_number,
        "fw_version": info.firmware,
        "device_name": info.device_name,
        "lock_count": info.lock_count,
        "reader_count": info.reader_count,
        "aux_in_count": info.aux_in_count,
        "aux_out_count": info.aux_out_count,
    }
    for param, name in (
        ("~MaxUserCount", "max_user_count"),
        ("~MaxAttLogCount", "max_attlog_count"),
    ):
        value = info.params.get(param, "")
        if value.isdigit():
            facts[name] = int(value)
    return facts


def save_device_facts(
    device_id: int, facts: Mapping[str, object], *, now: datetime | None = None
) -> bool:
    """Store what the panel said about itself and `last_connected_at`; False if no such device.

    Only keys in `FACT_FIELDS` are stored (a connect result may carry more, e.g. the raw
    options); None values are skipped; text longer than its column is cut, not rejected.
    """
    _fresh_connection()
    values: dict[str, object] = {}
    for name, value in facts.items():
        if name not in FACT_FIELDS or value is None:
            continue
        limit = getattr(Device._meta.get_field(name), "max_length", None)
        values[name] = value[:limit] if isinstance(value, str) and limit else value
    values["last_connected_at"] = now if now is not None else timezone.now()
    return Device.objects.filter(pk=device_id).update(**values) == 1


def save_device_status(
    device_id: int,
    *,
    online: bool,
    return_code: int | None,
    op: str,
    detail: str = "",
    last_activity: datetime | None = None,
) -> bool:
    """Upsert the DB status mirror; None *last_activity* keeps the stored one. False if no device."""
    _fresh_connection()
    if not Device.objects.filter(pk=device_id).exists():
        return False
    defaults: dict[str, object] = {
        "online": online,
        "last_return_code": return_code,
        "last_op": op[:32],
        "detail": detail[:200],
    }
    if last_activity is not None:
        defaults["last_activity"] = last_activity
    DeviceStatus.objects.update_or_create(device_id=device_id, defaults=defaults)
    return True


def disable_device(device_id: int, reason: str) -> bool:
    """Disable the device (legacy: wrong panel type) and note why; True if it was enabled."""
    _fresh_connection()
    with transaction.atomic():
        changed = Device.objects.filter(pk=device_id, enabled=True).update(enabled=False) == 1
        save_device_status(
            device_id,
            online=False,
            return_code=AppReturnCode.DISABLED,
            op="DISABLED",
            detail=reason,
        )
    return changed


# -- helpers ---------------------------------------------------------------------------------------
def _fresh_connection() -> None:
    # Inside a caller's transaction (tests, a batch of calls) the connection must stay as is.
    if not connection.in_atomic_block:
        close_old_connections()


_DEVICE_ZONE_SQL: Final = (
    f"SELECT {Device._meta.get_field('timezone').column} FROM {Device._meta.db_table} "  # noqa: S608 model identifiers
    f"WHERE {Device._meta.pk.column} = %s"
)


def _zone(device_id: int, tz_name: str | None) -> ZoneInfo:
    # The lookup also proves the device exists: an insert for a removed device would fail
    # with an IntegrityError, which a retrying caller would retry forever.
    # Plain SQL: this runs for every write job, and the ORM's query compilation cost ten
    # times the query itself (28 % of the DB thread at 1,000 panels, py-spy).
    with connection.cursor() as cursor:
        cursor.execute(_DEVICE_ZONE_SQL, [device_id])
        row = cursor.fetchone()
    stored = row[0] if row is not None else None
    if stored is None:
        raise DeviceNotFoundError(f"device {device_id} does not exist")
    name = tz_name or stored
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"device {device_id}: unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class _Table:
    """One table's INSERT target: quoted name and columns, and its COPY staging table."""

    name: str
    columns: tuple[str, ...]
    order_by: str  # staged rows go in in this order (ids follow panel time)

    @classmethod
    def of(cls, model: type[Model], fields: Sequence[str], order_by: str) -> _Table:
        column_of = {field.name: str(field.column) for field in model._meta.concrete_fields}
        return cls(model._meta.db_table, tuple(column_of[name] for name in fields), order_by)


# DeviceEventLog / DeviceRealtimeLog columns in the order `_insert_events` and
# `write_realtime_lines` build their rows.
_EVENT_TABLE: Final = _Table.of(
    DeviceEventLog, ("device", *KEY_FIELDS, "source", "description", "created_at"), "time"
)
_REALTIME_TABLE: Final = _Table.of(
    DeviceRealtimeLog,
    (
        "device",
        "received_at",
        "seq",
        "line",
        "time",
        "pin",
        "card_no",
        "door",
        "event_type",
        "inout",
        "verified",
        "is_status",
    ),
    "seq",
)
# Engines with INSERT ... ON CONFLICT DO NOTHING (SQLite >= 3.24, PostgreSQL): the database
# skips the duplicates itself and says how many rows it added. Others use the ORM path.
_FAST_VENDORS: Final = frozenset({"postgresql", "sqlite"})
# From this many rows on, PostgreSQL gets them by COPY into a temporary staging table and one
# INSERT ... SELECT; fewer (a real-time poll) go in one multi-row INSERT, one round trip.
COPY_THRESHOLD: Final = 64
_Row = tuple[Any, ...]  # one row's column values, in its _Table's column order
_stage_types: dict[str, list[int]] = {}  # staging table -> column type OIDs, for binary COPY


def _insert_events(
    device_id: int, ordered: Sequence[EventFields], source: str, batch_size: int
) -> int:
    if not ordered:
        return 0
    if connection.vendor not in _FAST_VENDORS:
        return _insert_events_orm(device_id, ordered, source, batch_size)
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())  # what auto_now_add would set
    rows = [
        (
            device_id,
            adapt(item.time),
            item.pin,
            item.card_no,
            item.verified,
            item.state,
            item.event_type,
            item.event_point_type,
            item.event_point_id,
            item.trigger_opt,
            source,
            item.description,
            now,
        )
        for item in ordered
    ]
    return _insert_new(_EVENT_TABLE, rows, batch_size)


def _insert_new(table: _Table, rows: Sequence[_Row], batch_size: int) -> int:
    """INSERT *rows*, skipping those that hit a unique key; returns how many were added."""
    if not rows:
        return 0
    quote = connection.ops.quote_name
    name = quote(table.name)
    columns = ", ".join(quote(column) for column in table.columns)
    one = "(" + ", ".join(["%s"] * len(table.columns)) + ")"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # executemany runs one prepared statement in C; rowcount sums the rows added.
            cursor.executemany(
                f"INSERT INTO {name} ({columns}) VALUES {one} ON CONFLICT DO NOTHING",  # noqa: S608 quoted identifiers
                rows,
            )
            return int(cursor.rowcount)
        if len(rows) < COPY_THRESHOLD:
            cursor.execute(
                f"INSERT INTO {name} ({columns}) VALUES {', '.join([one] * len(rows))} "  # noqa: S608 quoted identifiers
                "ON CONFLICT DO NOTHING",
                [value for row in rows for value in row],
            )
            return int(cursor.rowcount)
        return _copy_insert(cursor, table, rows, name=name, columns=columns, step=batch_size)


def _copy_insert(
    cursor: Any, table: _Table, rows: Sequence[_Row], *, name: str, columns: str, step: int
) -> int:
    # PostgreSQL: COPY is the cheapest way in (no per-row parameters), but COPY cannot skip
    # duplicates, so it fills a per-connection temporary table which one statement empties
    # into the real one. ON COMMIT DELETE ROWS truncates the staging table at commit, so it
    # never grows (autovacuum does not visit temporary tables).
    # In autocommit the staging rows would vanish right after COPY and every row would count
    # as a duplicate: both callers wrap this in atomic(); keep it that way.
    if not connection.in_atomic_block:
        raise RuntimeError("_copy_insert must run inside transaction.atomic()")
    stage = connection.ops.quote_name(f"{table.name}_stage")
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608 quoted identifiers
        f"SELECT {columns} FROM {name} WITH NO DATA"
    )
    move = (
        f"WITH moved AS (DELETE FROM {stage} RETURNING {columns}) "  # noqa: S608 quoted identifiers
        f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved "
        f"ORDER BY {connection.ops.quote_name(table.order_by)} ON CONFLICT DO NOTHING"
    )
    types = _stage_types.get(table.name)
    if types is None:
        cursor.execute(
            "SELECT atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            [f"pg_temp.{table.name}_stage"],
        )
        types = _stage_types[table.name] = [int(row[0]) for row in cursor.fetchall()]
    stored = 0
    step = max(step, COPY_THRESHOLD)
    for start in range(0, len(rows), step):
        # Binary: no text formatting here and no parsing on the server (half the client CPU
        # of text COPY per row, measured).
        with cursor.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows[start : start + step]:
                copy.write_row(row)
        cursor.execute(move)
        stored += int(cursor.rowcount)
    return stored


def _insert_events_orm(
    device_id: int, ordered: Sequence[EventFields], source: str, batch_size: int
) -> int:
    # Other engines: skip the keys already stored, then bulk_create (exact while this process
    # is the only writer; ignore_conflicts keeps the rows right if another writer races).
    stored = 0
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        known = {
            tuple(row)
            for row in DeviceEventLog.objects.filter(
                device_id=device_id, time__gte=chunk[0].time, time__lte=chunk[-1].time
            ).values_list(*KEY_FIELDS)
        }
        new = [item for item in chunk if item.key() not in known]
        DeviceEventLog.objects.bulk_create(
            [_event_row(device_id, item, source) for item in new],
            batch_size=batch_size,
            ignore_conflicts=True,
        )
        stored += len(new)
    return stored


def _insert_realtime_orm(
    device_id: int, items: Sequence[RealtimeLine], zone: ZoneInfo, batch_size: int
) -> int:
    stored = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        known = set(
            DeviceRealtimeLog.objects.filter(
                device_id=device_id, received_at__in={line.received_at for line in chunk}
            ).values_list("received_at", "seq")
        )
        new = [line for line in chunk if (line.received_at, line.seq) not in known]
        DeviceRealtimeLog.objects.bulk_create(
            [_realtime_row(device_id, line, zone) for line in new],
            batch_size=batch_size,
            ignore_conflicts=True,
        )
        stored += len(new)
    return stored


def _event_row(device_id: int, item: EventFields, source: str) -> DeviceEventLog:
    return DeviceEventLog(
        device_id=device_id,
        time=item.time,
        pin=item.pin,
        card_no=item.card_no,
        verified=item.verified,
        state=item.state,
        event_type=item.event_type,
        event_point_type=item.event_point_type,
        event_point_id=item.event_point_id,
        trigger_opt=item.trigger_opt,
        source=source,
        description=item.description,
    )


def _realtime_row(device_id: int, line: RealtimeLine, zone: ZoneInfo) -> DeviceRealtimeLog:
    return DeviceRealtimeLog(
        device_id=device_id,
        received_at=line.received_at,
        seq=line.seq,
        line=line.line[:255],
        time=to_utc(line.time, zone) if line.time is not None else None,
        pin=line.pin,
        card_no=line.card,
        door=line.door,
        event_type=line.event_type,
        inout=line.inout,
        verified=line.verified,
        is_status=line.is_status,
    )


def _quarantine(device_id: int, source: str, bad: Mapping[str, str]) -> tuple[str, ...]:
    """Store the new ones of *bad* (raw line -> reason); return their reasons."""
    if not bad:
        return ()
    known = set(
        QuarantinedRecord.objects.filter(
            device_id=device_id, source=source, raw__in=list(bad)
        ).values_list("raw", flat=True)
    )
    new = [
        QuarantinedRecord(device_id=device_id, source=source, raw=raw, reason=reason[:200])
        for raw, reason in bad.items()
        if raw not in known
    ]
    QuarantinedRecord.objects.bulk_create(new, ignore_conflicts=True)
    return tuple(row.reason for row in new)


def _requeue(command_id: int, return_code: int, content: str) -> bool:
    try:
        with transaction.atomic():
            return (
                DeviceCommand.objects.filter(pk=command_id, status=CommandStatus.RUNNING).update(
                    status=CommandStatus.PENDING, return_code=return_code, return_content=content
                )
                == 1
            )
    except IntegrityError:
        # The unique-pending constraint: an identical command is already queued.
        DeviceCommand.objects.filter(pk=command_id, status=CommandStatus.RUNNING).update(
            status=CommandStatus.CANCELLED,
            return_code=return_code,
            return_content=f"{content}; superseded by an identical pending command".lstrip("; "),
            over_time=timezone.now(),
        )
        return False

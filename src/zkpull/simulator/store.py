"""Compact table storage for simulated panels.

The transaction table dominates memory (100,000 rows per panel, ~2,000 panels in a benchmark),
so it is a ring of packed 16-byte records in one bytearray, grown lazily. Every other table is
a dict keyed by its primary key: an upsert is then O(1), and dict order is insertion order,
which is the firmware's "delete the old row, append the new one" (§6.5).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

from zkpull.protocol.tables import INTEGER_TYPES, TEXT_TYPES, Table, Value

TRANSACTION_RECORD: Final = struct.Struct("<IIBBBBI")  # card, pin, verify, door, event, inout, time
RECORD_SIZE: Final = TRANSACTION_RECORD.size
RECENT_SECONDS: Final = 64  # duplicate checks this close to the newest event are cheap
Row = tuple[Value, ...]


class TransactionLog:
    """Transactions as a ring of packed records; the oldest is overwritten when full.

    Records carry a sequence number (`first_seq` .. `end_seq - 1`) that never goes back, so a
    read pointer saved as a sequence number stays meaningful when old records are dropped.
    Invariant: while not full the ring starts at offset 0 (`_head == 0`).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("transaction capacity must be positive")
        self.capacity = capacity
        self.end_seq = 0  # sequence number the next record gets
        self._buffer = bytearray()
        self._head = 0  # ring position of the oldest record once full
        self._count = 0
        self.newest = -1  # newest packed time added
        self._recent: dict[int, bytearray] = {}  # records of the last RECENT_SECONDS, by time

    def __len__(self) -> int:
        return self._count

    @property
    def first_seq(self) -> int:
        return self.end_seq - self._count

    def append(self, record: bytes) -> int:
        """Store one packed record, dropping the oldest when full; return its sequence number."""
        if self._count < self.capacity:
            self._buffer += record
            self._count += 1
        else:
            start = self._head * RECORD_SIZE
            self._buffer[start : start + RECORD_SIZE] = record
            self._head = (self._head + 1) % self.capacity
        self.end_seq += 1
        return self.end_seq - 1

    def seen(self, packed: int, record: bytes) -> bool:
        """Whether *record* (packed time *packed*) is stored: O(1) near the newest time, else a scan.

        Deleted or overwritten records may still count as seen; that only costs a moved second.
        """
        if packed > self.newest:
            return False
        if packed > self.newest - RECENT_SECONDS:
            return contains_record(self._recent.get(packed, b""), record)
        return self.contains(record)  # the clock went back a long way (rare)

    def add(self, packed: int, record: bytes) -> int:
        """`append`, keeping the index `seen` uses; return the sequence number."""
        self._recent.setdefault(packed, bytearray()).extend(record)
        if packed > self.newest:
            self.newest = packed
            if len(self._recent) > 2 * RECENT_SECONDS:  # prune in batches: amortised O(1)
                floor = packed - RECENT_SECONDS
                self._recent = {t: bucket for t, bucket in self._recent.items() if t > floor}
        return self.append(record)

    def contains(self, record: bytes) -> bool:
        """Whether an identical record is stored (a C-speed scan; used only off the fast path)."""
        return contains_record(self._buffer, record)

    def packed(self, start_seq: int | None = None) -> bytes:
        """The records from *start_seq* (clamped to what is stored) to the end, oldest first."""
        skip = 0 if start_seq is None else min(max(start_seq - self.first_seq, 0), self._count)
        if self._head == 0:
            return bytes(self._buffer[skip * RECORD_SIZE :])
        split = self._head * RECORD_SIZE
        ordered = self._buffer[split:] + self._buffer[:split]
        return bytes(ordered[skip * RECORD_SIZE :])

    def rows(self, start_seq: int | None = None) -> Iterator[tuple[int, ...]]:
        """Unpacked rows in schema field order (Cardno, Pin, Verified, DoorID, EventType, ...)."""
        return TRANSACTION_RECORD.iter_unpack(self.packed(start_seq))

    def clear(self) -> None:
        self._buffer = bytearray()
        self._head = self._count = 0

    def delete_where(self, matches: Callable[[tuple[int, ...]], bool]) -> int:
        """Drop every record *matches* accepts; return how many went."""
        kept = bytearray()
        removed = 0
        for row in self.rows():
            if matches(row):
                removed += 1
            else:
                kept += TRANSACTION_RECORD.pack(*row)
        self._buffer, self._head, self._count = kept, 0, self._count - removed
        return removed


def contains_record(buffer: bytes | bytearray, record: bytes) -> bool:
    """Whether *buffer*, a run of packed records, holds *record* at a record boundary."""
    position = buffer.find(record)
    while position != -1:
        if position % RECORD_SIZE == 0:
            return True
        position = buffer.find(record, position + 1)
    return False


class CapacityError(Exception):
    """The table is full (the panel answers -18)."""


class RowTable:
    """One non-transaction table: full-schema rows keyed by their primary key."""

    def __init__(self, table: Table, key_names: Sequence[str], capacity: int) -> None:
        self.table = table
        self.capacity = capacity
        self.defaults: Row = tuple(default_value(field.type) for field in table.fields)
        self._index = {field.id: i for i, field in enumerate(table.fields)}
        self._key = tuple(self._index[table.field(name).id] for name in key_names)
        self._rows: dict[Row, Row] = {}
        self.version = 0  # bumped on every change, so callers can cache derived views

    def __len__(self) -> int:
        return len(self._rows)

    def position(self, field_id: int) -> int | None:
        """Index of field *field_id* in a stored row, None when the table has no such field."""
        return self._index.get(field_id)

    def rows(self) -> Iterable[Row]:
        return self._rows.values()

    def make_row(self, values: dict[int, Value]) -> Row:
        """A full row from {field id: value}; fields not given take their default."""
        row = list(self.defaults)
        for field_id, value in values.items():
            row[self._index[field_id]] = value
        return tuple(row)

    def upsert(self, rows: Sequence[Row]) -> None:
        """Replace rows with the same key, append the rest; all or nothing on CapacityError."""
        new_keys = {self._key_of(row) for row in rows} - self._rows.keys()
        if len(self._rows) + len(new_keys) > self.capacity:
            raise CapacityError(f"{self.table.name} holds at most {self.capacity} rows")
        for row in rows:
            key = self._key_of(row)
            self._rows.pop(key, None)  # delete, then append: the firmware's order
            self._rows[key] = row
        self.version += 1

    def delete(self, positions: Sequence[int], keys: Iterable[Sequence[Value]]) -> int:
        """Drop rows matching all *positions* of any key tuple; return how many went."""
        wanted = {tuple(key) for key in keys}
        if tuple(positions) == self._key:
            doomed = [key for key in wanted if key in self._rows]
        else:
            doomed = [
                key for key, row in self._rows.items() if tuple(row[p] for p in positions) in wanted
            ]
        for key in doomed:
            del self._rows[key]
        self.version += 1
        return len(doomed)

    def clear(self) -> None:
        self._rows.clear()
        self.version += 1

    def _key_of(self, row: Row) -> Row:
        return tuple(row[p] for p in self._key)


def default_value(field_type: str) -> Value:
    """What a field holds when a SETDATA does not name it."""
    if field_type in INTEGER_TYPES:
        return 0
    if field_type in TEXT_TYPES:
        return ""
    return b""

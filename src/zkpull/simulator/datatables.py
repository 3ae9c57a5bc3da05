"""GETDATA / SETDATA / DELETEDATA / GETDATACOUNT / GET_DATA_OK against a FakePanel (fact sheet §6).

Payloads are parsed and replies encoded by `zkpull.protocol.tables`; this module only decides
which rows match. Malformed payloads surface as MessageError (the connection answers -11).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Final

from zkpull.protocol.tables import (
    TEXT_TYPES,
    Field,
    RecordDecoder,
    Table,
    Value,
    decode_delete_data,
    decode_get_data,
    decode_value,
    encode_records,
)

from .layouts import TRANSACTION_TABLE
from .model import RefusalError
from .panel import FakePanel
from .store import CapacityError

LEGACY_FIELD_LIMIT: Final = 10  # legacy firmware rejects SETDATA values longer than this
Projector = Callable[[Sequence[Value]], tuple[Value, ...]]


def get_data(panel: FakePanel, payload: bytes) -> bytes:
    """The GETDATA reply data: echoed header, then the matching rows' requested fields."""
    request = decode_get_data(payload)
    table = _table(panel, request.table_id)
    positions = _positions(table)
    project = _projector([positions.get(field_id) for field_id in request.field_ids])
    condition_ids = [field_id for field_id, _ in request.conditions]
    where, wanted = _typed(table, positions, condition_ids, [[v for _, v in request.conditions]])
    rows: Iterable[Sequence[Value]]
    if table.name == TRANSACTION_TABLE:
        log = panel.transactions
        rows = log.rows(panel.read_pointer if request.new_only else None)
        # GET_DATA_OK commits the pointer to the end of what this read covered.
        panel.pending_pointer = log.end_seq
    else:
        rows = panel.table(table.name).rows()
    if where:
        rows = (row for row in rows if _matches(row, where, wanted))
    return encode_records(request.table_id, request.field_ids, map(project, rows))


def set_data(panel: FakePanel, payload: bytes) -> None:
    """Upsert the records of a SETDATA on their table's primary key."""
    decoder = RecordDecoder()
    raws = decoder.feed(payload)
    decoder.finish()  # raises unless a whole header and whole records arrived
    table = _table(panel, decoder.table_id or 0)
    if table.name == TRANSACTION_TABLE:
        raise RefusalError(-11, "the transaction table is written by the panel only")
    fields = [_field(table, field_id) for field_id in decoder.field_ids]
    legacy = not panel.session_firmware
    store = panel.table(table.name)
    rows = []
    for raw in raws:
        if legacy and any(len(value) > LEGACY_FIELD_LIMIT for value in raw):
            raise RefusalError(-11, "legacy firmware takes field values of at most 10 bytes")
        values = {f.id: _decode(f, value) for f, value in zip(fields, raw, strict=True)}
        rows.append(store.make_row(values))
    try:
        store.upsert(rows)
    except CapacityError as exc:
        raise RefusalError(-18, str(exc)) from exc


def delete_data(panel: FakePanel, payload: bytes) -> int:
    """Delete rows matching all condition fields of any key tuple; no fields clears the table."""
    table_id, field_ids, keys = decode_delete_data(payload)
    table = _table(panel, table_id)
    is_log = table.name == TRANSACTION_TABLE
    if not field_ids:
        count = len(panel.transactions) if is_log else len(panel.table(table.name))
        panel.transactions.clear() if is_log else panel.table(table.name).clear()
        return count
    positions = _positions(table)
    where, wanted = _typed(table, positions, list(field_ids), keys)
    if is_log:
        wanted_set = set(wanted)
        return panel.transactions.delete_where(
            lambda row: tuple(row[p] for p in where) in wanted_set
        )
    return panel.table(table.name).delete(where, wanted)


def count_data(panel: FakePanel, payload: bytes) -> bytes:
    """GETDATACOUNT reply: the table's row count as u32 LE."""
    if not payload:
        raise RefusalError(-11, "GETDATACOUNT needs a table id")
    table = _table(panel, payload[0])
    count = (
        len(panel.transactions) if table.name == TRANSACTION_TABLE else len(panel.table(table.name))
    )
    return count.to_bytes(4, "little")


def commit_read(panel: FakePanel, payload: bytes) -> None:
    """GET_DATA_OK: move the transaction read pointer to the end of the last read."""
    if not payload:
        raise RefusalError(-11, "GET_DATA_OK needs a table id")
    table = _table(panel, payload[0])
    if table.name == TRANSACTION_TABLE and panel.pending_pointer is not None:
        panel.read_pointer, panel.pending_pointer = panel.pending_pointer, None


def _decode(field: Field, raw: bytes) -> Value:
    # Text must be UTF-8 so that it is sent back byte for byte (the codec re-encodes str).
    if field.type in TEXT_TYPES:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusalError(-11, f"{field.name} is not UTF-8 text") from exc
    return decode_value(field.type, raw)


def _table(panel: FakePanel, table_id: int) -> Table:
    table = panel.table_by_id(table_id)
    if table is None:
        raise RefusalError(-11, f"no table {table_id}")
    return table


def _field(table: Table, field_id: int) -> Field:
    for field in table.fields:
        if field.id == field_id:
            return field
    raise RefusalError(-11, f"table {table.name} has no field {field_id}")


def _positions(table: Table) -> dict[int, int]:
    return {field.id: i for i, field in enumerate(table.fields)}


def _projector(positions: list[int | None]) -> Projector:
    if None in positions:
        # Unknown field ids are answered with an empty value (a single 00 byte).
        return lambda row: tuple(row[p] if p is not None else "" for p in positions)
    known = [p for p in positions if p is not None]
    if len(known) == 1:
        only = known[0]
        return lambda row: (row[only],)
    return itemgetter(*known)


def _typed(
    table: Table, positions: dict[int, int], field_ids: list[int], keys: Iterable[Sequence[bytes]]
) -> tuple[list[int], list[tuple[Value, ...]]]:
    """Condition field positions and the key tuples decoded by the fields' types."""
    if not field_ids:
        return [], []
    fields = [_field(table, field_id) for field_id in field_ids]
    where = [positions[field_id] for field_id in field_ids]
    wanted = [
        tuple(decode_value(f.type, raw) for f, raw in zip(fields, key, strict=True)) for key in keys
    ]
    return where, wanted


def _matches(row: Sequence[Value], where: list[int], wanted: list[tuple[Value, ...]]) -> bool:
    return tuple(row[p] for p in where) in wanted

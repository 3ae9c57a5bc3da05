"""Data tables: schema text (0x06) and GETDATA / SETDATA / DELETEDATA / GETDATACOUNT (§6).

A record on the wire is, for every requested field, `[len u8][value]`: integers in the fewest
little-endian bytes (zero is `01 00`), strings raw without terminator. Replies carry no record
count, so `RecordDecoder` parses until the data ends, and accepts the data in any chunking,
because large tables arrive through the big-data transfer in pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import MessageError

Value = int | str | bytes
INTEGER_TYPES = frozenset("i")
TEXT_TYPES = frozenset("sS")
KNOWN_TYPES = frozenset("isSBbL")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: (
        str  # i integer, s string, S long string, B/b byte stream (template); L seen on some panels
    )
    id: int


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    id: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        """The field called *name* (case-insensitive); raises KeyError."""
        for field in self.fields:
            if field.name.lower() == name.lower():
                return field
        raise KeyError(f"table {self.name} has no field {name!r}")

    def select(self, names: Iterable[str] | None) -> tuple[Field, ...]:
        """The fields named in *names*, or all of them for None / `*`."""
        if names is None:
            return self.fields
        chosen = [name for name in names if name != "*"]
        return tuple(self.field(name) for name in chosen) if chosen else self.fields


@dataclass(frozen=True, slots=True)
class GetDataRequest:
    table_id: int
    field_ids: tuple[int, ...]
    new_only: bool = False
    conditions: tuple[tuple[int, bytes], ...] = ()


# -- schema ---------------------------------------------------------------------------------
def decode_table_struct(payload: bytes) -> dict[str, Table]:
    """Parse `name=id,Field=<type><id>,...` lines into tables keyed by name."""
    try:
        text = payload.decode("ascii").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise MessageError("table structure is not ASCII") from exc
    tables: dict[str, Table] = {}
    for line in text.replace("\r", "").split("\n"):
        if not line.strip():
            continue
        head, *items = line.strip().rstrip(",").split(",")
        name, table_id = _pair(head, line)
        fields = []
        for item in items:
            field_name, spec = _pair_text(item, line)
            if len(spec) < 2 or spec[0] not in KNOWN_TYPES or not _is_byte(spec[1:]):
                raise MessageError(f"bad field spec {item!r} in table line {line!r}")
            fields.append(Field(field_name, spec[0], int(spec[1:])))
        tables[name] = Table(name, table_id, tuple(fields))
    return tables


def encode_table_struct(tables: Iterable[Table]) -> bytes:
    """The schema text a panel sends (simulator side); every line ends with LF."""
    lines = []
    for table in tables:
        items = [f"{table.name}={table.id}"] + [f"{f.name}={f.type}{f.id}" for f in table.fields]
        lines.append(",".join(items) + "\n")
    return "".join(lines).encode("ascii")


# -- values -----------------------------------------------------------------------------------
def encode_value(value: Value) -> bytes:
    """`[len][value]` for one field value."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"integer field value {value} does not fit a u32")
        size = max(1, (value.bit_length() + 7) // 8)
        return bytes((size,)) + value.to_bytes(size, "little")
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) > 0xFF:
        # The >255-byte length prefix of B/S fields is not documented (§12): refuse, don't guess.
        raise ValueError(f"field value of {len(raw)} bytes exceeds the 255-byte length prefix")
    return bytes((len(raw),)) + raw


def decode_value(field_type: str, raw: bytes) -> Value:
    """Interpret one raw field value by its schema type."""
    if field_type in INTEGER_TYPES:
        if len(raw) > 4:
            raise MessageError(f"integer field of {len(raw)} bytes")
        return int.from_bytes(raw, "little")
    if field_type in TEXT_TYPES:
        return raw.decode("utf-8", errors="replace")
    return raw


def coerce_value(field: Field, value: object) -> Value:
    """Turn text from a user or the legacy grammar into a wire value for *field*."""
    if field.type in INTEGER_TYPES:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text == "":
            return 0
        if not text.isdigit():
            raise ValueError(f"{field.name} takes an unsigned integer, got {value!r}")
        return int(text)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value)


# -- GETDATA ------------------------------------------------------------------------------------
def encode_get_data(request: GetDataRequest) -> bytes:
    """GETDATA request: fields, the 'new records only' table parameter, equality conditions."""
    if not request.field_ids or len(request.field_ids) > 0xFF:
        raise ValueError("GETDATA needs 1..255 field ids")
    out = bytearray((request.table_id, len(request.field_ids), *request.field_ids))
    out += b"\x01\x01" if request.new_only else b"\x00"
    out.append(len(request.conditions))
    out += bytes(field_id for field_id, _ in request.conditions)
    for _, value in request.conditions:
        if len(value) > 0xFF:
            raise ValueError("condition value longer than 255 bytes")
        out += bytes((len(value),)) + value
    return bytes(out)


def decode_get_data(payload: bytes) -> GetDataRequest:
    """Parse a GETDATA request (simulator side)."""
    view = _Reader(payload)
    table_id = view.byte()
    field_ids = tuple(view.take(view.byte()))
    params = view.byte()
    if params:
        view.take(params)
    count = view.byte()
    ids = tuple(view.take(count))
    conditions = tuple((field_id, view.take(view.byte())) for field_id in ids)
    return GetDataRequest(table_id, field_ids, bool(params), conditions)


def encode_records(
    table_id: int, field_ids: Sequence[int], rows: Iterable[Sequence[Value]]
) -> bytes:
    """`[tid][n][ids]` then each row's `[len][value]` per field: a GETDATA reply or SETDATA."""
    out = bytearray((table_id, len(field_ids), *field_ids))
    for row in rows:
        if len(row) != len(field_ids):
            raise ValueError(f"row has {len(row)} values for {len(field_ids)} fields")
        for value in row:
            out += encode_value(value)
    return bytes(out)


class RecordDecoder:
    """Stream-decode the records of a GETDATA reply (or SETDATA request) fed in any chunks."""

    def __init__(self, expected: GetDataRequest | None = None) -> None:
        self._expected = expected
        self._buffer = bytearray()
        self.table_id: int | None = None
        self.field_ids: tuple[int, ...] = ()
        self.records = 0

    def feed(self, data: bytes) -> list[tuple[bytes, ...]]:
        """Buffer *data*; return every record it completes, as raw field values."""
        self._buffer += data
        if self.table_id is None and not self._read_header():
            return []
        # One pass over an immutable copy, one deletion per chunk: a 100,000-row download
        # arrives in ~400 chunks, and slicing bytes is cheaper than bytearray bookkeeping.
        buffer = bytes(self._buffer)
        end = len(buffer)
        fields = len(self.field_ids)
        rows: list[tuple[bytes, ...]] = []
        offset = 0
        while offset < end:
            position, values = offset, []
            for _ in range(fields):
                if position >= end:
                    break
                stop = position + 1 + buffer[position]
                if stop > end:
                    break
                values.append(buffer[position + 1 : stop])
                position = stop
            else:
                rows.append(tuple(values))
                offset = position
                continue
            break  # an incomplete record: wait for more data
        del self._buffer[:offset]
        self.records += len(rows)
        return rows

    def finish(self) -> None:
        """Raise MessageError if the data ended in the middle of a record (or its header)."""
        if self.table_id is None or self._buffer:
            raise MessageError(f"table data ended with {len(self._buffer)} undecodable bytes")

    def _read_header(self) -> bool:
        if len(self._buffer) < 2 or len(self._buffer) < 2 + self._buffer[1]:
            return False
        table_id, count = self._buffer[0], self._buffer[1]
        field_ids = tuple(self._buffer[2 : 2 + count])
        expected = self._expected
        if expected is not None and (table_id, field_ids) != (
            expected.table_id,
            expected.field_ids,
        ):
            raise MessageError(
                f"reply is for table {table_id} fields {field_ids}, "
                f"asked table {expected.table_id} fields {expected.field_ids}"
            )
        if count == 0:
            raise MessageError("table data names no fields")
        del self._buffer[: 2 + count]
        self.table_id, self.field_ids = table_id, field_ids
        return True


def decode_row(fields: Sequence[Field], raw: Sequence[bytes]) -> dict[str, Value]:
    """Name and type the raw values of one record."""
    return {
        field.name: decode_value(field.type, value)
        for field, value in zip(fields, raw, strict=True)
    }


# -- DELETEDATA / GETDATACOUNT ------------------------------------------------------------------
def encode_delete_data(
    table_id: int, field_ids: Sequence[int], keys: Iterable[Sequence[Value]]
) -> bytes:
    """`[tid][c][ids]` then key tuples; no fields means "clear the whole table"."""
    out = bytearray((table_id, len(field_ids), *field_ids))
    for key in keys:
        if len(key) != len(field_ids):
            raise ValueError("each key needs one value per condition field")
        for value in key:
            out += encode_value(value)
    return bytes(out)


def decode_delete_data(payload: bytes) -> tuple[int, tuple[int, ...], list[tuple[bytes, ...]]]:
    """Parse a DELETEDATA request (simulator side)."""
    decoder = RecordDecoder()
    if len(payload) >= 2 and payload[1] == 0:
        return payload[0], (), []
    keys = decoder.feed(payload)
    if decoder.table_id is None:
        raise MessageError(f"DELETEDATA request of {len(payload)} bytes lacks its header")
    decoder.finish()
    return decoder.table_id, decoder.field_ids, keys


def decode_count(payload: bytes) -> int:
    """GETDATACOUNT reply: u32 LE."""
    if len(payload) < 4:
        raise MessageError(f"count reply of {len(payload)} bytes, need 4")
    return int.from_bytes(payload[:4], "little")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def byte(self) -> int:
        return self.take(1)[0]

    def take(self, size: int) -> bytes:
        if self._offset + size > len(self._data):
            raise MessageError(f"request ends after {len(self._data)} bytes")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk


def _pair(item: str, line: str) -> tuple[str, int]:
    name, value = _pair_text(item, line)
    if not _is_byte(value):
        raise MessageError(f"table id {value!r} is not a number 0..255 in {line!r}")
    return name, int(value)


def _is_byte(text: str) -> bool:
    # Table and field ids travel as single bytes in every request; the length check comes
    # first so a hostile 5,000-digit id never reaches int() (which refuses it with ValueError).
    return 0 < len(text) <= 3 and text.isascii() and text.isdigit() and int(text) <= 0xFF


def _pair_text(item: str, line: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    name = name.strip()  # before the check: a name of blanks (a form feed, say) is no name
    if not sep or not name:
        raise MessageError(f"item {item!r} is not name=value in table line {line!r}")
    return name, value.strip()


def row_values(table: Table, fields: Sequence[Field], row: Mapping[str, object]) -> list[Value]:
    """Order and coerce a user's row (names case-insensitive) into wire values for *fields*."""
    lowered = {name.lower(): value for name, value in row.items()}
    unknown = set(lowered) - {field.name.lower() for field in table.fields}
    if unknown:
        raise ValueError(f"table {table.name} has no field(s) {sorted(unknown)}")
    return [coerce_value(field, lowered.get(field.name.lower(), "")) for field in fields]

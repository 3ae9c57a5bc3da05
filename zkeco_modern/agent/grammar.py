"""The legacy command grammar of `devcmds.CmdContent` (parity doc §1.4), as typed operations.

`parse_command(text)` returns one frozen operation or raises `CommandSyntaxError` (a
ValueError) with the reason; it never raises anything else, whatever the text. `to_text(op)`
writes the canonical form, and `parse_command(to_text(op)) == op` for every operation.
Operations validate themselves when constructed, so a hand-built one is as safe as a parsed one.

Text rules, as the legacy web wrote them:
- words are separated by blanks; verbs are case-insensitive (`DEVICE SET` == `device set`);
- table names are the legacy ones (matched case-insensitively, kept in their legacy spelling);
- `DATA UPDATE/DELETE <table> <rows>`: `Key=Value` items separated by TAB, records by CRLF
  or LF; surrounding blanks of keys and values are not significant;
- `DATA QUERY <table> <fields> [<filter>] [NewRecord]`: parts separated by spaces; fields are
  `*` or names separated by TAB, comma or semicolon; the filter is TAB-separated `Key=Value`;
- `SET OPTION k=v,k=v` / `OPTION GET a,b`: comma-separated, names are ASCII (`~` allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final, TypeAlias, assert_never

from zkpull.protocol.errors import MessageError
from zkpull.protocol.timecodec import decode_time

# Tables the legacy web addressed (parity doc §1.4) plus the event table.
TABLES: Final = (
    "user",
    "userauthorize",
    "templatev10",
    "fingerprint",
    "usertype",
    "timezone",
    "holiday",
    "firstcard",
    "multimcard",
    "inoutfun",
    "losscard",
    "wiegandfmt",
    "DSTSetting",
    "transaction",
)
READ_ONLY_TABLES: Final = frozenset({"transaction"})
QUERY_OPTIONS: Final = ("NewRecord",)
DOORS: Final = range(1, 5)  # C3/inBio panels have 1, 2 or 4 doors
MAX_NAME_LENGTH: Final = 40  # firmware rejects longer parameter names

_TABLES_BY_KEY: Final = {name.lower(): name for name in TABLES}
_OPTIONS_BY_KEY: Final = {name.lower(): name for name in QUERY_OPTIONS}
_NAME = re.compile(r"[~A-Za-z0-9_]+", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)
_BLANKS = re.compile(r"[ \t\r\n]+")
_LINES = re.compile(r"\r\n|\n|\r")
_FIELD_SEPARATORS = re.compile(r"[\t,;]")
# "Pin=1 CardNo=2": items separated by spaces instead of TAB, a common hand-written mistake.
_SPACE_SEPARATED_ITEM = re.compile(r"\s[~A-Za-z_][~A-Za-z0-9_]*=")
_RESERVED_VALUE_CHARS: Final = frozenset("\t\r\n\x00")
# Options whose values the time-sync trio depends on (legacy `sync_time`).
_OPTION_VALUES: Final = {"CurTimeMode": ("1", "2"), "DaylightSavingTimeOn": ("0", "1")}


class CommandSyntaxError(ValueError):
    """The command text is not a valid legacy command; `reason` says why (stored as -1006)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutputKind(IntEnum):
    """Second argument of `DEVICE SET`: which relay (ControlDevice operation 1)."""

    LOCK = 1
    AUX = 2


@dataclass(frozen=True, slots=True)
class Connect:
    VERB: ClassVar[str] = "CONNECT"


@dataclass(frozen=True, slots=True)
class Disconnect:
    VERB: ClassVar[str] = "DISCONNECT"


@dataclass(frozen=True, slots=True)
class DeviceSet:
    """Drive a door lock (kind 1, doors 1..4) or an aux output (kind 2, 1..255).

    value: 0 closes, 1..254 opens for that many seconds, 255 holds open. Aux output numbers
    differ by model (1-4, 6, 8-10 seen), so only the byte range is checked for them.
    """

    VERB: ClassVar[str] = "DEVICE SET"
    number: int
    kind: int
    value: int

    def __post_init__(self) -> None:
        _check_int(self.kind, "DEVICE SET: kind", (OutputKind.LOCK, OutputKind.AUX))
        if self.kind == OutputKind.LOCK:
            _check_int(self.number, "DEVICE SET: door number", DOORS)
        else:
            _check_int(self.number, "DEVICE SET: aux output number", range(1, 256))
        _check_int(self.value, "DEVICE SET: seconds", range(256))


@dataclass(frozen=True, slots=True)
class ControlNormalOpen:
    """`CONTROL NO <door> <0/1>`: disable/enable the door's normal-open (passage) state."""

    VERB: ClassVar[str] = "CONTROL NO"
    door: int
    enable: bool

    def __post_init__(self) -> None:
        _check_int(self.door, "CONTROL NO: door", DOORS)
        if not isinstance(self.enable, bool):
            raise CommandSyntaxError(f"CONTROL NO: enable must be a bool, got {self.enable!r}")


@dataclass(frozen=True, slots=True)
class CancelAlarm:
    """`CANCEL ALARM <door>`; door 0 cancels every door's alarm (the SDK's form)."""

    VERB: ClassVar[str] = "CANCEL ALARM"
    door: int

    def __post_init__(self) -> None:
        _check_int(self.door, "CANCEL ALARM: door", range(5))


@dataclass(frozen=True, slots=True)
class SetOption:
    """`SET OPTION k=v,...` (SetDeviceParam), e.g. the time sync `DateTime=<packed>,CurTimeMode=2`."""

    VERB: ClassVar[str] = "SET OPTION"
    values: dict[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.values, dict):
            raise CommandSyntaxError(f"expected a dict, got {self.values!r}")
        if not self.values:
            raise CommandSyntaxError("SET OPTION needs at least one name=value")
        for name, value in self.values.items():
            _check_name(name, "SET OPTION")
            _check_value(value, f"SET OPTION {name}", forbidden=",")
            if not value.isascii() or not value.isprintable():
                raise CommandSyntaxError(f"SET OPTION {name}: value must be printable ASCII")
            if name == "DateTime":
                _check_packed_time(value)
            allowed = _OPTION_VALUES.get(name)
            if allowed is not None and value not in allowed:
                raise CommandSyntaxError(
                    f"SET OPTION {name}: must be one of {', '.join(allowed)}, got {value!r}"
                )


@dataclass(frozen=True, slots=True)
class OptionGet:
    """`OPTION GET a,b,...` (GetDeviceParam)."""

    VERB: ClassVar[str] = "OPTION GET"
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.names, tuple):
            raise CommandSyntaxError(f"expected a tuple, got {self.names!r}")
        if not self.names:
            raise CommandSyntaxError("OPTION GET needs at least one option name")
        for name in self.names:
            _check_name(name, "OPTION GET")
        _check_unique(self.names, "OPTION GET: option")


@dataclass(frozen=True, slots=True)
class DataUpdate:
    """`DATA UPDATE <table> <rows>` (SetDeviceData): upsert rows of `Key=Value` fields."""

    VERB: ClassVar[str] = "DATA UPDATE"
    table: str
    rows: tuple[dict[str, str], ...]

    def __post_init__(self) -> None:
        _check_table(self.table, self.VERB, writable=True)
        if not isinstance(self.rows, tuple):
            raise CommandSyntaxError(f"expected a tuple, got {self.rows!r}")
        if not self.rows:
            raise CommandSyntaxError(f"DATA UPDATE {self.table}: no rows")
        _check_rows(self.rows, f"DATA UPDATE {self.table}", allow_empty_values=True)


@dataclass(frozen=True, slots=True)
class DataDelete:
    """`DATA DELETE <table> [<rows>]` (DeleteDeviceData); no rows clears the whole table."""

    VERB: ClassVar[str] = "DATA DELETE"
    table: str
    rows: tuple[dict[str, str], ...] = ()

    @property
    def whole_table(self) -> bool:
        return not self.rows

    def __post_init__(self) -> None:
        _check_table(self.table, self.VERB)
        if not isinstance(self.rows, tuple):
            raise CommandSyntaxError(f"DATA DELETE {self.table}: rows must be a tuple")
        _check_rows(self.rows, f"DATA DELETE {self.table}", allow_empty_values=False)


@dataclass(frozen=True, slots=True)
class DataQuery:
    """`DATA QUERY <table> <fields> [<filter>] [NewRecord]` (GetDeviceData).

    No fields means `*`; no filters means every record.
    """

    VERB: ClassVar[str] = "DATA QUERY"
    table: str
    fields: tuple[str, ...] = ()
    filters: dict[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()

    @property
    def new_record(self) -> bool:
        """Only records after the panel's read pointer (`NewRecord`, transaction table)."""
        return "NewRecord" in self.options

    def __post_init__(self) -> None:
        where = f"DATA QUERY {self.table}"
        _check_table(self.table, self.VERB)
        if not isinstance(self.fields, tuple):
            raise CommandSyntaxError(f"{where}: fields must be a tuple")
        for name in self.fields:
            _check_name(name, f"{where}: field")
        _check_unique(self.fields, f"{where}: field")
        if not isinstance(self.filters, dict):
            raise CommandSyntaxError(f"{where}: filters must be a dict")
        if self.filters:
            _check_rows((self.filters,), f"{where}: filter", allow_empty_values=False)
        for key, value in self.filters.items():
            if any(ch.isspace() for ch in value):
                raise CommandSyntaxError(f"{where}: filter value of {key} contains a blank")
        if not isinstance(self.options, tuple):
            raise CommandSyntaxError(f"{where}: options must be a tuple")
        for option in self.options:
            if option not in QUERY_OPTIONS:
                raise CommandSyntaxError(
                    f"{where}: unknown option {option!r} (known: {', '.join(QUERY_OPTIONS)})"
                )
        _check_unique(self.options, f"{where}: option")


@dataclass(frozen=True, slots=True)
class DataCount:
    """`DATA COUNT <table>` (GetDeviceDataCount)."""

    VERB: ClassVar[str] = "DATA COUNT"
    table: str

    def __post_init__(self) -> None:
        _check_table(self.table, self.VERB)


Operation: TypeAlias = (
    Connect
    | Disconnect
    | DeviceSet
    | ControlNormalOpen
    | CancelAlarm
    | SetOption
    | OptionGet
    | DataUpdate
    | DataDelete
    | DataQuery
    | DataCount
)
# Door and relay actions: late is worse than never, so they expire by default.
CONTROL_OPERATIONS: Final = (DeviceSet, ControlNormalOpen, CancelAlarm)

_UNSUPPORTED: Final = {
    ("DEVICE", "GET"): "DEVICE GET is not supported: the legacy service never answered it "
    "(such a command blocked the head of the legacy queue)",
    ("CLEAR", "DATA"): "CLEAR DATA is an attendance-terminal command that panels do not "
    "support; use DATA DELETE <table>",
    ("UPGRADE", "FIRMWARE"): "UPGRADE FIRMWARE is not supported by the agent (the legacy web "
    "process upgraded firmware itself after pausing the device)",
}
_VERBS: Final = (
    "CONNECT, DISCONNECT, DEVICE SET, CONTROL NO, CANCEL ALARM, SET OPTION, OPTION GET, "
    "DATA UPDATE, DATA DELETE, DATA QUERY, DATA COUNT"
)


def is_control(op: Operation) -> bool:
    """Whether *op* drives a door or relay (such commands expire by default)."""
    return isinstance(op, CONTROL_OPERATIONS)


def parse_command(text: str) -> Operation:
    """Parse one legacy command; raises CommandSyntaxError (and only that) with the reason."""
    if not isinstance(text, str):
        raise CommandSyntaxError(f"a command is text, got {type(text).__name__}")
    first, rest = _pop_word(text.strip())
    if not first:
        raise CommandSyntaxError("empty command")
    verb = _keyword(first)
    if verb in ("CONNECT", "DISCONNECT"):
        if rest:
            raise CommandSyntaxError(f"{verb} takes no arguments, got {rest!r}")
        return Connect() if verb == "CONNECT" else Disconnect()
    second, rest = _pop_word(rest)
    pair = (verb, _keyword(second))
    if pair in _UNSUPPORTED:
        raise CommandSyntaxError(_UNSUPPORTED[pair])
    parser = _PARSERS.get(pair)
    if parser is None:
        known_first = any(verb == head for head, _ in (*_PARSERS, *_UNSUPPORTED))
        shown = f"{first} {second}".strip() if known_first else first
        raise CommandSyntaxError(f"unknown command {shown!r}: expected one of {_VERBS}")
    return parser(rest)


def to_text(op: Operation) -> str:
    """The canonical legacy text of *op* (what the legacy web would have written)."""
    match op:
        case Connect() | Disconnect():
            return op.VERB
        case DataCount():
            return f"{op.VERB} {op.table}"
        case DeviceSet():
            return f"{op.VERB} {op.number} {op.kind} {op.value}"
        case ControlNormalOpen():
            return f"{op.VERB} {op.door} {int(op.enable)}"
        case CancelAlarm():
            return f"{op.VERB} {op.door}"
        case SetOption():
            return f"{op.VERB} " + ",".join(f"{key}={value}" for key, value in op.values.items())
        case OptionGet():
            return f"{op.VERB} " + ",".join(op.names)
        case DataUpdate():
            return f"{op.VERB} {op.table} {_rows_text(op.rows)}"
        case DataDelete():
            return f"{op.VERB} {op.table} {_rows_text(op.rows)}".rstrip(" ")
        case DataQuery():
            parts = [op.VERB, op.table, "\t".join(op.fields) or "*"]
            if op.filters:
                parts.append("\t".join(f"{key}={value}" for key, value in op.filters.items()))
            return " ".join([*parts, *op.options])
        case _:
            assert_never(op)


# -- verb parsers ---------------------------------------------------------------------------------
def _parse_device_set(rest: str) -> Operation:
    number, kind, value = _numbers(rest, "DEVICE SET", ("door/aux number", "kind", "seconds"))
    return DeviceSet(number, kind, value)


def _parse_control_no(rest: str) -> Operation:
    door, state = _numbers(rest, "CONTROL NO", ("door", "0/1"))
    if state not in (0, 1):
        raise CommandSyntaxError(f"CONTROL NO: state must be 0 or 1, got {state}")
    return ControlNormalOpen(door, bool(state))


def _parse_cancel_alarm(rest: str) -> Operation:
    (door,) = _numbers(rest, "CANCEL ALARM", ("door",))
    return CancelAlarm(door)


def _parse_set_option(rest: str) -> Operation:
    options: dict[str, str] = {}
    for item in rest.split(","):
        if not item.strip():
            continue  # a trailing comma is harmless
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise CommandSyntaxError(f"SET OPTION: {item.strip()!r} is not name=value")
        if name in options:
            raise CommandSyntaxError(f"SET OPTION: {name} given twice")
        options[name] = value.strip()
    return SetOption(options)


def _parse_option_get(rest: str) -> Operation:
    return OptionGet(tuple(name.strip() for name in rest.split(",") if name.strip()))


def _parse_data_update(rest: str) -> Operation:
    table, rows = _table_and_rest(rest, "DATA UPDATE")
    return DataUpdate(table, _parse_rows(rows, f"DATA UPDATE {table}"))


def _parse_data_delete(rest: str) -> Operation:
    table, rows = _table_and_rest(rest, "DATA DELETE")
    return DataDelete(table, _parse_rows(rows, f"DATA DELETE {table}"))


def _parse_data_query(rest: str) -> Operation:
    table, rest = _table_and_rest(rest, "DATA QUERY")
    tokens = [token for token in _LINES.sub(" ", rest).split(" ") if token.strip()]
    if not tokens:
        raise CommandSyntaxError(f"DATA QUERY {table}: fields missing (use * for all)")
    raw_fields, *others = tokens
    if "=" in raw_fields:
        raise CommandSyntaxError(
            f"DATA QUERY {table}: fields missing before the filter (use * for all)"
        )
    names = [name.strip() for name in _FIELD_SEPARATORS.split(raw_fields) if name.strip()]
    if names == ["*"]:
        names = []
    elif "*" in names:
        raise CommandSyntaxError(f"DATA QUERY {table}: * cannot be combined with field names")
    conditions: dict[str, str] = {}
    options: list[str] = []
    for token in others:
        if "=" in token:
            for row in _parse_rows(token, f"DATA QUERY {table}: filter"):
                for key, value in row.items():
                    if key in conditions:
                        raise CommandSyntaxError(f"DATA QUERY {table}: filter {key} given twice")
                    conditions[key] = value
            continue
        option = _OPTIONS_BY_KEY.get(token.strip().lower())
        if option is None:
            raise CommandSyntaxError(
                f"DATA QUERY {table}: unexpected {token.strip()!r} "
                f"(expected Key=Value filters or {', '.join(QUERY_OPTIONS)})"
            )
        options.append(option)
    return DataQuery(table, tuple(names), conditions, tuple(options))


def _parse_data_count(rest: str) -> Operation:
    table, extra = _table_and_rest(rest, "DATA COUNT")
    if extra:
        raise CommandSyntaxError(f"DATA COUNT {table}: unexpected {extra!r}")
    return DataCount(table)


_PARSERS: Final = {
    ("DEVICE", "SET"): _parse_device_set,
    ("CONTROL", "NO"): _parse_control_no,
    ("CANCEL", "ALARM"): _parse_cancel_alarm,
    ("SET", "OPTION"): _parse_set_option,
    ("OPTION", "GET"): _parse_option_get,
    ("DATA", "UPDATE"): _parse_data_update,
    ("DATA", "DELETE"): _parse_data_delete,
    ("DATA", "QUERY"): _parse_data_query,
    ("DATA", "COUNT"): _parse_data_count,
}


# -- helpers --------------------------------------------------------------------------------------
def _keyword(word: str) -> str:
    # Only ASCII folds: a Turkish dotless i upper-cases to "I", so "d\u0131sconnect" would
    # otherwise become DISCONNECT.
    return word.upper() if word.isascii() else word


def _pop_word(text: str) -> tuple[str, str]:
    """The first blank-separated word and the rest (whose inner layout is kept)."""
    match = _BLANKS.search(text)
    if match is None:
        return text, ""
    return text[: match.start()], text[match.end() :]


def _numbers(rest: str, verb: str, names: tuple[str, ...]) -> tuple[int, ...]:
    words = [word for word in _BLANKS.split(rest) if word]
    if len(words) != len(names):
        raise CommandSyntaxError(
            f"{verb} takes {len(names)} number(s) ({', '.join(names)}), got {len(words)}: {rest!r}"
        )
    values = []
    for word, name in zip(words, names, strict=True):
        if not _NUMBER.fullmatch(word):
            raise CommandSyntaxError(f"{verb}: {name} must be a number, got {word!r}")
        values.append(int(word))
    return tuple(values)


def _table_and_rest(rest: str, verb: str) -> tuple[str, str]:
    word, remainder = _pop_word(rest)
    if not word:
        raise CommandSyntaxError(f"{verb}: table name missing")
    table = _TABLES_BY_KEY.get(word.lower())
    if table is None:
        raise CommandSyntaxError(f"{verb}: unknown table {word!r} (known: {', '.join(TABLES)})")
    return table, remainder


def _parse_rows(text: str, where: str) -> tuple[dict[str, str], ...]:
    rows = []
    for number, line in enumerate(_LINES.split(text), start=1):
        row: dict[str, str] = {}
        for item in line.split("\t"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise CommandSyntaxError(
                    f"{where}: row {number}: {item.strip()!r} is not Key=Value"
                )
            if key in row:
                raise CommandSyntaxError(f"{where}: row {number}: {key} given twice")
            row[key] = value.strip()
        if row:
            rows.append(row)
    return tuple(rows)


def _rows_text(rows: tuple[dict[str, str], ...]) -> str:
    return "\r\n".join("\t".join(f"{key}={value}" for key, value in row.items()) for row in rows)


def _check_int(value: object, what: str, allowed: range | tuple[int, ...]) -> None:
    if type(value) is not int and not isinstance(value, IntEnum):
        raise CommandSyntaxError(f"{what} must be an integer, got {value!r}")
    if value not in allowed:
        shown = (
            f"{allowed.start}..{allowed.stop - 1}"
            if isinstance(allowed, range)
            else (" or ".join(str(int(item)) for item in allowed))
        )
        raise CommandSyntaxError(f"{what} must be {shown}, got {value}")


def _check_name(name: object, where: str) -> None:
    if not isinstance(name, str):
        raise CommandSyntaxError(f"expected a str, got {name!r}")
    if not name:
        raise CommandSyntaxError(f"{where}: empty name")
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise CommandSyntaxError(
            f"{where}: bad name {name!r} (1..{MAX_NAME_LENGTH} ASCII letters, digits, _ or ~)"
        )


def _check_value(value: object, where: str, forbidden: str = "") -> None:
    if not isinstance(value, str):
        raise CommandSyntaxError(f"{where}: value must be text, got {value!r}")
    if value != value.strip():
        raise CommandSyntaxError(f"{where}: value has surrounding blanks")
    bad = _RESERVED_VALUE_CHARS.union(forbidden).intersection(value)
    if bad:
        raise CommandSyntaxError(f"{where}: value contains a separator {sorted(bad)!r}")
    if _SPACE_SEPARATED_ITEM.search(value):
        raise CommandSyntaxError(f"{where}: value {value!r} looks like items separated by spaces")


def _check_rows(rows: tuple[dict[str, str], ...], where: str, *, allow_empty_values: bool) -> None:
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise CommandSyntaxError(f"expected a dict, got {row!r}")
        if not row:
            raise CommandSyntaxError(f"{where}: row {number} is empty")
        for key, value in row.items():
            _check_name(key, f"{where}: row {number}")
            _check_value(value, f"{where}: row {number}: {key}", forbidden="")
            if not value and not allow_empty_values:
                raise CommandSyntaxError(f"{where}: row {number}: {key} has no value")


def _check_table(table: object, verb: str, *, writable: bool = False) -> None:
    if table not in TABLES:
        raise CommandSyntaxError(f"{verb}: unknown table {table!r} (known: {', '.join(TABLES)})")
    if writable and table in READ_ONLY_TABLES:
        raise CommandSyntaxError(f"{verb}: the {table} table is written by the panel only")


def _check_unique(items: tuple[str, ...], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise CommandSyntaxError(f"{what} {item} given twice")
        seen.add(item)


def _check_packed_time(value: str) -> None:
    if not _NUMBER.fullmatch(value):
        raise CommandSyntaxError(f"SET OPTION DateTime: expected a packed time, got {value!r}")
    try:
        decode_time(int(value))
    except MessageError as exc:
        raise CommandSyntaxError(f"SET OPTION DateTime: {exc}") from None

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.grammar import (
    _SPACE_SEPARATED_ITEM,
    TABLES,
    CancelAlarm,
    CommandSyntaxError,
    Connect,
    ControlNormalOpen,
    DataCount,
    DataDelete,
    DataQuery,
    DataUpdate,
    DeviceSet,
    Disconnect,
    OptionGet,
    SetOption,
    is_control,
    parse_command,
    to_text,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- valid commands as the legacy web wrote them -------------------------------------------------
VALID = [
    ("CONNECT", Connect()),
    ("DISCONNECT", Disconnect()),
    ("DEVICE SET 1 1 5", DeviceSet(1, 1, 5)),
    ("DEVICE SET 4 1 0", DeviceSet(4, 1, 0)),
    ("DEVICE SET 2 1 255", DeviceSet(2, 1, 255)),
    ("DEVICE SET 9 2 10", DeviceSet(9, 2, 10)),
    ("CONTROL NO 1 1", ControlNormalOpen(1, True)),
    ("CONTROL NO 3 0", ControlNormalOpen(3, False)),
    ("CANCEL ALARM 2", CancelAlarm(2)),
    ("CANCEL ALARM 0", CancelAlarm(0)),
    ("SET OPTION DaylightSavingTimeOn=0", SetOption({"DaylightSavingTimeOn": "0"})),
    (
        "SET OPTION DateTime=777111332,CurTimeMode=2",
        SetOption({"DateTime": "777111332", "CurTimeMode": "2"}),
    ),
    ("SET OPTION ComPwd=", SetOption({"ComPwd": ""})),
    (
        "SET OPTION IPAddress=192.168.1.201,GATEIPAddress=192.168.1.1,NetMask=255.255.255.0",
        SetOption(
            {
                "IPAddress": "192.168.1.201",
                "GATEIPAddress": "192.168.1.1",
                "NetMask": "255.255.255.0",
            }
        ),
    ),
    ("SET OPTION ~DeviceName=Front door,", SetOption({"~DeviceName": "Front door"})),
    (
        "OPTION GET ~SerialNumber,FirmVer,LockCount",
        OptionGet(("~SerialNumber", "FirmVer", "LockCount")),
    ),
    (
        "DATA UPDATE user CardNo=12345678\tPin=1001\tPassword=\tGroup=0\tStartTime=20240101\tEndTime=20251231",
        DataUpdate(
            "user",
            (
                {
                    "CardNo": "12345678",
                    "Pin": "1001",
                    "Password": "",
                    "Group": "0",
                    "StartTime": "20240101",
                    "EndTime": "20251231",
                },
            ),
        ),
    ),
    (
        "DATA UPDATE user Pin=1\tName=Ann Lee\r\nPin=2\tName=Bob\nPin=3\r\n",
        DataUpdate(
            "user", ({"Pin": "1", "Name": "Ann Lee"}, {"Pin": "2", "Name": "Bob"}, {"Pin": "3"})
        ),
    ),
    (
        "DATA UPDATE dstsetting Year=2024\tStartMonth=3",
        DataUpdate("DSTSetting", ({"Year": "2024", "StartMonth": "3"},)),
    ),
    ("DATA DELETE user Pin=1001", DataDelete("user", ({"Pin": "1001"},))),
    (
        "DATA DELETE userauthorize Pin=1\r\nPin=2",
        DataDelete("userauthorize", ({"Pin": "1"}, {"Pin": "2"})),
    ),
    ("DATA DELETE templatev10", DataDelete("templatev10")),
    ("DATA QUERY transaction * NewRecord", DataQuery("transaction", options=("NewRecord",))),
    ("DATA QUERY transaction * ", DataQuery("transaction")),
    ("DATA QUERY user * ", DataQuery("user")),
    (
        "DATA QUERY transaction Cardno\tPin\tTime_second Pin=1001 newrecord",
        DataQuery("transaction", ("Cardno", "Pin", "Time_second"), {"Pin": "1001"}, ("NewRecord",)),
    ),
    (
        "DATA QUERY user Pin,CardNo;Name Pin=1\tCardNo=5",
        DataQuery("user", ("Pin", "CardNo", "Name"), {"Pin": "1", "CardNo": "5"}),
    ),
    ("DATA COUNT user", DataCount("user")),
    ("  device   set\t1 1  5 ", DeviceSet(1, 1, 5)),
    ("data count TRANSACTION", DataCount("transaction")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text[:40] for text, _ in VALID])
def test_parses_legacy_commands(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text[:40] for text, _ in VALID])
def test_canonical_text_round_trips(text, expected):
    assert parse_command(to_text(expected)) == expected


def test_canonical_forms():
    assert to_text(DeviceSet(1, 1, 5)) == "DEVICE SET 1 1 5"
    assert to_text(ControlNormalOpen(2, True)) == "CONTROL NO 2 1"
    assert to_text(DataDelete("user")) == "DATA DELETE user"
    assert (
        to_text(DataQuery("transaction", options=("NewRecord",)))
        == "DATA QUERY transaction * NewRecord"
    )
    assert to_text(DataUpdate("user", ({"Pin": "1", "Name": "A B"}, {"Pin": "2"}))) == (
        "DATA UPDATE user Pin=1\tName=A B\r\nPin=2"
    )


def test_query_helpers_and_control_classification():
    assert DataQuery("transaction", options=("NewRecord",)).new_record
    assert not DataQuery("transaction").new_record
    assert DataDelete("user").whole_table
    assert is_control(DeviceSet(1, 1, 5))
    assert is_control(CancelAlarm(1))
    assert is_control(ControlNormalOpen(1, False))
    assert not is_control(DataCount("user"))
    assert not is_control(SetOption({"DateTime": "777111332"}))


# -- invalid commands: a clear reason each --------------------------------------------------------
INVALID = [
    ("", "empty command"),
    ("   \r\n", "empty command"),
    ("OPEN_DOOR 1", "unknown command 'OPEN_DOOR'"),
    ("DOOR_OPEN:1", "unknown command"),
    ("DEVICE RESET 1", "unknown command 'DEVICE RESET'"),
    ("DEVICE GET 1 1", "DEVICE GET is not supported"),
    ("CLEAR DATA", "CLEAR DATA is an attendance-terminal command"),
    ("UPGRADE FIRMWARE emfw.cfg", "UPGRADE FIRMWARE is not supported"),
    ("CONNECT now", "CONNECT takes no arguments"),
    ("DEVICE SET 1 1", "DEVICE SET takes 3 number(s)"),
    ("DEVICE SET 1 1 5 6", "DEVICE SET takes 3 number(s)"),
    ("DEVICE SET one 1 5", "door/aux number must be a number, got 'one'"),
    ("DEVICE SET 1 1 -5", "seconds must be a number, got '-5'"),
    ("DEVICE SET 1 1 256", "DEVICE SET: seconds must be 0..255, got 256"),
    ("DEVICE SET 5 1 5", "DEVICE SET: door number must be 1..4, got 5"),
    ("DEVICE SET 0 1 5", "door number must be 1..4, got 0"),
    ("DEVICE SET 1 3 5", "DEVICE SET: kind must be 1 or 2, got 3"),
    ("DEVICE SET 1 1 \uff15", "seconds must be a number"),  # a full-width 5 is not a number here
    ("DEVICE SET 1 1 99999999999", "seconds must be a number"),
    ("CONTROL NO 1 2", "CONTROL NO: state must be 0 or 1, got 2"),
    ("CONTROL NO 7 1", "CONTROL NO: door must be 1..4, got 7"),
    ("CANCEL ALARM 5", "CANCEL ALARM: door must be 0..4, got 5"),
    ("CANCEL ALARM", "CANCEL ALARM takes 1 number(s)"),
    ("SET OPTION", "SET OPTION needs at least one name=value"),
    ("SET OPTION DateTime", "is not name=value"),
    ("SET OPTION =5", "SET OPTION: empty name"),
    ("SET OPTION Bad Name=5", "bad name 'Bad Name'"),
    ("SET OPTION A=1,A=2", "A given twice"),
    ("SET OPTION DateTime=yesterday", "expected a packed time"),
    ("SET OPTION DateTime=5184000", "not a real date"),  # packs 2000-02-30
    ("SET OPTION CurTimeMode=3", "CurTimeMode: must be one of 1, 2"),
    ("SET OPTION DaylightSavingTimeOn=yes", "must be one of 0, 1"),
    ("SET OPTION A=1 B=2", "looks like items separated by spaces"),
    ("SET OPTION Name=Zoë", "printable ASCII"),
    ("OPTION GET", "OPTION GET needs at least one option name"),
    ("OPTION GET ,,", "OPTION GET needs at least one option name"),
    ("OPTION GET A B", "bad name 'A B'"),
    ("DATA UPDATE", "DATA UPDATE: table name missing"),
    ("DATA UPDATE users Pin=1", "unknown table 'users'"),
    ("DATA UPDATE user", "DATA UPDATE user: no rows"),
    ("DATA UPDATE user Pin", "row 1: 'Pin' is not Key=Value"),
    ("DATA UPDATE user Pin=1\tPin=2", "row 1: Pin given twice"),
    ("DATA UPDATE user Pin=1 CardNo=2", "looks like items separated by spaces"),
    ("DATA UPDATE transaction Pin=1", "the transaction table is written by the panel only"),
    ("DATA UPDATE user Pin=1\x00", "contains a separator"),
    ("DATA DELETE user Pin=", "Pin has no value"),
    ("DATA QUERY user", "fields missing (use * for all)"),
    ("DATA QUERY user Pin=1", "fields missing before the filter"),
    ("DATA QUERY user *,Pin", "* cannot be combined with field names"),
    ("DATA QUERY user * Everything", "unexpected 'Everything'"),
    ("DATA QUERY user * Pin=1 Pin=2", "filter Pin given twice"),
    ("DATA QUERY user Pin,Pin", "field Pin given twice"),
    ("DATA QUERY user * NewRecord NewRecord", "option NewRecord given twice"),
    ("DATA COUNT", "DATA COUNT: table name missing"),
    ("DATA COUNT user extra", "DATA COUNT user: unexpected 'extra'"),
    ("DATA MERGE user", "unknown command 'DATA MERGE'"),
    ("d\u0131sconnect", "unknown command"),  # dotless i must not fold to DISCONNECT
]


@pytest.mark.parametrize(("text", "reason"), INVALID, ids=[repr(text)[:40] for text, _ in INVALID])
def test_rejects_invalid_commands_with_a_reason(text, reason):
    with pytest.raises(CommandSyntaxError) as info:
        parse_command(text)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_non_text_is_a_syntax_error():
    with pytest.raises(CommandSyntaxError, match="a command is text"):
        parse_command(b"CONNECT")  # type: ignore[arg-type]


def test_operations_validate_themselves():
    with pytest.raises(CommandSyntaxError, match=r"door number must be 1\.\.4"):
        DeviceSet(5, 1, 1)
    with pytest.raises(CommandSyntaxError, match="must be an integer"):
        DeviceSet(True, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(CommandSyntaxError, match="enable must be a bool"):
        ControlNormalOpen(1, 1)  # type: ignore[arg-type]
    with pytest.raises(CommandSyntaxError, match="surrounding blanks"):
        SetOption({"A": " 1"})
    with pytest.raises(CommandSyntaxError, match="unknown table"):
        DataCount("User")
    with pytest.raises(CommandSyntaxError, match="unknown option"):
        DataQuery("user", options=("All",))


# -- properties -------------------------------------------------------------------------------------
@FUZZ
@given(st.text(max_size=200))
@example("DATA QUERY user * =")
@example("DATA UPDATE user \t=\t")
@example("SET OPTION DateTime=99999999999")
@example("DEVICE SET 1 2 3\x00")
def test_parse_never_raises_anything_else(text):
    _parse_or_reject(text)


_WORDS = [
    "CONNECT",
    "DISCONNECT",
    "DEVICE",
    "SET",
    "GET",
    "CONTROL",
    "NO",
    "CANCEL",
    "ALARM",
    "OPTION",
    "DATA",
    "UPDATE",
    "DELETE",
    "QUERY",
    "COUNT",
    *TABLES,
    "*",
    "NewRecord",
    "1",
    "4",
    "255",
    "Pin=1",
    "CardNo=2",
    "A=",
    "=",
    ",",
    "\t",
    "\r\n",
    " ",
]


@FUZZ
@given(st.lists(st.sampled_from(_WORDS), max_size=8).map(" ".join))
def test_parse_never_raises_anything_else_on_near_commands(text):
    _parse_or_reject(text)


def _parse_or_reject(text):
    try:
        op = parse_command(text)
    except CommandSyntaxError as exc:
        reason = exc.reason
    else:
        assert parse_command(to_text(op)) == op
        return
    assert reason


_names = st.from_regex(r"[~A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_values = (
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\t\r\n\x00"), max_size=12)
    .map(str.strip)
    .filter(lambda v: not _SPACE_SEPARATED_ITEM.search(v))
)
_ascii_values = st.from_regex(r"[A-Za-z0-9.:/_-]{0,12}", fullmatch=True)
_tables = st.sampled_from(TABLES)
_rows = st.lists(st.dictionaries(_names, _values, min_size=1, max_size=4), min_size=1, max_size=3)
_filters = st.dictionaries(_names, st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), max_size=3)

_operations = st.one_of(
    st.just(Connect()),
    st.just(Disconnect()),
    st.builds(DeviceSet, st.integers(1, 4), st.just(1), st.integers(0, 255)),
    st.builds(DeviceSet, st.integers(1, 255), st.just(2), st.integers(0, 255)),
    st.builds(ControlNormalOpen, st.integers(1, 4), st.booleans()),
    st.builds(CancelAlarm, st.integers(0, 4)),
    st.builds(
        SetOption,
        st.dictionaries(
            _names.filter(lambda n: n not in ("DateTime", "CurTimeMode", "DaylightSavingTimeOn")),
            _ascii_values,
            min_size=1,
            max_size=4,
        ),
    ),
    st.builds(OptionGet, st.lists(_names, min_size=1, max_size=5, unique=True).map(tuple)),
    st.builds(DataUpdate, _tables.filter(lambda t: t != "transaction"), _rows.map(tuple)),
    st.builds(
        DataDelete,
        _tables,
        st.lists(
            st.dictionaries(
                _names, st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=3
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(
        DataQuery,
        _tables,
        st.lists(_names, max_size=4, unique=True).map(tuple),
        _filters,
        st.sampled_from([(), ("NewRecord",)]),
    ),
    st.builds(DataCount, _tables),
)


@FUZZ
@given(_operations)
def test_every_operation_round_trips_through_text(op):
    assert parse_command(to_text(op)) == op

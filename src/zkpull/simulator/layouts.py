"""Table layouts the simulated firmware reports through GET_TABLE_STRUCT (fact sheet §6.1, §6.2).

The layouts are written as the panel's own schema text and parsed with the codec, so what
the simulator stores and what it announces can never disagree.
"""

from __future__ import annotations

from typing import Final

from zkpull.protocol.tables import Table, decode_table_struct

TRANSACTION_TABLE: Final = "transaction"
USER_TABLE: Final = "user"


def _timezone_line() -> str:
    days = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Hol1", "Hol2", "Hol3")
    names = [f"{day}Time{n}" for day in days for n in (1, 2, 3)]
    return "timezone=4,TimezoneId=i1," + ",".join(f"{name}=i{i}" for i, name in enumerate(names, 2))


_TRANSACTION = (
    "transaction=5,Cardno=i1,Pin=i2,Verified=i3,DoorID=i4,EventType=i5,InOutState=i6,Time_second=i7"
)

# Captured from a session-firmware C3-200 (VPY fixture), 13 tables.
_NEWER = "\n".join(
    (
        "user=1,UID=i1,CardNo=i2,Pin=i3,Password=s4,Group=i5,StartTime=i6,EndTime=i7,Name=s8,SuperAuthorize=i9",
        "userauthorize=2,Pin=i1,AuthorizeTimezoneId=i2,AuthorizeDoorId=i3",
        "holiday=3,Holiday=i1,HolidayType=i2,Loop=i3",
        _timezone_line(),
        _TRANSACTION,
        "firstcard=6,Pin=i1,DoorID=i2,TimezoneID=i3",
        "multimcard=7,Index=i1,DoorId=i2,Group1=i3,Group2=i4,Group3=i5,Group4=i6,Group5=i7",
        "inoutfun=8,Index=i1,EventType=i2,InAddr=i3,OutType=i4,OutAddr=i5,OutTime=i6,Reserved=i7",
        "template=9,Size=i1,Pin=i2,FingerID=i3,Valid=i4,Template=s5",
        "templatev10=10,Size=i1,UID=i2,Pin=i3,FingerID=i4,Valid=i5,Template=B6,Resverd=i7,EndTag=i8",
        "losscard=11,CardNo=i1,Reserved=i2",
        "usertype=12,Pin=i1,Type=i2",
        "wiegandfmt=13,Pin=i1,Name=s2,WgCount=i3,Format=s4",
    )
)

# Legacy firmware table descriptors, 8 tables.
_LEGACY = "\n".join(
    (
        "user=1,CardNo=i1,Pin=i2,Password=s3,Group=i4,StartTime=i5,EndTime=i6,SuperAuthorize=i7",
        "userauthorize=2,Pin=i1,AuthorizeTimezoneId=i2,AuthorizeDoorId=i3",
        "holiday=3,Holiday=i1,HolidayType=i2,Loop=i3",
        _timezone_line(),
        _TRANSACTION,
        "firstcard=6,Pin=i1,DoorID=i2,TimezoneID=i3",
        "multimcard=7,Index=i1,DoorId=i2,Group1=i3,Group2=i4,Group3=i5,Group4=i6,Group5=i7",
        "inoutfun=8,Index=i1,EventType=i2,InAddr=i3,OutType=i4,OutAddr=i5,OutTime=i6,Reserved=i7",
    )
)

NEWER_LAYOUT: Final[tuple[Table, ...]] = tuple(decode_table_struct(_NEWER.encode("ascii")).values())
LEGACY_LAYOUT: Final[tuple[Table, ...]] = tuple(
    decode_table_struct(_LEGACY.encode("ascii")).values()
)

# Upsert / delete keys. §6.2 marks the legacy ones; the newer tables reuse them, and the
# tables only the newer layout has are keyed by what identifies a row for ZKAccess.
PRIMARY_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "user": ("Pin",),
    "userauthorize": ("Pin", "AuthorizeTimezoneId", "AuthorizeDoorId"),
    "holiday": ("Holiday",),
    "timezone": ("TimezoneId",),
    "firstcard": ("Pin", "DoorID"),
    "multimcard": ("Index",),
    "inoutfun": ("Index",),
    "template": ("Pin", "FingerID"),
    "templatev10": ("Pin", "FingerID"),
    "losscard": ("CardNo",),
    "usertype": ("Pin",),
    "wiegandfmt": ("Pin",),
}

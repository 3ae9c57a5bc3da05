"""Wire constants of the C3/inBio PULL protocol (fact sheet §1-§3)."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

START: Final = 0xAA
END: Final = 0x55
HEADER_SIZE: Final = 5  # start, address, command, length (u16 LE)
TRAILER_SIZE: Final = 3  # CRC-16 (LE), end
FRAME_OVERHEAD: Final = HEADER_SIZE + TRAILER_SIZE
MAX_DATA: Final = 0xFFFF  # the length field is a u16
DEFAULT_MAX_DATA: Final = 16 * 1024  # firmware packets are <= 5 KiB; anything larger is hostile
SESSION_HEADER_SIZE: Final = 4  # session id (u16 LE) + message number (u16 LE)
PRESESSION_ID: Final = 0xFEFE  # placeholder session id sent with 0x76 (captured, VPY)
FIRST_MESSAGE_NUMBER: Final = 0xFEFE  # first message number, as the captures show
DEFAULT_ADDRESS: Final = 0x01  # address byte on TCP; the panel ignores it there
BROADCAST_ADDRESS: Final = 0x00
DEFAULT_PORT: Final = 4370
RTLOG_RECORD_SIZE: Final = 16
MAX_PASSWORD_LENGTH: Final = 15
MAX_GET_PARAMS: Final = 30  # names per GETPARAM request (firmware)
MAX_SET_PARAMS: Final = 20  # pairs per SETPARAM request (SDK)
BIGDATA_ANNOUNCE_SIZE: Final = 17
DEFAULT_BIGDATA_PACKET: Final = 5 * 1024  # firmware MaxLen


class Command(IntEnum):
    """Request command codes, named after the firmware's `commfun.h`."""

    CONNECT = 0x01
    DISCONNECT = 0x02
    SET_DEVICE_PARAM = 0x03
    GET_DEVICE_PARAM = 0x04
    CONTROL_DEVICE = 0x05
    GET_TABLE_STRUCT = 0x06
    SET_DATA = 0x07
    GET_DATA = 0x08
    DELETE_DATA = 0x09
    GET_DATA_COUNT = 0x0A
    GET_REALTIME_LOG = 0x0B
    QUERY_DATA = 0x0C
    PREPARE_DATA = 0x0D
    READ_DATA = 0x0E
    FREE_DATA = 0x0F
    PREPARE_BREAK_DATA = 0x10
    DATA = 0x11
    BROADCAST = 0x14
    BROAD_MODIFY_IP = 0x15
    SET_BINARYDATA = 0x16
    GET_BINARYDATA = 0x17
    GET_DATA_OK = 0x19
    ALARM_CANCEL = 0x1B
    CONNECT_SESSION = 0x76
    HASH_DATA = 0x77
    GET_REALTIME_LOG_KV = 0x79


class Reply(IntEnum):
    """Command byte of a reply frame."""

    OK = 0xC8
    ERROR = 0xC9
    PREPARE_DATA = 0x0D  # big-data announce instead of OK (§3.6)


class Dialect(IntEnum):
    """Connection dialect, chosen by firmware family (§2)."""

    SESSIONLESS = 1  # CONNECT 0x01; data field is the payload only
    SESSION = 2  # CONNECT 0x76; every data field starts with session id + message number


class ControlOperation(IntEnum):
    """First byte of a CONTROL_DEVICE payload (§3.4)."""

    OUTPUT = 1
    CANCEL_ALARM = 2
    RESTART = 3
    NORMAL_OPEN = 4


class OutputType(IntEnum):
    """Second parameter of CONTROL/OUTPUT: which kind of relay."""

    DOOR = 1
    AUX = 2


OUTPUT_CLOSE: Final = 0
OUTPUT_HOLD_OPEN: Final = 255

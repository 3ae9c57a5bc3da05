"""Code tables with English meanings: event types, verify modes, in/out states, error codes.

Sources: fact sheet §3.2 and §7, legacy `EVENT_CHOICES` (parity doc §2.8). Panels send codes
outside these tables (new firmware); decoders keep the raw integer and `describe_*` never fails.
"""

from __future__ import annotations

from enum import IntEnum


class _Described(IntEnum):
    """An IntEnum whose members carry an English description."""

    description: str

    def __new__(cls, value: int, description: str = "") -> _Described:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class EventType(_Described):
    """RT-log / transaction `EventType` (fact sheet §7.1, legacy §2.8)."""

    NORMAL_PUNCH_OPEN = 0, "Normal Punch Open"
    PUNCH_DURING_NORMAL_OPEN_TZ = 1, "Punch during Normal Open Time Zone"
    FIRST_CARD_NORMAL_OPEN_CARD = 2, "First-Card Normal Open (card)"
    MULTI_CARD_OPEN_CARD = 3, "Multi-Card Open (card)"
    EMERGENCY_PASSWORD_OPEN = 4, "Emergency Password Open"
    OPEN_DURING_NORMAL_OPEN_TZ = 5, "Open during Normal Open Time Zone"
    LINKAGE_EVENT_TRIGGERED = 6, "Linkage Event Triggered"
    CANCEL_ALARM = 7, "Cancel Alarm"
    REMOTE_OPENING = 8, "Remote Opening"
    REMOTE_CLOSING = 9, "Remote Closing"
    DISABLE_INTRADAY_NORMAL_OPEN_TZ = 10, "Disable Intraday Normal Open Time Zone"
    ENABLE_INTRADAY_NORMAL_OPEN_TZ = 11, "Enable Intraday Normal Open Time Zone"
    OPEN_AUX_OUTPUT = 12, "Open Auxiliary Output"
    CLOSE_AUX_OUTPUT = 13, "Close Auxiliary Output"
    FINGERPRINT_OPEN = 14, "Press Fingerprint Open"
    MULTI_CARD_OPEN_FINGERPRINT = 15, "Multi-Card Open (fingerprint)"
    FINGERPRINT_DURING_NORMAL_OPEN_TZ = 16, "Press Fingerprint during Normal Open Time Zone"
    CARD_PLUS_FINGERPRINT_OPEN = 17, "Card plus Fingerprint Open"
    FIRST_CARD_NORMAL_OPEN_FINGERPRINT = 18, "First-Card Normal Open (fingerprint)"
    FIRST_CARD_NORMAL_OPEN_CARD_FINGERPRINT = 19, "First-Card Normal Open (card plus fingerprint)"
    PUNCH_INTERVAL_TOO_SHORT = 20, "Too Short Punch Interval"
    DOOR_INACTIVE_TZ_CARD = 21, "Door Inactive Time Zone (card)"
    ILLEGAL_TIME_ZONE = 22, "Illegal Time Zone"
    ACCESS_DENIED = 23, "Access Denied"
    ANTI_PASSBACK = 24, "Anti-Passback"
    INTERLOCK = 25, "Interlock"
    MULTI_CARD_AUTHENTICATION_CARD = 26, "Multi-Card Authentication (card)"
    UNREGISTERED_CARD = 27, "Unregistered Card"
    OPENING_TIMEOUT = 28, "Opening Timeout"
    CARD_EXPIRED = 29, "Card Expired"
    PASSWORD_ERROR = 30, "Password Error"
    FINGERPRINT_INTERVAL_TOO_SHORT = 31, "Too Short Fingerprint Pressing Interval"
    MULTI_CARD_AUTHENTICATION_FINGERPRINT = 32, "Multi-Card Authentication (fingerprint)"
    FINGERPRINT_EXPIRED = 33, "Fingerprint Expired"
    UNREGISTERED_FINGERPRINT = 34, "Unregistered Fingerprint"
    DOOR_INACTIVE_TZ_FINGERPRINT = 35, "Door Inactive Time Zone (fingerprint)"
    DOOR_INACTIVE_TZ_EXIT_BUTTON = 36, "Door Inactive Time Zone (exit button)"
    FAILED_TO_CLOSE_DURING_NORMAL_OPEN_TZ = 37, "Failed to Close during Normal Open Time Zone"
    MULTI_CARD_AUTH_FAILED_FINGERPRINT = 40, "Multi-Card Authentication Failed (fingerprint)"
    VERIFY_TYPE_INVALID = 41, "Verify Type Invalid / background verification"
    WIEGAND_FORMAT_ERROR = 42, "Wiegand Format Error / background verification failed"
    BACKGROUND_VERIFY_TIMEOUT = 43, "Background Verification Timeout"
    BACKGROUND_VERIFY_EVENT = 44, "Background Verification Event"
    USER_DOES_NOT_EXIST = 45, "User Does Not Exist"
    FAILED_TO_SEND_COMMAND = 47, "Failed to Send the Command"
    MULTI_CARD_AUTH_FAILED_CARD = 48, "Multi-Card Authentication Failed (card)"
    DOOR_INACTIVE_TZ_PASSWORD = 49, "Door Inactive Time Zone (password)"
    PASSWORD_INTERVAL_TOO_SHORT = 50, "Press Password Interval too Short"
    MULTI_CARD_AUTHENTICATION_PASSWORD = 51, "Multi-Card Authentication (password)"
    MULTI_CARD_AUTH_FAILED_PASSWORD = 52, "Multi-Card Authentication Fails (password)"
    PASSWORD_EXPIRED = 53, "Password Expired"
    TAMPER_ALARM = 100, "Tamper Alarm"
    DURESS_PASSWORD_OPEN = 101, "Duress Password Open"
    OPENED_FORCEFULLY = 102, "Opened Forcefully"
    DURESS_FINGERPRINT_OPEN = 103, "Duress Fingerprint Open"
    DOOR_OPENED_CORRECTLY = 200, "Door Opened Correctly"
    DOOR_CLOSED_CORRECTLY = 201, "Door Closed Correctly"
    EXIT_BUTTON_OPEN = 202, "Exit Button Open"
    MULTI_CARD_OPEN_CARD_FINGERPRINT = 203, "Multi-Card Open (card plus fingerprint)"
    NORMAL_OPEN_TZ_OVER = 204, "Normal Open Time Zone Over"
    REMOTE_NORMAL_OPENING = 205, "Remote Normal Opening"
    DEVICE_START = 206, "Device Started"
    PASSWORD_OPEN = 207, "Password Open"
    SUPERUSER_OPEN_DOORS = 208, "Superuser Open Doors"
    EXIT_BUTTON_TRIGGERED = 209, "Exit Button Triggered (without unlock)"
    START_FIRE_DOOR = 210, "Start the Fire Door"
    SUPERUSER_CLOSE_DOORS = 211, "Superuser Close Doors"
    ENABLE_ELEVATOR_CONTROL = 212, "Enable Elevator Control"
    DISABLE_ELEVATOR_CONTROL = 213, "Disable Elevator Control"
    MULTI_CARD_OPEN_PASSWORD = 214, "Multi-Card Open (password)"
    FIRST_CARD_NORMAL_OPEN_PASSWORD = 215, "First-Card Normal Open (password)"
    PASSWORD_DURING_NORMAL_OPEN_TZ = 216, "Password during Normal Open Time Zone"
    AUX_INPUT_DISCONNECTED = 220, "Auxiliary Input Disconnected"
    AUX_INPUT_SHORTED = 221, "Auxiliary Input Shorted"
    CLOSE_NORMAL_OPEN = 230, "Close Normal Open"
    OPEN_NORMAL_OPEN = 231, "Open Normal Open"
    CLOSE_NORMAL_CLOSE = 232, "Close Normal Close"
    OPEN_NORMAL_CLOSE = 233, "Open Normal Close"
    STATUS = 255, "Current door and alarm status"


class VerifyMode(_Described):
    """`Verified` / `DoorNVerifyType` (fact sheet §7.2, legacy `VERIFIED_CHOICES`)."""

    ANY = 0, "Fingerprint or password or card"
    FINGERPRINT = 1, "Only fingerprint"
    PIN = 2, "Only PIN"
    PASSWORD = 3, "Only password"
    CARD = 4, "Only card"
    FINGERPRINT_OR_PASSWORD = 5, "Fingerprint or password"
    CARD_OR_FINGERPRINT = 6, "Card or fingerprint"
    CARD_OR_PASSWORD = 7, "Card or password"
    PIN_AND_FINGERPRINT = 8, "PIN and fingerprint"
    FINGERPRINT_AND_PASSWORD = 9, "Fingerprint and password"
    CARD_AND_FINGERPRINT = 10, "Card and fingerprint"
    CARD_AND_PASSWORD = 11, "Card and password"
    CARD_FINGERPRINT_PASSWORD = 12, "Card and fingerprint and password"
    PIN_FINGERPRINT_PASSWORD = 13, "PIN and fingerprint and password"
    PIN_FINGERPRINT_OR_CARD_FINGERPRINT = 14, "(PIN and fingerprint) or (card and fingerprint)"
    OTHER = 200, "Others"


class InOutState(_Described):
    """`InOutState` (fact sheet §7.3). VPY reads 3 as exit; we accept it as `EXIT_ALT`."""

    ENTRY = 0, "In"
    EXIT = 1, "Out"
    NONE = 2, "None"
    EXIT_ALT = 3, "Out"


class ErrorCode(_Described):
    """Negative codes of an error reply and of PullSDK (fact sheet §3.2)."""

    SUCCESS = 0, "success"
    NOT_SENT = -1, "command not sent successfully"
    NO_RESPONSE = -2, "command has no response"
    BUFFER_NOT_ENOUGH = -3, "buffer not enough"
    DECOMPRESSION_FAILED = -4, "decompression failed"
    WRONG_READ_LENGTH = -5, "length of read data not correct"
    DECOMPRESSED_LENGTH = -6, "decompressed length differs from expected"
    COMMAND_REPEATED = -7, "command repeated"
    NOT_AUTHORIZED = -8, "connection not authorized"
    DATA_CRC = -9, "data error: CRC failure"
    DATA_UNRESOLVABLE = -10, "data error: cannot resolve data"
    PARAMETER_ERROR = -11, "data parameter error"
    NOT_EXECUTED = -12, "command not executed correctly"
    COMMAND_NOT_AVAILABLE = -13, "command error: command not available"
    WRONG_PASSWORD = -14, "communication password not correct"
    WRITE_FILE_FAILED = -15, "failed to write file"
    READ_FILE_FAILED = -16, "failed to read file"
    FILE_NOT_FOUND = -17, "file does not exist"
    NO_SPACE = -18, "device has no space"
    CHECKSUM_ERROR = -19, "checksum error"
    LENGTH_MISMATCH = -20, "received length differs from declared length"
    PLATFORM_NOT_SET = -21, "platform parameter not set"
    PLATFORM_MISMATCH = -22, "firmware platform mismatch"
    FIRMWARE_OLDER = -23, "upgrade firmware older than installed"
    UPGRADE_FLAG_ERROR = -24, "upgrade file flag error"
    UPGRADE_NAME_WRONG = -25, "upgrade file name wrong"
    UNKNOWN = -99, "unknown error"
    TABLE_NOT_FOUND = -100, "table structure does not exist"
    CONDITION_FIELD_NOT_FOUND = -101, "condition field does not exist"
    FIELD_COUNT_INCONSISTENT = -102, "total number of fields inconsistent"
    FIELD_SEQUENCE_INCONSISTENT = -103, "field sequence inconsistent"
    RTLOG_DATA_ERROR = -104, "real-time event data error"
    RESOLUTION_ERROR = -105, "data errors during resolution"
    DATA_OVERFLOW = -106, "data overflow: more than 4 MB"
    TABLE_STRUCTURE_FAILED = -107, "failed to get table structure"
    INVALID_OPTIONS = -108, "invalid options"


def _describe(enum: type[_Described], code: int, unknown: str) -> str:
    try:
        return enum(code).description
    except ValueError:
        return f"{unknown} {code}"


def describe_event(code: int) -> str:
    """English name of an event type; unknown codes get a generic text, never an error."""
    return _describe(EventType, code, "unknown event")


def describe_verify(code: int) -> str:
    """English name of a verify mode; unknown codes (firmware-specific) read as 'Others'."""
    try:
        return VerifyMode(code).description
    except ValueError:
        return VerifyMode.OTHER.description


def describe_inout(code: int) -> str:
    """English name of an in/out state."""
    return _describe(InOutState, code, "unknown in/out state")


def describe_error(code: int) -> str:
    """English meaning of an error code from a reply or from PullSDK."""
    return _describe(ErrorCode, code, "unknown error code")


def is_alarm_event(code: int) -> bool:
    """Events 100-199 are alarms (legacy `ALARM_RT`)."""
    return 100 <= code < 200

"""The legacy return-code space of `devcmds.CmdReturn` and the device status (parity doc §1.4).

Codes >= 0 are success (PullSDK returns counts); -1..-999 are PullSDK / panel error codes
(`zkpull.ErrorCode`); the application codes below are the DataCommCenter's own.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from zkpull.protocol.codes import describe_error


class AppReturnCode(IntEnum):
    """DataCommCenter codes the legacy UI understands (`DEVICE_COMMAND_RETURN`)."""

    DISCONNECTED = -1001
    DISABLED = -1002
    SERVICE_NOT_RUNNING = -1003
    PAUSED = -1004
    TIMEOUT = -1005  # background command failed / timed out / expired before it ran
    UNKNOWN_COMMAND = -1006
    READ_EVENTS_FAILED = -1007
    DISK_LOW = -1008
    QUEUE_ERROR = -1100
    GETTING_NEW_RECORDS = 1000
    CONNECTING = 1001


# Module-level names for the codes the agent writes most.
DISCONNECTED: Final = AppReturnCode.DISCONNECTED
DISABLED: Final = AppReturnCode.DISABLED
PAUSED: Final = AppReturnCode.PAUSED
EXPIRED: Final = AppReturnCode.TIMEOUT  # legacy -1005 is also "expired before it ran"
UNKNOWN_COMMAND: Final = AppReturnCode.UNKNOWN_COMMAND
QUEUE_ERROR: Final = AppReturnCode.QUEUE_ERROR

_DESCRIPTIONS = {
    AppReturnCode.DISCONNECTED: "device disconnected",
    AppReturnCode.DISABLED: "device disabled",
    AppReturnCode.SERVICE_NOT_RUNNING: "communication service not running",
    AppReturnCode.PAUSED: "device thread paused",
    AppReturnCode.TIMEOUT: "background command failed or timed out",
    AppReturnCode.UNKNOWN_COMMAND: "unknown or malformed command",
    AppReturnCode.READ_EVENTS_FAILED: "reading event records failed",
    AppReturnCode.DISK_LOW: "less than 1 GB of disk space left",
    AppReturnCode.QUEUE_ERROR: "queue error: cancel the queue and resync",
    AppReturnCode.GETTING_NEW_RECORDS: "getting new records",
    AppReturnCode.CONNECTING: "connecting",
}


def describe_return_code(code: int) -> str:
    """English text for any code in the legacy space; never fails."""
    try:
        return _DESCRIPTIONS[AppReturnCode(code)]
    except ValueError:
        pass
    if code >= 0:
        return "success"
    return describe_error(code)


def is_offline(code: int) -> bool:
    """The legacy `Device.show_status` rule: -400 < code < -200, code < -10000, or -1001."""
    return -400 < code < -200 or code < -10000 or code == AppReturnCode.DISCONNECTED

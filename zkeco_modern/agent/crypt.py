"""The legacy `iclock.comm_pwd` obfuscation (ZKECO `base/crypt.py`, parity doc §2.1).

Each UTF-8 byte is XOR-ed with 101 and written as two letters: 'A' + low nibble, then
'A' + high nibble. It is obfuscation, not encryption: anyone with the DB can reverse it.

Detection rule (`decode_comm_pwd`): a non-empty value of even length made only of the letters
A-P, whose decoded bytes are valid UTF-8, is the obfuscated form and is decoded; anything else
(digits, lower case, odd length, ...) is taken as a plain password. Legacy writes every
password obfuscated (and re-obfuscates all-digit values on save), so the only plain passwords
this misreads are even-length ones made only of the capitals A-P, e.g. "ABBA": store those
obfuscated (`encode_comm_pwd`), as the admin form does.
"""

from __future__ import annotations

import re
from typing import Final

_KEY: Final = 101
_BASE: Final = ord("A")
_OBFUSCATED = re.compile(r"(?:[A-P]{2})+")


def encode_comm_pwd(plain: str) -> str:
    """The legacy stored form of *plain* ("" stays "": no password)."""
    letters = []
    for byte in plain.encode("utf-8"):
        mixed = byte ^ _KEY
        letters.append(chr(_BASE + (mixed & 0x0F)) + chr(_BASE + (mixed >> 4)))
    return "".join(letters)


def is_obfuscated(value: str) -> bool:
    """Whether *value* is in the legacy obfuscated form (see the module docstring)."""
    return _decode(value) is not None


def decode_comm_pwd(value: str) -> str:
    """The plain password of a stored `comm_pwd` (obfuscated or plain; "" means none)."""
    decoded = _decode(value)
    return value if decoded is None else decoded


def _decode(value: str) -> str | None:
    if not _OBFUSCATED.fullmatch(value):
        return None
    data = bytes(
        ((ord(value[i]) - _BASE) | ((ord(value[i + 1]) - _BASE) << 4)) ^ _KEY
        for i in range(0, len(value), 2)
    )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None

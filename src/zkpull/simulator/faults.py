"""Injectable faults of one simulated panel, settable at start and while running.

Counted faults (`drop`, `garbage`, `truncate`, `corrupt-next`) hit the next N replies and then
wear off; `delay`, `corrupt-crc` (a probability) and `refuse` stay until cleared. `reboot`
is an action, not a state. The byte-level faults are applied to finished reply frames, so the
codec that built them stays untouched.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Final

from zkpull.protocol.constants import START

FAULT_NAMES: Final = (
    "drop",  # close the connection instead of answering the next N requests
    "delay",  # seconds to wait before every reply
    "corrupt-crc",  # probability (0..1) that a reply's CRC is flipped
    "corrupt-next",  # flip the CRC of the next N replies
    "garbage",  # answer the next N requests with random bytes instead of a frame
    "truncate",  # send only part of the next N replies, then close
    "refuse",  # "close": accept and close at once; "stop": stop listening
    "reboot",  # reboot now (clock offset, RT ring and connections reset; event 206)
)
REFUSE_MODES: Final = ("close", "stop")


@dataclass(slots=True)
class Faults:
    """The fault state of one panel. `on_change` lets a server react (e.g. stop listening)."""

    drop: int = 0
    delay: float = 0.0
    corrupt_probability: float = 0.0
    corrupt_next: int = 0
    garbage: int = 0
    truncate: int = 0
    refuse: str = ""  # "", "close" or "stop"
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    on_change: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    on_reboot: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def set(self, name: str, value: str | float | None = None) -> None:
        """Turn fault *name* on; raises ValueError for an unknown name or a bad value."""
        if name == "reboot":
            if self.on_reboot is not None:
                self.on_reboot()
            return
        if name == "delay":
            self.delay = _number(value, name, default=1.0)
        elif name == "corrupt-crc":
            probability = _number(value, name, default=1.0)
            if not 0.0 <= probability <= 1.0:
                raise ValueError("corrupt-crc takes a probability between 0 and 1")
            self.corrupt_probability = probability
        elif name in ("drop", "garbage", "truncate", "corrupt-next"):
            count = int(_number(value, name, default=1))
            setattr(self, "corrupt_next" if name == "corrupt-next" else name, max(count, 0))
        elif name == "refuse":
            mode = "close" if value in (None, "") else str(value)
            if mode not in REFUSE_MODES:
                raise ValueError(f"refuse takes one of {REFUSE_MODES}, got {mode!r}")
            self.refuse = mode
        else:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        self._changed()

    def clear(self, name: str | None = None) -> None:
        """Turn fault *name* (or every fault) off."""
        names = [name] if name is not None else [n for n in FAULT_NAMES if n != "reboot"]
        for item in names:
            attribute = {"corrupt-crc": "corrupt_probability", "corrupt-next": "corrupt_next"}.get(
                item, item
            )
            if attribute not in _STATE:
                raise ValueError(f"unknown fault {item!r}")
            setattr(self, attribute, _STATE[attribute])
        self._changed()

    def active(self) -> dict[str, object]:
        """The faults currently on, by name (for `status`)."""
        names = {"corrupt_probability": "corrupt-crc", "corrupt_next": "corrupt-next"}
        return {
            names.get(k, k): getattr(self, k) for k, v in _STATE.items() if getattr(self, k) != v
        }

    def take_drop(self) -> bool:
        """Whether the next request is answered by closing the connection."""
        if self.drop > 0:
            self.drop -= 1
            return True
        return False

    def mangle(self, reply: bytes) -> tuple[bytes, bool]:
        """Apply the byte-level faults to one reply frame: (bytes to send, close afterwards)."""
        if not reply:
            return reply, False
        if self.truncate > 0:
            self.truncate -= 1
            return reply[: self.rng.randrange(1, len(reply))] if len(reply) > 1 else b"", True
        if self.garbage > 0:
            self.garbage -= 1
            junk = bytearray(self.rng.randbytes(self.rng.randrange(8, 64)))
            junk[0] = (junk[0] + 1) & 0xFF if junk[0] == START else junk[0]  # never a valid start
            return bytes(junk), False
        corrupt = self.corrupt_next > 0
        if corrupt:
            self.corrupt_next -= 1
        elif self.corrupt_probability > 0.0:
            corrupt = self.rng.random() < self.corrupt_probability
        if corrupt and len(reply) >= 3:
            crc = bytes(b ^ 0xFF for b in reply[-3:-1])  # both CRC bytes wrong, end byte intact
            return reply[:-3] + crc + reply[-1:], False
        return reply, False

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


_STATE: Final[dict[str, object]] = {
    f.name: f.default for f in fields(Faults) if f.name not in ("rng", "on_change", "on_reboot")
}


def _number(value: str | float | None, name: str, *, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"fault {name} takes a number, got {value!r}") from exc
    if number < 0:
        raise ValueError(f"fault {name} takes a non-negative number")
    return number

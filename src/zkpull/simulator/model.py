"""Static facts about a simulated panel: model capabilities, firmware flavour, configuration, clock.

Model capabilities follow fact sheet §7.6. The inBio rows are not in the sheet's table; they
mirror the C3 of the same door count (inBio160 = 1 door / 2 readers / 1 aux in / 1 aux out,
inBio260 = 2/4/2/2, inBio460 = 4/4/4/4). C3-100 reports AuxInCount=0 as its firmware does
(pyzkaccess says 1): the simulator imitates what the panel answers, not what the DLL assumes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

Clock = Callable[[], datetime]
"""Returns the host's local wall-clock time, naive. Panels add their own offset to it."""

DEFAULT_TRANSACTION_CAPACITY: Final = 100_000
DEFAULT_USER_CAPACITY: Final = 30_000
MAX_RTLOG: Final = 30  # MAXRTLOGCOUNT, fact sheet §4.3


class RefusalError(Exception):
    """A request the panel answers with error *code* (fact sheet §3.2)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(reason or f"error {code}")
        self.code = code


class Firmware(StrEnum):
    """Which connection dialect the firmware speaks (§2)."""

    SESSION = "session"  # 0x76 with session header, newer 13-table layout
    SESSIONLESS = "sessionless"  # 0x01 only, legacy 8-table layout


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    lock_count: int
    reader_count: int
    aux_in_count: int
    aux_out_count: int
    fingerprint: bool = False  # inBio panels read fingerprints; C3 panels are card-only


MODELS: Final[dict[str, ModelSpec]] = {
    spec.name: spec
    for spec in (
        ModelSpec("C3-100", 1, 2, 0, 1),
        ModelSpec("C3-200", 2, 4, 2, 2),
        ModelSpec("C3-400", 4, 4, 4, 4),
        ModelSpec("inBio160", 1, 2, 1, 1, fingerprint=True),
        ModelSpec("inBio260", 2, 4, 2, 2, fingerprint=True),
        ModelSpec("inBio460", 4, 4, 4, 4, fingerprint=True),
    )
}


def model_spec(name: str) -> ModelSpec:
    """The capabilities of model *name* (case-insensitive); raises ValueError."""
    for spec in MODELS.values():
        if spec.name.lower() == name.lower():
            return spec
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


@dataclass(frozen=True, slots=True)
class PanelConfig:
    """Everything that makes one simulated panel what it is. Frozen: build a new one to change."""

    index: int = 0  # position in the simulator; seeds the panel's RNGs
    model: str = "C3-400"
    firmware: Firmware = Firmware.SESSION
    password: str = ""
    device_id: int = 1  # RS485 address and the address byte of every reply
    seed: int = 0
    serial: str | None = None  # derived from seed and index when None
    kv_rtlog: bool = False  # emulate C3-400 AC Ver 5.4.3: 0x0B gives 360 zero bytes, 0x79 works
    events_per_second: float = 0.0
    max_events: int | None = None  # generated events; None = unlimited
    transactions: int = 0  # preloaded past events
    users: int = 20  # preloaded users, so card swipes name real cards
    transaction_capacity: int = DEFAULT_TRANSACTION_CAPACITY
    user_capacity: int = DEFAULT_USER_CAPACITY
    clock_offset: float = 0.0  # seconds the panel clock runs ahead of the host clock
    extra_params: tuple[tuple[str, str], ...] = field(default=())

    @property
    def spec(self) -> ModelSpec:
        return model_spec(self.model)

    @property
    def serial_number(self) -> str:
        return self.serial if self.serial is not None else make_serial(self.seed, self.index)

    @property
    def firmware_version(self) -> str:
        if self.kv_rtlog:
            return "AC Ver 5.4.3.2001 Dec 19 2019"
        if self.firmware is Firmware.SESSION:
            return "AC Ver 5.0.9 4609-06 Jun 26 2018"
        return "AC Ver 4.3.4 Apr 27 2017"


def make_configs(
    count: int,
    *,
    model: str = "C3-400",
    firmware: Firmware | str = Firmware.SESSION,
    password: str = "",
    seed: int = 0,
    events_per_second: float = 0.0,
    max_events: int | None = None,
    transactions: int = 0,
    users: int = 20,
    kv_rtlog: bool = False,
) -> list[PanelConfig]:
    """Configs for *count* panels; firmware "mixed" alternates session (even) / sessionless (odd).

    DeviceIDs are 1..count (wrapping past 255) so the same panels can share an RS485 bus.
    """
    model_spec(model)  # fail early on a typo
    configs = []
    for index in range(count):
        if str(firmware) == "mixed":
            flavour = Firmware.SESSION if index % 2 == 0 else Firmware.SESSIONLESS
        else:
            flavour = Firmware(firmware)
        configs.append(
            PanelConfig(
                index=index,
                model=model,
                firmware=flavour,
                password=password,
                device_id=index % 255 + 1,
                seed=seed,
                kv_rtlog=kv_rtlog,
                events_per_second=events_per_second,
                max_events=max_events,
                transactions=transactions,
                users=users,
            )
        )
    return configs


def make_serial(seed: int, index: int) -> str:
    """A 19-character serial like the captured `DDG8130016092200401`, unique per index."""
    check = panel_rng(seed, index, "serial").randrange(10_000)
    return f"DDG{abs(seed) % 1_000_000:06d}{index:06d}{check:04d}"


def panel_rng(seed: int, index: int, purpose: str) -> random.Random:
    """A deterministic RNG per (seed, panel, purpose): streams never perturb each other."""
    # str seeds are hashed with SHA-512 by random.seed, so this is stable across runs.
    return random.Random(f"{seed}:{index}:{purpose}")


def host_clock() -> datetime:
    """The host's local time, naive, to the second (panels have no sub-second resolution)."""
    return datetime.now(UTC).astimezone().replace(tzinfo=None, microsecond=0)


class ManualClock:
    """A clock for tests: stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start if start is not None else datetime(2026, 12, 3, 16, 40, 5)  # noqa: DTZ001 naive like a panel

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        self.now = moment

"""Loader for the fact sheet's golden vectors (`c3-test-vectors.json`, fact sheet §11).

The shared file beside the repository is the source of truth; `ZKPULL_VECTORS` overrides it and
the verbatim copy in this directory is the fallback (see README.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from zkpull.protocol.frames import Frame

FILENAME: Final = "c3-test-vectors.json"
ENV_VAR: Final = "ZKPULL_VECTORS"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SHARED_PATH: Final = REPO_ROOT / ".." / "shared" / "protocol" / FILENAME
BUNDLED_PATH: Final = Path(__file__).resolve().parent / FILENAME

FRAMED_KINDS: Final = frozenset({"cap", "fx", "con", "fw"})
KINDS: Final = FRAMED_KINDS | {"crc", "rec"}


@dataclass(frozen=True, slots=True)
class Vector:
    """One vector: its bytes plus what they mean and where they were captured."""

    name: str
    wire: bytes
    meaning: str
    source: str

    @property
    def kind(self) -> str:
        """Provenance prefix: cap, fx, con, fw (whole frames), crc or rec."""
        return self.name.split("_", 1)[0]

    @property
    def framed(self) -> bool:
        return self.kind in FRAMED_KINDS

    @property
    def frame(self) -> Frame:
        """The frame, sliced by hand from the layout (not by the decoder under test)."""
        if not self.framed:
            raise TypeError(f"{self.name} is not a whole frame")
        return Frame(command=self.wire[2], data=self.wire[5:-3], address=self.wire[1])

    @property
    def data(self) -> bytes:
        """The frame's data field (session header included, if any)."""
        return self.frame.data


def vectors_path() -> Path:
    """The vectors file to use: the override, else the shared file, else the bundled copy."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if path.is_dir():
            path /= FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_VAR}={override!r} names no vectors file ({path})")
        return path
    return SHARED_PATH if SHARED_PATH.is_file() else BUNDLED_PATH


@cache
def load(path: Path | None = None) -> dict[str, Vector]:
    """Parse and sanity-check a vectors file, keyed (and ordered) by name."""
    entries = json.loads((path or vectors_path()).read_text(encoding="utf-8"))
    vectors: dict[str, Vector] = {}
    for entry in entries:
        vector = Vector(
            entry["name"], bytes.fromhex(entry["hex"]), entry["meaning"], entry["source"]
        )
        if vector.name in vectors:
            raise ValueError(f"duplicate vector name {vector.name}")
        if vector.kind not in KINDS:
            raise ValueError(f"{vector.name}: unknown provenance prefix {vector.kind!r}")
        vectors[vector.name] = vector
    return vectors


def all_vectors() -> list[Vector]:
    return list(load().values())


def of_kind(*kinds: str) -> list[Vector]:
    """Vectors whose provenance prefix is one of *kinds*, in file order."""
    return [vector for vector in load().values() if vector.kind in kinds]


def framed() -> list[Vector]:
    return of_kind(*sorted(FRAMED_KINDS))


def vector(name: str) -> Vector:
    return load()[name]

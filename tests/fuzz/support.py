"""Shared helpers of the harnesses: seeds from the golden vectors, deterministic splits."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.vectors.c3 import all_vectors

REPO = Path(__file__).resolve().parents[2]


def vectors() -> list[tuple[str, bytes]]:
    """(name, wire bytes) of every golden vector."""
    return [(vector.name, vector.wire) for vector in all_vectors()]


def framed_vectors() -> list[bytes]:
    return [vector.wire for vector in all_vectors() if vector.framed]


def vector_payloads() -> list[bytes]:
    """The data fields of the framed vectors (session header included)."""
    return [vector.data for vector in all_vectors() if vector.framed]


def splits(data: bytes, seed: int) -> Iterator[bytes]:
    """Cut *data* into chunks whose sizes come from *seed* (1-byte chunks to whole)."""
    rng = random.Random(seed)
    mode = seed % 4
    position = 0
    while position < len(data):
        if mode == 0:
            # Byte by byte (the RS485 case) through the first frames' headers, then faster: a
            # 1-byte split of a whole 4 KiB input would cost more than it finds.
            size = 1 if position < 48 else rng.randint(1, 64)
        elif mode == 1:
            size = len(data)
        else:
            size = rng.randint(1, 64 if mode == 2 else 4096)
        yield data[position : position + size]
        position += size


def setup_django() -> None:
    """Make `agent` importable and configured (the settings harnesses build models)."""
    sys.path.insert(0, str(REPO / "zkeco_modern"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")
    import django  # noqa: PLC0415  # only the Django harnesses pay for it

    django.setup()

"""A harness that fails on purpose (input "boom"): proves that a crash fails the fuzz runs."""

from __future__ import annotations


def crash_on_boom(data: bytes) -> None:
    if data.startswith(b"boom"):
        raise RuntimeError("deliberate crash: the fuzz machinery must report this")


def seeds() -> list[bytes]:
    return [b"hello", b"boom"]

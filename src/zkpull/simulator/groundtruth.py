"""Ground truth: every event a simulated panel stores in its transaction table, as JSON lines.

One object per event with exactly the keys serial, port, time, pin, card, door, event_type,
inout, verify. `time` is panel local time, ISO 8601 without zone. The file is line-buffered,
so a consumer tailing it sees an event as soon as the panel has stored it.
"""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import TextIO

from zkpull.protocol.rtlog import RtEvent

from .panel import FakePanel


class GroundTruthWriter:
    """Append-only JSON-lines sink; pass `write` as a FakePanel's `on_event`."""

    def __init__(self, target: str | os.PathLike[str] | TextIO) -> None:
        if isinstance(target, str | os.PathLike):
            self._stream: TextIO = open(target, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 closed by close()
            self._owned = True
        else:
            self._stream, self._owned = target, False
        self.lines = 0
        self._prefix: dict[int, str] = {}  # per panel: the constant start of its lines

    def write(self, panel: FakePanel, event: RtEvent) -> None:
        prefix = self._prefix.get(id(panel))
        if prefix is None:
            prefix = self._prefix[id(panel)] = (
                f'{{"serial": {json.dumps(panel.serial)}, "port": {json.dumps(panel.port)}, '
            )
        when = event.time.isoformat() if event.time is not None else ""  # stored times are valid
        self._stream.write(
            f'{prefix}"time": "{when}", "pin": {event.pin}, "card": {event.card}, '
            f'"door": {event.door}, "event_type": {event.event_type}, "inout": {event.inout}, '
            f'"verify": {event.verified}}}\n'
        )
        self.lines += 1

    def forget(self, panel: FakePanel) -> None:
        """Drop the cached line prefix of *panel* (after its port changed)."""
        self._prefix.pop(id(panel), None)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()

    def __enter__(self) -> GroundTruthWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

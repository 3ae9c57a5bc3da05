"""An RS485 bus on a pseudo-terminal: one pty, every panel a seat at its own address (§1.3, §1.6).

A panel answers only frames addressed to its DeviceID or to 0 (broadcast; then every panel
answers, in address order, as a real bus would garble). Frames are handled one at a time, as on
a half-duplex bus. Garbage on the line resets the decoder and is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Sequence
from typing import Final

from zkpull.protocol.constants import BROADCAST_ADDRESS
from zkpull.protocol.errors import ProtocolError
from zkpull.protocol.frames import Frame, FrameDecoder, encode_frame

from .connection import PanelConnection
from .panel import FakePanel

MAX_QUEUED_FRAMES: Final = 64  # a client that floods the bus loses frames, we never grow
MAX_OUTPUT: Final = 1024 * 1024  # unread replies kept for a slow reader, then dropped


class PtyBus:
    """Serve *panels* on one pty. `start()` returns the slave path a client opens."""

    def __init__(self, panels: Sequence[FakePanel]) -> None:
        addresses = [panel.address for panel in panels]
        if len(set(addresses)) != len(addresses) or BROADCAST_ADDRESS in addresses:
            raise ValueError("panels on one bus need distinct, non-zero addresses")
        self.panels = {panel.address: panel for panel in panels}
        self.path: str | None = None
        self.malformed = 0
        self._seats: dict[int, PanelConnection] = {}
        self._decoder = FrameDecoder()
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._output = bytearray()
        self._master = self._slave = -1
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> str:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation. Holding the slave open keeps the master
        # readable (no EIO) between clients.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._worker = asyncio.create_task(self._serve(), name="rs485-bus")
        return self.path

    def stop(self) -> None:
        if self._master < 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        if self._worker is not None:
            self._worker.cancel()
        for seat in self._seats.values():
            seat.release()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no client holds the line; the next read recovers
        try:
            frames = self._decoder.feed(data)
        except ProtocolError:
            self.malformed += 1
            self._decoder.reset()
            return
        for frame in frames:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(frame)

    async def _serve(self) -> None:
        while True:
            frame = await self._queue.get()
            if frame.address == BROADCAST_ADDRESS:
                targets = sorted(self.panels)
            else:
                targets = [frame.address] if frame.address in self.panels else []
            raw = encode_frame(frame)
            for address in targets:
                panel = self.panels[address]
                if panel.faults.refuse:
                    continue  # a switched-off panel: silence
                reply = self._seat(address).receive(raw)
                if panel.faults.delay > 0:
                    await asyncio.sleep(panel.faults.delay)
                if reply:
                    self._write(reply)

    def _seat(self, address: int) -> PanelConnection:
        """The panel's bus connection; a closed one (reboot, fault) is replaced, as a bus has no hang-up."""
        seat = self._seats.get(address)
        if seat is None or seat.closed:
            if seat is not None:
                seat.release()
            seat = self._seats[address] = self.panels[address].connection()
        return seat

    def _write(self, data: bytes) -> None:
        if len(self._output) + len(data) > MAX_OUTPUT:
            return
        self._output += data
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._output:
                written = os.write(self._master, self._output)
                del self._output[:written]
        except (BlockingIOError, InterruptedError):
            loop.add_writer(self._master, self._flush)
            return
        except OSError:
            self._output.clear()
        loop.remove_writer(self._master)

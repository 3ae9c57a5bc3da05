"""FakePanel: the state of one simulated C3/inBio panel and what changes it.

One FakePanel serves every link to that panel (each TCP connection, the RS485 bus, in-memory
connections); per-link state (dialect, session id, big-data buffer) lives in PanelConnection.
Everything is synchronous and clock-injected, so tests drive it without sockets or sleeping.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from zkpull.protocol.codes import EventType, InOutState, VerifyMode
from zkpull.protocol.constants import ControlOperation, OutputType
from zkpull.protocol.rtlog import DoorStatus, RtEvent
from zkpull.protocol.tables import Table
from zkpull.protocol.timecodec import decode_time, encode_time

from . import parameters
from .doors import DoorBank
from .events import EventGenerator, EventSpec, preload_gaps, user_rows
from .faults import Faults
from .layouts import LEGACY_LAYOUT, NEWER_LAYOUT, PRIMARY_KEYS, USER_TABLE
from .model import MAX_RTLOG, Clock, Firmware, PanelConfig, RefusalError, host_clock, panel_rng
from .store import TRANSACTION_RECORD, RowTable, TransactionLog

if TYPE_CHECKING:
    from .connection import PanelConnection

EventSink = Callable[["FakePanel", RtEvent], None]


@dataclass(slots=True)
class PanelStats:
    requests: int = 0
    malformed: int = 0  # bad frames (CRC, start byte, length, truncated): connection closed
    connections: int = 0
    events: int = 0  # stored in the transaction table (preload included)
    generated: int = 0  # by the generator (counts against max_events)
    reboots: int = 0


class FakePanel:
    """One simulated panel. Build with a PanelConfig; serve with `connection()`."""

    def __init__(
        self,
        config: PanelConfig | None = None,
        *,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
        preload: bool = True,
    ) -> None:
        self.config = config = config if config is not None else PanelConfig()
        self.spec = config.spec
        self.serial = config.serial_number
        self.address = config.device_id
        self.session_firmware = config.firmware is Firmware.SESSION
        self.kv_rtlog = config.kv_rtlog
        self.port: int | None = None  # the TCP port serving it, for ground truth
        self.clock: Clock = clock if clock is not None else host_clock
        self.on_event = on_event
        self.stats = PanelStats()
        self.faults = Faults(rng=panel_rng(config.seed, config.index, "faults"))
        self.faults.on_reboot = lambda: self.reboot(reset_clock=True)
        layout = NEWER_LAYOUT if self.session_firmware else LEGACY_LAYOUT
        self.layout: dict[str, Table] = {table.name: table for table in layout}
        self.transactions = TransactionLog(config.transaction_capacity)
        self.read_pointer = 0  # transaction "new records" pointer, as a sequence number
        self.pending_pointer: int | None = None  # committed by GET_DATA_OK
        mac = config.index.to_bytes(3, "big").hex(":").upper()
        computed = {
            "DateTime": lambda: str(encode_time(self.now())),
            "~SerialNumber": lambda: self.serial,
            "FirmVer": lambda: config.firmware_version,
            "DeviceID": lambda: str(self.address),
            "MAC": lambda: f"00:17:61:{mac}",
        }
        self.params = parameters.ParamStore(
            parameters.default_params(self.spec, config.firmware),
            computed,
            {**dict(config.extra_params), "ComPwd": config.password},
        )
        self._offset = timedelta(seconds=config.clock_offset)
        self._tables: dict[str, RowTable] = {}  # created on first use: most panels touch few
        self._ring: deque[RtEvent] = deque(maxlen=MAX_RTLOG)
        self._generator = EventGenerator(panel_rng(config.seed, config.index, "events"))
        self._sessions = panel_rng(config.seed, config.index, "sessions")
        self._credit = 0.0
        self._users: tuple[int, list[tuple[int, int]]] = (-1, [])
        self._connections: weakref.WeakSet[PanelConnection] = weakref.WeakSet()
        self.doors = DoorBank(self.spec, self.clock)
        if config.users:
            users = self.table(USER_TABLE)
            users.upsert(
                user_rows(users, panel_rng(config.seed, config.index, "users"), config.users)
            )
        if preload and config.transactions:
            self.preload(config.transactions)

    # -- links ----------------------------------------------------------------------------------
    def connection(self) -> PanelConnection:
        """A new link to this panel: `receive(request bytes) -> reply bytes`."""
        from .connection import PanelConnection  # noqa: PLC0415 the two modules reference each other

        return PanelConnection(self)

    def attach(self, connection: PanelConnection) -> None:
        self._connections.add(connection)
        self.stats.connections += 1

    def detach(self, connection: PanelConnection) -> None:
        self._connections.discard(connection)

    def new_session_id(self) -> int:
        return self._sessions.randrange(1, 0x10000)

    # -- clock and parameters -------------------------------------------------------------------
    def now(self) -> datetime:
        """Panel local time: host time plus this panel's offset, to the second."""
        return (self.clock() + self._offset).replace(microsecond=0)

    def set_time(self, moment: datetime) -> None:
        self._offset = moment - self.clock()

    @property
    def password(self) -> str:
        return self.params.get("ComPwd") or ""

    @password.setter
    def password(self, value: str) -> None:
        self.params.values["ComPwd"] = value

    def param(self, name: str) -> str | None:
        """The current value of parameter *name*, None when the panel does not know it."""
        return self.params.get(name)

    def get_params(self, payload: bytes) -> bytes:
        return self.params.answer_get(payload, legacy=not self.session_firmware)

    def set_params(self, payload: bytes) -> bool:
        """Apply a SETPARAM; return True when it asked for a reboot (done after the reply)."""
        change = self.params.apply_set(payload)
        if change.packed_time is not None:
            self.set_time(decode_time(change.packed_time))
        return change.reboot

    # -- tables -----------------------------------------------------------------------------------
    def table(self, name: str) -> RowTable:
        """The non-transaction table *name*; KeyError when the layout has none."""
        store = self._tables.get(name)
        if store is None:
            capacity = (
                self.config.user_capacity
                if name == USER_TABLE
                else max(self.config.user_capacity, 100_000)
            )
            store = self._tables[name] = RowTable(self.layout[name], PRIMARY_KEYS[name], capacity)
        return store

    def table_by_id(self, table_id: int) -> Table | None:
        return next((table for table in self.layout.values() if table.id == table_id), None)

    def users(self) -> list[tuple[int, int]]:
        """(pin, card) of every user, cached until the user table changes."""
        store = self.table(USER_TABLE)
        if self._users[0] != store.version:
            pin = store.position(store.table.field("Pin").id) or 0
            card = store.position(store.table.field("CardNo").id) or 0
            pairs = [(r[pin], r[card]) for r in store.rows()]
            self._users = (
                store.version,
                [(p, c) for p, c in pairs if isinstance(p, int) and isinstance(c, int)],
            )
        return self._users[1]

    # -- events -----------------------------------------------------------------------------------
    def emit(
        self,
        event_type: int,
        *,
        door: int = 0,
        pin: int = 0,
        card: int = 0,
        verify: int = VerifyMode.OTHER,
        inout: int = InOutState.NONE,
        time: datetime | None = None,
        to_ring: bool = True,
        apply_state: bool = True,
    ) -> RtEvent:
        """Store an event in the transaction table and push it to the RT ring.

        An event identical to a stored one (same time, pin, card, door, type, in/out, verify)
        moves on by a second until it is unique: consumers dedupe on exactly that key.
        """
        moment = time if time is not None else self.now()
        if moment.microsecond:
            moment = moment.replace(microsecond=0)
        packed = encode_time(moment)
        record = TRANSACTION_RECORD.pack(card, pin, verify, door, event_type, inout, packed)
        while self.transactions.seen(packed, record):
            moment += timedelta(seconds=1)
            packed = encode_time(moment)
            record = TRANSACTION_RECORD.pack(card, pin, verify, door, event_type, inout, packed)
        seq = self.transactions.add(packed, record)
        self.stats.events += 1
        event = RtEvent(moment, pin, card, door, event_type, inout, verify, packed, seq + 1)
        if apply_state:
            self.doors.apply(event_type, door)
        if to_ring:
            self._ring.append(event)
        if self.on_event is not None:
            self.on_event(self, event)
        return event

    def generate_event(self, *, time: datetime | None = None) -> RtEvent | None:
        """One event from the seeded generator; None once max_events were generated."""
        limit = self.config.max_events
        if limit is not None and self.stats.generated >= limit:
            return None
        self.stats.generated += 1
        return self._emit_spec(
            self._generator.next(self.spec, self.users(), self.doors.sensors), time
        )

    def tick(self, seconds: float) -> int:
        """Advance the generator by *seconds* at the configured rate; return events made."""
        self._credit += self.config.events_per_second * seconds
        made = 0
        while self._credit >= 1.0:
            self._credit -= 1.0
            if self.generate_event() is None:
                self._credit = 0.0
                break
            made += 1
        return made

    def preload(self, count: int) -> None:
        """Store *count* generated events in the past (distinct times, not on the RT ring)."""
        gaps = preload_gaps(panel_rng(self.config.seed, self.config.index, "preload"), count)
        moment = self.now() - timedelta(seconds=sum(gaps) + 60)
        scratch = DoorBank(self.spec, self.clock)  # past door states, not today's
        users, pack = self.users(), TRANSACTION_RECORD.pack
        # Strictly increasing times after everything stored are unique by construction: skip
        # the duplicate check and the event objects (thousands of panels x 100,000 events).
        fast = encode_time(moment) > self.transactions.newest
        for gap in gaps:
            moment += timedelta(seconds=gap)
            spec = self._generator.next(self.spec, users, scratch.sensors)
            scratch.apply(spec.event_type, spec.door)
            if not fast or self.on_event is not None:
                self._emit_spec(spec, moment, to_ring=False, apply_state=False)
            else:
                packed = encode_time(moment)
                self.stats.events += 1
                self.transactions.add(
                    packed,
                    pack(
                        spec.card,
                        spec.pin,
                        spec.verify,
                        spec.door,
                        spec.event_type,
                        spec.inout,
                        packed,
                    ),
                )

    # -- real-time log ----------------------------------------------------------------------------
    def take_rt(self, limit: int) -> list[RtEvent]:
        """Pop up to *limit* pending RT events, oldest first."""
        ring = self._ring
        return [ring.popleft() for _ in range(min(limit, len(ring)))]

    def clear_rt(self) -> None:
        self._ring.clear()

    @property
    def pending_rt(self) -> int:
        return len(self._ring)

    def door_status(self) -> DoorStatus:
        """The status record the panel sends when no event is pending (§4.2)."""
        return self.doors.status(self.now(), session_firmware=self.session_firmware)

    # -- control and reboot -----------------------------------------------------------------------
    def control(self, operation: int, p1: int, p2: int, p3: int) -> bool:
        """Run a CONTROL_DEVICE (§3.4); return True for a restart (done after the reply)."""
        if operation == ControlOperation.OUTPUT and p2 in (OutputType.DOOR, OutputType.AUX):
            self.emit(self.doors.output(p1, p2, p3), door=p1)
        elif operation == ControlOperation.CANCEL_ALARM:
            # The SDK sends p1=0; legacy ZKECO names a door. Either way every alarm is cleared.
            door = p1 if 1 <= p1 <= self.spec.lock_count else 0
            self.emit(EventType.CANCEL_ALARM, door=door)
        elif operation == ControlOperation.RESTART:
            return True
        elif operation == ControlOperation.NORMAL_OPEN and p2 in (0, 1):
            self.emit(self.doors.normal_open(p1, bool(p2)), door=p1)
        else:
            raise RefusalError(-11, f"control {operation}/{p2} is not an operation")
        return False

    def reboot(self, *, reset_clock: bool = False) -> None:
        """Restart: drop every link, empty the RT ring, relock, then log event 206 on door 0."""
        self.stats.reboots += 1
        for connection in list(self._connections):
            connection.kill()
        self._ring.clear()
        self.doors.reset()
        if reset_clock:
            self._offset = timedelta(seconds=self.config.clock_offset)
        self.emit(EventType.DEVICE_START)

    # -- internals --------------------------------------------------------------------------------
    def _emit_spec(self, spec: EventSpec, time: datetime | None, **options: bool) -> RtEvent:
        return self.emit(
            spec.event_type, door=spec.door, pin=spec.pin, card=spec.card,
            verify=spec.verify, inout=spec.inout, time=time, **options,
        )  # fmt: skip

"""PanelConnection: one link to a FakePanel, turning request bytes into reply bytes (sans-I/O).

Per-link state lives here: authorisation, the session id (via the codec's PanelSession), the
big-data buffers and MaxLen. Big-data buffers are per link rather than per panel (the firmware
has one) so that concurrent test clients can not disturb each other's transfers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from zkpull.protocol.constants import FRAME_OVERHEAD, SESSION_HEADER_SIZE, Command, Reply
from zkpull.protocol.errors import MessageError, ProtocolError
from zkpull.protocol.params import decode_control
from zkpull.protocol.rtlog import RtRecord, encode_door_status, encode_rt_event, encode_rtlog_kv
from zkpull.protocol.server import PanelSession, Request
from zkpull.protocol.tables import encode_table_struct

from . import datatables
from .model import MAX_RTLOG, RefusalError
from .panel import FakePanel
from .transfer import Transfers

KV_PLACEHOLDER: Final = bytes(360)  # what C3-400 AC Ver 5.4.3 answers to binary 0x0B
Handler = Callable[["PanelConnection", bytes], tuple[int, bytes]]


class PanelConnection:
    """A link (TCP connection, RS485 seat, memory pipe). `closed` tells the server to hang up."""

    def __init__(self, panel: FakePanel) -> None:
        self.panel = panel
        self.closed = False
        self.authorized = False
        self.on_close: Callable[[], None] | None = None  # the server's "hang up now"
        self._session = PanelSession(address=panel.address, session_firmware=panel.session_firmware)
        self._buffered = 0  # bytes received that are not yet a whole request
        self._in_receive = False
        self._after: Callable[[], None] | None = None  # runs once the current reply is built
        self._transfers = Transfers()
        panel.attach(self)

    @property
    def session_id(self) -> int | None:
        return self._session.session_id

    @property
    def partial(self) -> bool:
        """Whether part of a request is buffered (an EOF now means a truncated request)."""
        return self._buffered > 0

    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the client; return the reply bytes (possibly none)."""
        if self.closed:
            return b""
        self._buffered += len(data)
        try:
            requests = self._session.receive(data)
        except ProtocolError:
            self.panel.stats.malformed += 1
            self.closed = True
            return b""
        faults = self.panel.faults
        out = bytearray()
        self._in_receive = True
        try:
            for request in requests:
                self._buffered -= FRAME_OVERHEAD + len(request.payload)
                self._buffered -= SESSION_HEADER_SIZE if request.has_header else 0
                self.panel.stats.requests += 1
                if faults.take_drop():
                    self.closed = True
                    break
                reply, hang_up = faults.mangle(self._dispatch(request))
                out += reply
                after, self._after = self._after, None
                if after is not None:
                    after()
                if hang_up or self.closed:
                    self.closed = True
                    break
        finally:
            self._in_receive = False
        return bytes(out)

    def eof(self) -> None:
        """The client closed its side; a half-received request counts as malformed."""
        if self.partial and not self.closed:
            self.panel.stats.malformed += 1
        self.release()

    def kill(self) -> None:
        """Drop the link from the panel's side (reboot)."""
        self.closed = True
        if not self._in_receive and self.on_close is not None:
            self.on_close()

    def release(self) -> None:
        self.closed = True
        self.panel.detach(self)

    # -- dispatch ---------------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> bytes:
        session = self._session
        if request.command == Command.CONNECT:
            return self._connect(request)
        if request.command == Command.CONNECT_SESSION:
            return self._connect_session(request)
        handler = _HANDLERS.get(request.command)
        if handler is None:
            return session.error(request, -13)
        if not self._allowed(request):
            return session.error(request, -8)
        try:
            code, payload = handler(self, request.payload)
        except RefusalError as exc:
            return session.error(request, exc.code)
        except MessageError:
            return session.error(request, -11)
        except (ValueError, OverflowError):
            # Values the codec cannot encode back: refuse the command rather than drop the link.
            return session.error(request, -12)
        return session.reply(request, code, payload)

    def _allowed(self, request: Request) -> bool:
        if not self.authorized:
            return False
        session_id = self._session.session_id
        return session_id is None or (request.has_header and request.session_id == session_id)

    def _connect(self, request: Request) -> bytes:
        self._reset_link()
        if request.payload != self.panel.password.encode("ascii", "replace"):
            return self._session.error(request, -14)
        return self._accept(request)

    def _connect_session(self, request: Request) -> bytes:
        if not self.panel.session_firmware:
            return self._session.error(request, -13)  # PanelSession left it headerless
        if not request.has_header:
            return self._session.error(request, -11)
        self._reset_link()
        if request.payload != self.panel.password.encode("ascii", "replace"):
            # Captured: the refusal carries a fresh random session id, not the placeholder.
            refused = dataclasses.replace(request, session_id=self.panel.new_session_id())
            return self._session.error(refused, -14)
        self._session.establish(self.panel.new_session_id())
        return self._accept(request)

    def _accept(self, request: Request) -> bytes:
        self.authorized = True
        self.panel.clear_rt()  # every CONNECT empties the RT ring (§2.1)
        return self._session.reply(request, Reply.OK)

    def _reset_link(self) -> None:
        self.authorized = False
        self._session.drop()
        self._transfers.reset()

    # -- handlers -----------------------------------------------------------------------------------
    def _disconnect(self, _payload: bytes) -> tuple[int, bytes]:
        self._after = self.release
        return Reply.OK, b""

    def _set_params(self, payload: bytes) -> tuple[int, bytes]:
        if self.panel.set_params(payload):
            self._after = self.panel.reboot
        return Reply.OK, b""

    def _get_params(self, payload: bytes) -> tuple[int, bytes]:
        return Reply.OK, self.panel.get_params(payload)

    def _control(self, payload: bytes) -> tuple[int, bytes]:
        if self.panel.control(*decode_control(payload)):
            self._after = self.panel.reboot
        return Reply.OK, b""

    def _table_struct(self, _payload: bytes) -> tuple[int, bytes]:
        return self._transfers.reply(encode_table_struct(self.panel.layout.values()))

    def _get_data(self, payload: bytes) -> tuple[int, bytes]:
        return self._transfers.reply(datatables.get_data(self.panel, payload))

    def _set_data(self, payload: bytes) -> tuple[int, bytes]:
        datatables.set_data(self.panel, payload)
        return Reply.OK, b""

    def _delete_data(self, payload: bytes) -> tuple[int, bytes]:
        datatables.delete_data(self.panel, payload)
        return Reply.OK, b""

    def _count(self, payload: bytes) -> tuple[int, bytes]:
        return Reply.OK, datatables.count_data(self.panel, payload)

    def _data_ok(self, payload: bytes) -> tuple[int, bytes]:
        datatables.commit_read(self.panel, payload)
        if self.panel.session_firmware:
            return Reply.OK, b""
        return (
            Reply.ERROR,
            b"\x00",
        )  # the legacy firmware's success path uses the error macro (§6.6)

    def _rtlog(self, _payload: bytes) -> tuple[int, bytes]:
        panel = self.panel
        if panel.kv_rtlog:
            return Reply.OK, KV_PLACEHOLDER
        events = panel.take_rt(MAX_RTLOG if panel.session_firmware else 1)
        if events:
            return Reply.OK, b"".join(map(encode_rt_event, events))
        return Reply.OK, encode_door_status(panel.door_status())

    def _rtlog_kv(self, _payload: bytes) -> tuple[int, bytes]:
        if not self.panel.kv_rtlog:
            raise RefusalError(-13, "this firmware has no key/value RT log")
        records: list[RtRecord] = list(self.panel.take_rt(MAX_RTLOG))
        return Reply.OK, encode_rtlog_kv(records or [self.panel.door_status()])

    def _noop(self, _payload: bytes) -> tuple[int, bytes]:
        return Reply.OK, b""

    # -- big data (§3.6) ----------------------------------------------------------------------------
    def _prepare(self, payload: bytes) -> tuple[int, bytes]:
        self._transfers.prepare(payload)
        return Reply.OK, b""

    def _read(self, payload: bytes) -> tuple[int, bytes]:
        return Reply.OK, self._transfers.read(payload)

    def _write(self, payload: bytes) -> tuple[int, bytes]:
        self._transfers.write(payload)
        return Reply.OK, b""

    def _hash(self, payload: bytes) -> tuple[int, bytes]:
        return Reply.OK, self._transfers.hash(payload)

    def _free(self, _payload: bytes) -> tuple[int, bytes]:
        upload = self._transfers.free()
        if upload is not None and upload[0] == Command.SET_DATA:
            datatables.set_data(self.panel, upload[1])
        elif upload is not None:
            datatables.delete_data(self.panel, upload[1])
        return Reply.OK, b""


_HANDLERS: Final[dict[int, Handler]] = {
    Command.DISCONNECT: PanelConnection._disconnect,
    Command.SET_DEVICE_PARAM: PanelConnection._set_params,
    Command.GET_DEVICE_PARAM: PanelConnection._get_params,
    Command.CONTROL_DEVICE: PanelConnection._control,
    Command.GET_TABLE_STRUCT: PanelConnection._table_struct,
    Command.SET_DATA: PanelConnection._set_data,
    Command.GET_DATA: PanelConnection._get_data,
    Command.DELETE_DATA: PanelConnection._delete_data,
    Command.GET_DATA_COUNT: PanelConnection._count,
    Command.GET_REALTIME_LOG: PanelConnection._rtlog,
    Command.QUERY_DATA: PanelConnection._noop,  # a no-op in the firmware
    Command.PREPARE_DATA: PanelConnection._prepare,
    Command.READ_DATA: PanelConnection._read,
    Command.FREE_DATA: PanelConnection._free,
    Command.DATA: PanelConnection._write,
    Command.HASH_DATA: PanelConnection._hash,
    Command.GET_DATA_OK: PanelConnection._data_ok,
    Command.GET_REALTIME_LOG_KV: PanelConnection._rtlog_kv,
}

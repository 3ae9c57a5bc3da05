"""Every Prometheus metric of the agent, as fields of one ``Metrics`` object (STYLE §4.11).

Names are ``commcenter_<thing>_<base unit>[_total]``; each field is named after its metric
without the ``commcenter_`` prefix (plus the migration plan's ``rtlog_lines`` and
``event_logs``). Labels stay low-cardinality: ``device`` is the device alias (or id),
``command`` the command verb (``DEVICE SET``, not the whole text); never a pin or a card.
Plain Python, no Django.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter as Tally
from collections.abc import Iterable
from importlib import metadata
from typing import Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from .records import QuarantineReason, reason_code

__all__ = ["Metrics", "snapshot", "start_http_server"]

# From 1 ms (a loopback poll) to 5 s (a timing-out RS485 panel).
POLL_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DOWNLOAD_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BATCH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_DEVICE: Final = ("device",)
HTTP_TIMEOUT: Final = 10.0  # seconds per socket operation of one /metrics connection


class Metrics:
    """The agent's metrics, registered in *registry* (a fresh one by default)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, version: str | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rtlog_lines = Counter(
            "commcenter_rtlog_lines",
            "Real-time log lines received from panels.",
            _DEVICE,
            registry=r,
        )
        self.event_logs = Counter(
            "commcenter_event_logs",
            "Access events stored (source: rtlog or download).",
            ("device", "source"),
            registry=r,
        )
        self.events_received_total = Counter(
            "commcenter_events_received", "Access events decoded from panels.", _DEVICE, registry=r
        )
        self.events_duplicate_total = Counter(
            "commcenter_events_duplicate", "Events already stored (ignored).", _DEVICE, registry=r
        )
        self.events_quarantined_total = Counter(
            "commcenter_events_quarantined",
            "Records kept in quarantine instead of stored (reason: time_invalid, "
            "time_out_of_range, pin_invalid, card_invalid, code_out_of_range, ...).",
            ("device", "reason"),
            registry=r,
        )
        self.device_up = Gauge(
            "commcenter_device_up", "1 while the panel session is up.", _DEVICE, registry=r
        )
        self.devices_online = Gauge(
            "commcenter_devices_online", "Panels with a session up.", registry=r
        )
        self.device_connects_total = Counter(
            "commcenter_device_connects",
            "Connect attempts (result: ok|timeout|refused|auth|protocol|...).",
            ("device", "result"),
            registry=r,
        )
        self.reconnects_total = Counter(
            "commcenter_reconnects", "Sessions re-established after a loss.", _DEVICE, registry=r
        )
        self.poll_duration_seconds = Histogram(
            "commcenter_poll_duration_seconds",
            "Real-time log poll round trip.",
            _DEVICE,
            registry=r,
            buckets=POLL_BUCKETS,
        )
        self.cycle_lag_seconds = Histogram(
            "commcenter_cycle_lag_seconds",
            "How late a device cycle started.",
            registry=r,
            buckets=LAG_BUCKETS,
        )
        self.download_records_total = Counter(
            "commcenter_download_records", "Transaction records downloaded.", _DEVICE, registry=r
        )
        self.download_duration_seconds = Histogram(
            "commcenter_download_duration_seconds",
            "Transaction download duration.",
            _DEVICE,
            registry=r,
            buckets=DOWNLOAD_BUCKETS,
        )
        self.commands_total = Counter(
            "commcenter_commands",
            "Commands run (command: verb; result: ok|failed|expired|rejected).",
            ("device", "command", "result"),
            registry=r,
        )
        self.protocol_errors_total = Counter(
            "commcenter_protocol_errors",
            "Bytes from a panel we could not accept (kind: checksum|frame|unexpected_reply).",
            ("device", "kind"),
            registry=r,
        )
        self.persistence_batch_seconds = Histogram(
            "commcenter_persistence_batch_seconds",
            "Time to store one batch of events.",
            registry=r,
            buckets=BATCH_BUCKETS,
        )
        self.persistence_buffered_events = Gauge(
            "commcenter_persistence_buffered_events", "Events waiting to be stored.", registry=r
        )
        self.persistence_retries_total = Counter(
            "commcenter_persistence_retries",
            "Batch writes retried after a database error.",
            registry=r,
        )
        self.queue_depth = Gauge("commcenter_queue_depth", "Pending commands.", _DEVICE, registry=r)
        self.unexpected_errors_total = Counter(
            "commcenter_unexpected_errors",
            "Bugs caught at a top-level loop.",
            ("where",),
            registry=r,
        )
        self.build_info = Gauge(
            "commcenter_build_info", "Always 1; the version label.", ("version",), registry=r
        )
        self.build_info.labels(version or _version()).set(1)

    @property
    def rtlog_lines_total(self) -> Counter:
        """Alias of :attr:`rtlog_lines` (the field-naming rule)."""
        return self.rtlog_lines

    @property
    def event_logs_total(self) -> Counter:
        """Alias of :attr:`event_logs` (the field-naming rule)."""
        return self.event_logs

    def count_quarantined(self, device: str, reasons: Iterable[str], total: int) -> None:
        """Count *total* quarantined records of *device* by the code their reason starts with.

        Records without a reason (there should be none) count as ``invalid``.
        """
        by_code = Tally(str(reason_code(reason)) for reason in reasons)
        rest = total - sum(by_code.values())
        if rest > 0:
            by_code[str(QuarantineReason.INVALID)] += rest
        for code, count in by_code.items():
            self.events_quarantined_total.labels(device, code).inc(count)

    def remove_device(self, device: str) -> None:
        """Drop every label set of *device* (the device was removed or renamed)."""
        for metric in self._per_device():
            metric.remove_by_labels({"device": device})

    def _per_device(self) -> list[Counter | Gauge | Histogram]:
        return [
            self.rtlog_lines, self.event_logs, self.events_received_total,
            self.events_duplicate_total, self.events_quarantined_total, self.device_up,
            self.device_connects_total, self.reconnects_total, self.poll_duration_seconds,
            self.download_records_total, self.download_duration_seconds, self.commands_total,
            self.protocol_errors_total, self.queue_depth,
        ]  # fmt: skip


def snapshot(metrics: Metrics) -> dict[str, float]:
    """The main counters and gauges summed over their labels, for periodic log lines."""
    parts: dict[str, Counter | Gauge] = {
        "rtlog_lines": metrics.rtlog_lines,
        "event_logs": metrics.event_logs,
        "events_received": metrics.events_received_total,
        "events_duplicate": metrics.events_duplicate_total,
        "events_quarantined": metrics.events_quarantined_total,
        "devices_online": metrics.devices_online,
        "device_connects": metrics.device_connects_total,
        "reconnects": metrics.reconnects_total,
        "download_records": metrics.download_records_total,
        "commands": metrics.commands_total,
        "protocol_errors": metrics.protocol_errors_total,
        "persistence_buffered_events": metrics.persistence_buffered_events,
        "persistence_retries": metrics.persistence_retries_total,
        "unexpected_errors": metrics.unexpected_errors_total,
    }
    return {key: _sum(metric) for key, metric in parts.items()}


def start_http_server(
    metrics: Metrics, *, port: int, host: str = "127.0.0.1", timeout: float = HTTP_TIMEOUT
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on *host*:*port* from a daemon thread (loopback unless told).

    Each connection gets *timeout* seconds per socket operation, so a client that connects
    and never sends (or never reads) costs one thread for that long, not forever. Return the
    server and its thread; ``server.shutdown()`` stops it. Port 0 picks a free one
    (``server.server_port``).
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    family, address = _family(host, port)
    server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
    handler = type("MetricsHandler", (_QuietHandler,), {"timeout": timeout})
    server: WSGIServer = make_server(
        address, port, make_wsgi_app(metrics.registry), server_class, handler_class=handler
    )
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on stderr (scrapes every few seconds would drown the agent's log)."""

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing."""


def _family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address family and address to bind *host* with (IPv6 hosts need AF_INET6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0])


def _sum(metric: Counter | Gauge) -> float:
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            # Counters also expose *_created timestamps; only the values count.
            if sample.name.endswith("_total") or family.type == "gauge":
                total += sample.value
    return total


def _version() -> str:
    try:
        return metadata.version("modern-commcenter")
    except metadata.PackageNotFoundError:
        return "unknown"

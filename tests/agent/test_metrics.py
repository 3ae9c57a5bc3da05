"""agent.metrics: names, labels, snapshot, device removal and the HTTP endpoint."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry

from agent.metrics import Metrics, snapshot, start_http_server

EXPECTED = {
    "commcenter_rtlog_lines": "counter",
    "commcenter_event_logs": "counter",
    "commcenter_events_received": "counter",
    "commcenter_events_duplicate": "counter",
    "commcenter_events_quarantined": "counter",
    "commcenter_device_up": "gauge",
    "commcenter_devices_online": "gauge",
    "commcenter_device_connects": "counter",
    "commcenter_reconnects": "counter",
    "commcenter_poll_duration_seconds": "histogram",
    "commcenter_cycle_lag_seconds": "histogram",
    "commcenter_download_records": "counter",
    "commcenter_download_duration_seconds": "histogram",
    "commcenter_commands": "counter",
    "commcenter_protocol_errors": "counter",
    "commcenter_persistence_batch_seconds": "histogram",
    "commcenter_persistence_buffered_events": "gauge",
    "commcenter_persistence_retries": "counter",
    "commcenter_queue_depth": "gauge",
    "commcenter_unexpected_errors": "counter",
    "commcenter_build_info": "gauge",
}


def test_every_metric_is_registered_with_its_type_in_the_given_registry() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    assert metrics.registry is registry
    assert {family.name: family.type for family in registry.collect()} == EXPECTED
    Metrics()  # a fresh registry each time: no "Duplicated timeseries" error


def test_counters_are_exposed_with_total_and_their_labels() -> None:
    metrics = Metrics(version="1.2.3")
    metrics.rtlog_lines.labels("door-1").inc(3)
    metrics.event_logs.labels("door-1", "rtlog").inc(2)
    metrics.event_logs_total.labels("door-1", "download").inc(5)
    metrics.commands_total.labels("door-1", "DEVICE SET", "ok").inc()
    metrics.poll_duration_seconds.labels("door-1").observe(0.004)
    value = metrics.registry.get_sample_value

    assert value("commcenter_rtlog_lines_total", {"device": "door-1"}) == 3
    assert value("commcenter_event_logs_total", {"device": "door-1", "source": "download"}) == 5
    assert (
        value(
            "commcenter_commands_total",
            {"device": "door-1", "command": "DEVICE SET", "result": "ok"},
        )
        == 1
    )
    assert (
        value("commcenter_poll_duration_seconds_bucket", {"device": "door-1", "le": "0.001"}) == 0
    )
    assert (
        value("commcenter_poll_duration_seconds_bucket", {"device": "door-1", "le": "0.005"}) == 1
    )
    assert value("commcenter_poll_duration_seconds_bucket", {"device": "door-1", "le": "5.0"}) == 1
    assert value("commcenter_build_info", {"version": "1.2.3"}) == 1
    assert metrics.rtlog_lines_total is metrics.rtlog_lines


def test_snapshot_sums_over_labels() -> None:
    metrics = Metrics()
    metrics.rtlog_lines.labels("a").inc(2)
    metrics.rtlog_lines.labels("b").inc(3)
    metrics.event_logs.labels("a", "rtlog").inc(4)
    metrics.event_logs.labels("b", "download").inc(1)
    metrics.devices_online.set(2)
    metrics.persistence_retries_total.inc()

    shot = snapshot(metrics)
    assert shot["rtlog_lines"] == 5
    assert shot["event_logs"] == 5
    assert shot["devices_online"] == 2
    assert shot["persistence_retries"] == 1
    assert shot["commands"] == 0
    assert all(isinstance(v, float) for v in shot.values())


def test_remove_device_drops_only_that_devices_label_sets() -> None:
    metrics = Metrics()
    for device in ("gone", "kept"):
        metrics.rtlog_lines.labels(device).inc()
        metrics.event_logs.labels(device, "rtlog").inc()
        metrics.device_up.labels(device).set(1)
        metrics.commands_total.labels(device, "CANCEL ALARM", "ok").inc()
        metrics.poll_duration_seconds.labels(device).observe(0.01)
    metrics.remove_device("gone")
    metrics.remove_device("never-seen")
    value = metrics.registry.get_sample_value

    assert value("commcenter_rtlog_lines_total", {"device": "gone"}) is None
    assert value("commcenter_event_logs_total", {"device": "gone", "source": "rtlog"}) is None
    assert value("commcenter_device_up", {"device": "gone"}) is None
    assert value("commcenter_poll_duration_seconds_count", {"device": "gone"}) is None
    assert value("commcenter_rtlog_lines_total", {"device": "kept"}) == 1
    assert value("commcenter_device_up", {"device": "kept"}) == 1


def test_http_endpoint_binds_loopback_and_serves_the_registry() -> None:
    metrics = Metrics(version="9.9")
    metrics.rtlog_lines.labels("door-1").inc()
    server, thread = start_http_server(metrics, port=0)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert 'commcenter_rtlog_lines_total{device="door-1"} 1.0' in body
        assert 'commcenter_build_info{version="9.9"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

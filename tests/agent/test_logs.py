"""agent.logs: one handler for structlog and stdlib records, JSON or console, no secrets."""

# ruff: noqa: S105, S106  (fake secrets are what these tests are about)

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog

from agent.logs import configure_logging, get_logger, redact_text


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Configure logging into a buffer; put the root logger and structlog back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()


def fail(exc: Exception) -> None:
    raise exc


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_structlog_and_stdlib_records_come_out_as_json_lines(output: io.StringIO) -> None:
    configure_logging(json=True, stream=output)
    get_logger("agent.coordinator").bind(device="door-1").info("device online", attempt=2)
    logging.getLogger("agent.persistence").warning("stored %d events", 5, extra={"batch": 1})

    first, second = lines(output)
    assert first["event"] == "device online"
    assert first["level"] == "info"
    assert first["logger"] == "agent.coordinator"
    assert first["device"] == "door-1"
    assert first["attempt"] == 2
    stamp = datetime.fromisoformat(str(first["timestamp"]))
    assert stamp.utcoffset() == timedelta(0)
    assert second["event"] == "stored 5 events"
    assert second["level"] == "warning"
    assert second["logger"] == "agent.persistence"
    assert second["batch"] == 1
    assert "_record" not in second
    assert "_from_structlog" not in second


def test_level_filters_both_kinds_of_logger(output: io.StringIO) -> None:
    configure_logging(json=True, level="warning", stream=output)
    get_logger("a").info("hidden")
    logging.getLogger("b").info("hidden too")
    get_logger("a").error("shown")
    assert [line["event"] for line in lines(output)] == ["shown"]
    with pytest.raises(ValueError, match="level"):
        configure_logging(json=True, level="LOUD", stream=output)


def test_secrets_are_masked_by_key_and_inside_strings(output: io.StringIO) -> None:
    configure_logging(json=True, stream=output)
    get_logger("agent").info(
        "connecting to redis://agent:hunter2@cache:6379/0 with passwd=4321",
        password="p1",
        comm_pwd="p2",
        redis_secret="p3",
        passwd="",
        device={"alias": "door-1", "ComPwd": "p4"},
        url="rediss://:p5@cache:6380/1",
        connect="protocol=TCP,ipaddress=10.0.0.9,port=4370,timeout=3000,passwd=p6",
        command="SET OPTION ComPwd=p7",
        pin="1001",
    )
    logging.getLogger("legacy").error("login to redis://u:p8@h failed", extra={"secret": "p9"})

    text = output.getvalue()
    for secret in ("hunter2", "4321", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"):
        assert secret not in text, secret
    first, second = lines(output)
    assert first["event"] == "connecting to redis://agent:***@cache:6379/0 with passwd=***"
    assert first["password"] == "***"
    assert first["comm_pwd"] == "***"
    assert first["passwd"] == ""  # nothing to hide, and it shows that none is set
    assert first["device"] == {"alias": "door-1", "ComPwd": "***"}
    assert first["url"] == "rediss://:***@cache:6380/1"
    assert first["connect"] == "protocol=TCP,ipaddress=10.0.0.9,port=4370,timeout=3000,passwd=***"
    assert first["pin"] == "1001"
    assert second["event"] == "login to redis://u:***@h failed"
    assert second["secret"] == "***"


def test_exceptions_are_rendered_and_redacted(output: io.StringIO) -> None:
    configure_logging(json=True, stream=output)
    try:
        fail(ConnectionError("cannot reach redis://u:hunter2@h:6379"))
    except ConnectionError:
        logging.getLogger("agent").exception("backend down")
    (line,) = lines(output)
    assert "ConnectionError" in str(line["exception"])
    assert "hunter2" not in output.getvalue()


def test_console_format_is_human_and_redacted(output: io.StringIO) -> None:
    configure_logging(json=False, stream=output)
    get_logger("agent").info("device online", device="door-1", password="p1")
    try:
        fail(OSError("redis://u:hunter2@h"))
    except OSError:
        logging.getLogger("agent").exception("failed")
    text = output.getvalue()
    assert "device online" in text
    assert "device=door-1" in text
    assert "\x1b[" not in text  # no colours into a non-terminal
    assert "p1" not in text
    assert "hunter2" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_configuring_twice_keeps_one_handler(output: io.StringIO) -> None:
    configure_logging(json=True, stream=output)
    configure_logging(json=True, stream=output)
    logging.getLogger("x").warning("once")
    assert len(lines(output)) == 1


def test_redact_text_leaves_ordinary_text_alone() -> None:
    plain = "GetRTLog 2024-03-05 08:15:32,1001,12345678,1,0,0,4 from http://10.0.0.9:80/x"
    assert redact_text(plain) == plain
    assert redact_text("redis://localhost:6379/0") == "redis://localhost:6379/0"

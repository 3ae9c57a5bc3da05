"""Logging set-up: structlog and stdlib ``logging`` through one handler, JSON or console.

Both ``get_logger(name)`` (structlog) and ``logging.getLogger(name)`` records come out the
same way: one JSON object per line (``timestamp`` ISO 8601 UTC, ``level``, ``logger``,
``event`` and the bound key/values) or a console line. Secrets never reach the output:
keys named like password/passwd/pwd/secret/token are masked, and so are URL credentials
(``redis://user:***@host``) and ``passwd=...`` pairs inside any string. Plain Python, no Django.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, Processor, WrappedLogger

__all__ = ["MASK", "configure_logging", "get_logger", "redact", "redact_text"]

MASK: Final = "***"
# A key is secret when one of its _-separated parts says so: password, comm_pwd, ComPwd, ...
_SECRET_KEY = re.compile(
    r"(?:^|[_.-])(?:pass|password|passwd|pwd|compwd|secret|token|api_?key|credentials?)(?:$|[_.-])",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*):[^@/\s]+@")
# Legacy connect strings ("...,passwd=1234") and commands ("SET OPTION ComPwd=1234").
_SECRET_PAIR = re.compile(
    r"(?P<head>\b[\w~]*(?:pass(?:word|wd)?|pwd|secret|token)\s*[=:]\s*)(?P<value>[^\s,;&\"']+)",
    re.IGNORECASE,
)
_HANDLER_MARK: Final = "_commcenter_handler"
_LEADING_KEYS: Final = ("timestamp", "level", "logger", "event")


def configure_logging(json: bool, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Send every log record to *stream* (stderr) as JSON lines (*json*) or console lines.

    Idempotent: calling it again replaces the handler it installed before, and the plain
    console handler of settings.LOGGING (other handlers, such as pytest's, are left alone). *level* is a stdlib level name for the root logger.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    output = stream if stream is not None else sys.stderr
    final: list[Processor]
    if json:
        final = [
            structlog.processors.format_exc_info,
            redact,
            _leading_keys_first,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ]
    else:
        colors = bool(getattr(output, "isatty", lambda: False)())
        final = [
            redact,
            structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_redacted_traceback),
        ]
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    # Ours, and the plain console handler settings.LOGGING installs (it would print twice).
    stale = [
        h
        for h in root.handlers
        if getattr(h, _HANDLER_MARK, False) or type(h) is logging.StreamHandler
    ]
    for old in stale:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named *name* (usually ``__name__``); bind key/values with ``bind``."""
    return structlog.stdlib.get_logger(name)


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: mask secret-named keys, and credentials inside strings (also nested)."""
    _redact_mapping(event_dict)
    return event_dict


def redact_text(text: str) -> str:
    """*text* with URL passwords and ``passwd=...``-style values replaced by ``***``."""
    text = _URL_CREDENTIALS.sub(rf"\g<head>:{MASK}@", text)
    return _SECRET_PAIR.sub(rf"\g<head>{MASK}", text)


def _redact_mapping(data: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in data.items():
        data[key] = (
            MASK if _SECRET_KEY.search(str(key)) and value not in (None, "") else _redact(value)
        )
    return data


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return _redact_mapping(dict(value))
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item) for item in value)
    return value


def _leading_keys_first(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    head = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    return {**head, **event_dict}


def _redacted_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redact_text(buffer.getvalue()))

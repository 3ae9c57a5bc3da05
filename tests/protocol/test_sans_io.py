"""The sans-I/O guard (STYLE §5.11): the codec imports no I/O, clock, logging or framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zkpull.protocol

FORBIDDEN = {
    "socket",
    "asyncio",
    "selectors",
    "time",
    "threading",
    "logging",
    "django",
    "redis",
    "prometheus_client",
}
UPPER_LAYERS = ("zkpull.client", "zkpull.transport", "zkpull.simulator", "zkpull.cli")
CLOCK_CALLS = {"now", "today", "utcnow", "fromtimestamp", "utcfromtimestamp"}
IO_BUILTINS = {"open", "print", "input", "__import__"}
PACKAGE = Path(zkpull.protocol.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def violations(source: str) -> list[str]:
    """Everything in *source* that would make the codec do I/O, read a clock or climb layers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "", node.level)]
        else:
            names = []
        for name, level in names:
            if level > 1:
                found.append(f"line {line}: relative import outside the package: {name}")
            elif level == 0 and name.split(".")[0] in FORBIDDEN:
                found.append(f"line {line}: imports {name}")
            elif level == 0 and name.startswith(UPPER_LAYERS):
                found.append(f"line {line}: imports the upper layer {name}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in CLOCK_CALLS:
                found.append(f"line {line}: reads the clock ({func.attr}())")
            if isinstance(func, ast.Name) and func.id in IO_BUILTINS:
                found.append(f"line {line}: calls {func.id}()")
    return found


def test_the_guard_sees_the_whole_package() -> None:
    assert {path.name for path in MODULES} >= {"frames.py", "session.py", "rtlog.py", "tables.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_protocol_module_does_no_io(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == [], path.name


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import asyncio.streams",
        "from time import monotonic",
        "import logging as log",
        "from django.conf import settings",
        "import redis",
        "from prometheus_client import Counter",
        "import threading, struct",
        "from zkpull.transport import tcp",
        "from .. import client",
        "from datetime import datetime\nx = datetime.now()",
        "print('debug')",
    ],
)
def test_the_guard_catches(source: str) -> None:
    assert violations(source)


def test_the_guard_allows_pure_imports() -> None:
    assert (
        violations(
            "import struct, zlib\nfrom datetime import datetime, time\nfrom .frames import Frame"
        )
        == []
    )

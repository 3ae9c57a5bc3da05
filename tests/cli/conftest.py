"""Fixtures for the CLI tests: simulated panels on a background loop, and a CLI runner."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from zkpull import cli
from zkpull.simulator import ManualClock, make_configs

from .simthread import BackgroundSimulator

T0 = datetime(2026, 12, 3, 16, 40, 5)  # noqa: DTZ001 panel local time is naive
PASSWORD = "s3cret"  # noqa: S105 a simulated panel's comm key

Serve = Callable[..., BackgroundSimulator]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def json(self) -> list[Any]:
        """Every stdout line parsed as JSON (fails on a line that is not)."""
        return [json.loads(line) for line in self.lines]


Run = Callable[..., Result]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(count=1, serial_pty=False, **make_configs options)`: panels with a ManualClock at T0."""
    with contextlib.ExitStack() as stack:

        def start(
            count: int = 1, *, serial_pty: bool = False, **options: Any
        ) -> BackgroundSimulator:
            background = BackgroundSimulator(
                make_configs(count, **options), clock=ManualClock(T0), serial_pty=serial_pty
            )
            return stack.enter_context(background)

        yield start


@pytest.fixture
def bg(serve: Serve) -> BackgroundSimulator:
    """One C3-400, session firmware, password PASSWORD, 20 users and 5 stored transactions."""
    return serve(password=PASSWORD, transactions=5)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`run(*argv)`: `zkpull.cli.main(argv)` in-process, with its exit code and output."""

    def invoke(*argv: str) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke

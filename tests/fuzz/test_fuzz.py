"""CI smoke run of every fuzz harness: a few thousand inputs each, in subprocesses.

Fails when a harness finds a crash, a per-input timeout or an out-of-memory; the failing input
and the exception are in the assertion message. The recorded run is `python -m tests.fuzz`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .record import TargetResult, run_target
from .targets import SELF_TEST, TARGETS

# Inputs per target: a few thousand, fewer for the harnesses that run a client per input.
_RUNS = {"client_bigdata": 300, "deviceconfig": 1000, "settings": 1000, "grammar": 1500}
_DEFAULT_RUNS = 2000


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TargetResult]:
    workdir = tmp_path_factory.mktemp("fuzz")

    def one(name: str) -> TargetResult:
        return run_target(name, _RUNS.get(name, _DEFAULT_RUNS), workdir, max_seconds=90)

    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine has two cores
        return dict(zip(TARGETS, pool.map(one, TARGETS), strict=True))


@pytest.mark.parametrize("name", list(TARGETS))
def test_harness_finds_no_crash(smoke: dict[str, TargetResult], name: str) -> None:
    result = smoke[name]
    assert result.ok, f"{name}: {result.error}\nartifacts: {result.artifacts}"
    assert result.inputs >= min(_RUNS.get(name, _DEFAULT_RUNS), 100)
    assert result.coverage > 0, "no coverage: the code under test was not instrumented"


def test_a_crashing_harness_fails_the_run(tmp_path: Path) -> None:
    result = run_target(SELF_TEST.name, 100, tmp_path, max_seconds=60)
    assert not result.ok
    assert result.crashes == 1
    assert "deliberate crash" in result.error
    assert result.artifacts
    assert Path(result.artifacts[0]).read_bytes().startswith(b"boom")

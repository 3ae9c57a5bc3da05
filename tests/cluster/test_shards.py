"""Shard hashing, quotas and preference: pure, stable, even."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from agent.cluster.shards import preference, quotas, shard_of


def test_shard_of_is_crc32_of_the_decimal_id() -> None:
    # Fixed values: a change here would move every panel to another agent on upgrade.
    assert [shard_of(d, 64) for d in (1, 2, 3, 100, 123456)] == [55, 13, 27, 42, 33]
    assert shard_of(1, 64) == 0x83DCEFB7 % 64
    assert shard_of(100, 64) == 0x237750EA % 64


def test_shard_of_is_the_same_in_another_process() -> None:
    # hash() of text is salted per process; the shard must not be.
    code = "from agent.cluster.shards import shard_of; print([shard_of(d, 64) for d in range(50)])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": "zkeco_modern", "PYTHONHASHSEED": "123"},
    ).stdout
    assert out.strip() == str([shard_of(d, 64) for d in range(50)])


def test_devices_spread_over_the_shards() -> None:
    counts = Counter(shard_of(d, 64) for d in range(1, 6401))
    assert len(counts) == 64
    assert max(counts.values()) < 2 * min(counts.values())


def test_shard_of_rejects_a_bad_count() -> None:
    with pytest.raises(ValueError, match="shards"):
        shard_of(1, 0)


@pytest.mark.parametrize("agents", [1, 2, 3, 5, 7, 64, 100])
def test_quotas_add_up_and_differ_by_at_most_one(agents: int) -> None:
    names = [f"agent-{i}" for i in range(agents)]
    result = quotas(reversed(names), 64)
    assert sum(result.values()) == 64
    assert max(result.values()) - min(result.values()) <= 1
    assert result == quotas(names, 64)  # order of the input does not matter


def test_quotas_of_nobody() -> None:
    assert quotas([], 64) == {}


def test_preference_is_a_permutation_that_differs_per_agent() -> None:
    a, b = preference("a", 64), preference("b", 64)
    assert sorted(a) == sorted(b) == list(range(64))
    assert a != b
    assert a == preference("a", 64)

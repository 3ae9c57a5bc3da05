"""`scripts/bench --only fuzz`: the recorded fuzz run, results in bench/results/fuzz.json.

The harnesses and the runner live with the tests (tests/fuzz/, see docs/fuzzing.md); this is
the bench entry point. `--quick` runs a tenth of the inputs, into a scratch file.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] = ()) -> int:
    from tests.fuzz.record import RESULTS  # noqa: PLC0415  # only this section needs them
    from tests.fuzz.record import main as record  # noqa: PLC0415

    if "--quick" in argv:
        return record(["--total", "150000", "--out", str(RESULTS.with_name("fuzz-quick.json"))])
    return record([])

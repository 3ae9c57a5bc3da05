"""Run one fuzz target under atheris: `python -m tests.fuzz.run NAME [libFuzzer options] [dirs]`.

The harness and the code under test are imported inside `atheris.instrument_imports`, so
libFuzzer sees their coverage. Without a corpus directory, the seeds are written to a fresh
temporary one. Any exception the harness lets through is a crash (libFuzzer stops, writes the
input to -artifact_prefix and exits non-zero).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris  # type: ignore[import-untyped]  # no stubs published

from .targets import ALL_TARGETS


def main(argv: list[str]) -> None:
    name, options = argv[1], argv[2:]
    target = ALL_TARGETS[name]
    # The code under test only: the harnesses' own branches would be noise, and the CRC-16
    # loop (one table lookup per byte, no decisions) would cost more than everything else.
    with atheris.instrument_imports(
        include=["zkpull", "agent"], exclude=["zkpull.protocol.checksum"]
    ):
        harness, seeds = target.load()
    dirs = [arg for arg in options if not arg.startswith("-")]
    if not dirs:
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
        options.append(str(corpus))
        dirs = [str(corpus)]
    first = Path(dirs[0])
    if not any(first.iterdir()):
        for number, seed in enumerate(seeds()):
            (first / f"seed-{number:04}").write_bytes(seed)
    if not any(arg.startswith("-max_len=") for arg in options):
        options.append(f"-max_len={target.max_len}")
    atheris.Setup([argv[0], *options], harness)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

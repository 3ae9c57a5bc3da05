"""`python -m tests.fuzz`: the recorded fuzz run (see record.py and docs/fuzzing.md)."""

from __future__ import annotations

import sys

from .record import main

sys.exit(main())

"""`python -m zkpull` runs the command-line client."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

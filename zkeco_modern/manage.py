#!/usr/bin/env python
"""Django's command-line entry point: `python zkeco_modern/manage.py <command>` from the repo root."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Run a management command with the project settings."""
    # Make `zkeco_modern.settings` and the `agent` app importable however this file is started
    # (by path, through runpy, from another working directory).
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zkeco_modern.settings")
    from django.core.management import execute_from_command_line  # noqa: PLC0415 (after sys.path)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

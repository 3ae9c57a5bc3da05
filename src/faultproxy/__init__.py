"""Fault-injecting TCP proxy for the reliability tests (no zkpull, no Django)."""

from __future__ import annotations

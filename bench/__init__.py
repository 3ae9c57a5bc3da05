"""Benchmark suite of Modern CommCenter: `scripts/bench` (see bench/README.md).

Imports the GPL client zkaccess-c3 (as a dev dependency, for comparisons) and the Django agent
in worker processes; product code never imports this package.
"""

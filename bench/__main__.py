"""`python -m bench` (see bench/run.py and bench/README.md)."""

from __future__ import annotations

import sys

from .run import main

if sys.argv[1:3] == ["--only", "cluster"]:  # several agents: bench/cluster.py, its own file
    from .cluster import main as cluster

    sys.exit(cluster(sys.argv[3:]))
sys.exit(main())

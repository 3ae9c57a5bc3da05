"""Scale-out: several agents share one fleet through Redis (docs/scale-out.md).

Every device belongs to one of a fixed number of shards (`shards`); each agent heartbeats
(`membership`), holds leases on its share of the shards with a fencing epoch (`leases`,
`balance`, `coordinator`), serves the devices of those shards only, and reads their commands
from one Redis Stream per shard (`streams`). Outcomes are written with the epoch (`fencing`)
so a stale owner can never record a second one. `status.snapshot()` tells who owns what.
"""

from __future__ import annotations

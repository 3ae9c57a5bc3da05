"""Redis key names of the cluster, in one place (every other cluster module uses these).

``P`` is the backend prefix (``commcenter:``)::

    P cluster:config            HASH  shards = the shard count every agent must agree on
    P cluster:member:<agent>    STR   JSON info of a live agent; PX = member TTL
    P cluster:members           SET   agent ids (index; dead ones pruned on read)
    P cluster:lease:<s>         STR   "<agent>|<epoch>"; PX = lease TTL
    P cluster:epoch:<s>         STR   fencing counter of shard s (INCR on each acquisition)
    P cluster:stream:<s>        STREAM commands of the devices of shard s
    P cluster:ids:<s>           SET   command ids with an entry in the stream (de-duplication)
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.backends.redis import DEFAULT_PREFIX

GROUP = "agents"  # the one consumer group of every shard stream


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def base(self) -> str:
        return self.prefix + "cluster:"

    @property
    def config(self) -> str:
        return self.base + "config"

    @property
    def members(self) -> str:
        return self.base + "members"

    def member(self, agent_id: str) -> str:
        return self.base + "member:" + agent_id

    def lease(self, shard: int) -> str:
        return f"{self.base}lease:{shard}"

    def epoch(self, shard: int) -> str:
        return f"{self.base}epoch:{shard}"

    def stream(self, shard: int) -> str:
        return f"{self.base}stream:{shard}"

    def ids(self, shard: int) -> str:
        return f"{self.base}ids:{shard}"

"""Wiring for `run_commcenter --cluster`: Redis clients, streams, coordinator, command port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from agent.backends import Backends
from agent.backends.redis import DEFAULT_PREFIX, RedisHeartbeat
from agent.conf import AgentSettings

from .commandport import ClusterCommandPort
from .coordinator import Coordinator
from .keys import Keys
from .shards import shard_of
from .streams import ShardStreams

if TYPE_CHECKING:
    from agent.modern_comm_center import ModernCommCenter


@dataclass
class ClusterNode:
    """The cluster parts of one agent; `attach()` hooks them into a ModernCommCenter."""

    coordinator: Coordinator
    streams: ShardStreams
    heartbeat: RedisHeartbeat

    @classmethod
    def build(
        cls, settings: AgentSettings, url: str, agent_id: str, *, prefix: str = DEFAULT_PREFIX
    ) -> ClusterNode:
        """Clients for *url*; nothing connects yet. Lease calls time out well inside the TTL."""
        keys = Keys(prefix)
        lease = settings.cluster_lease_seconds
        quick: dict[str, Any] = {
            "socket_connect_timeout": max(0.5, lease / 5),
            "socket_timeout": max(0.5, lease / 5),
            "retry_on_timeout": False,
            "decode_responses": True,
        }
        lease_client = aioredis.Redis.from_url(url, **quick)
        stream_client = aioredis.Redis.from_url(
            url, **{**quick, "socket_timeout": max(2.0, lease / 5)}
        )
        streams = ShardStreams(
            stream_client, keys, agent_id, lambda d: shard_of(d, settings.cluster_shards)
        )
        coordinator = Coordinator(
            lease_client,
            streams,
            keys=keys,
            agent_id=agent_id,
            shards=settings.cluster_shards,
            lease_seconds=lease,
        )
        heartbeat = RedisHeartbeat.from_url(url, prefix=prefix)
        return cls(coordinator, streams, heartbeat)

    @property
    def backends(self) -> Backends:
        """The agent's backends: the shard streams as the queue, the usual Redis heartbeat."""
        return Backends(self.streams, self.heartbeat)

    def attach(self, center: ModernCommCenter) -> None:
        """Serve only the devices of held shards, with fenced command writes."""
        center.cluster = self.coordinator
        center.commands = ClusterCommandPort(self.streams, center.db, self.coordinator.epoch_of)

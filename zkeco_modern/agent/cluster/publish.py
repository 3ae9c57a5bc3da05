"""Put a new command on its shard's stream from the web side (sync, inside Django views).

Best effort by design: the `DeviceCommand` row is the durable truth, and the shard owner's
feeder appends every pending row of its devices anyway (within half a second). Publishing
here only saves that wait; a Redis error is logged and counted, never raised to the user.
"""

from __future__ import annotations

import logging
import threading

import redis
from redis.exceptions import RedisError

from agent.adapters import envelope_of
from agent.conf import AgentSettings
from agent.models import DeviceCommand

from .keys import Keys
from .shards import shard_of
from .streams import PUBLISH

logger = logging.getLogger("commcenter.cluster")
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
failures = 0  # publishes that failed (the feeder delivered those commands instead)


def publish_command(row: DeviceCommand, settings: AgentSettings, keys: Keys | None = None) -> bool:
    """Append *row* to its shard stream; True if appended, False if already there or failed."""
    global failures  # noqa: PLW0603 (a process-wide counter)
    keys = keys or Keys()
    shard = shard_of(row.device_id, settings.cluster_shards)
    try:
        added = _client(settings.redis_url).eval(
            PUBLISH, 2, keys.ids(shard), keys.stream(shard), row.pk, envelope_of(row).to_json()
        )
    except RedisError as exc:
        failures += 1
        logger.warning(
            "command %s not published to shard %s (the feeder will): %s",
            row.pk,
            shard,
            type(exc).__name__,
        )
        return False
    return bool(added)


def _client(url: str) -> redis.Redis:
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True
            )
            _clients[url] = client
        return client

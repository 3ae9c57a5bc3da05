"""Who is alive and who owns what: one read of the cluster state, for humans and /healthz.

``snapshot()`` is synchronous (plain redis-py), so a view, a management command or a health
endpoint can call it; run it in a thread from async code. It never raises on a Redis
outage: the answer then says ``reachable: False`` and why.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from redis.exceptions import RedisError

from agent import conf
from agent.logs import redact_text

from .keys import Keys
from .membership import LIVE_MEMBERS, parse_members


def snapshot(
    settings: conf.AgentSettings | None = None, *, keys: Keys | None = None, timeout: float = 2.0
) -> dict[str, Any]:
    """The cluster state as JSON-ready data.

    ``agents``: live agent -> heartbeat age (s), shards and devices it serves, pid.
    ``owners``: shard -> holder, epoch and lease time left (ms). ``free``: shards nobody
    holds. ``healthy``: every shard held by a live agent.
    """
    agent = settings if settings is not None else conf.load()
    keys = keys or Keys()
    client = redis.Redis.from_url(
        agent.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
    )
    try:
        return _read(client, keys, agent.cluster_shards)
    except RedisError as exc:
        return {
            "reachable": False,
            "error": f"{type(exc).__name__}: {redact_text(str(exc))}",
            "healthy": False,
        }
    finally:
        client.close()


def _read(client: redis.Redis, keys: Keys, shards: int) -> dict[str, Any]:
    recorded = client.hget(keys.config, "shards")
    if recorded is not None:
        shards = int(str(recorded))
    members = parse_members(client.eval(LIVE_MEMBERS, 1, keys.members, keys.base + "member:"))
    pipe = client.pipeline(transaction=False)
    for shard in range(shards):
        pipe.get(keys.lease(shard))
        pipe.pttl(keys.lease(shard))
        pipe.xlen(keys.stream(shard))
    flat = pipe.execute()
    now = time.time()
    owners: dict[int, dict[str, Any]] = {}
    backlog = 0
    for shard in range(shards):
        value, ttl, length = flat[3 * shard : 3 * shard + 3]
        backlog += int(length)
        if value:
            holder, _, epoch = str(value).rpartition("|")
            owners[shard] = {"agent": holder, "epoch": int(epoch), "ttl_ms": int(ttl)}
    agents = {
        agent_id: {
            "heartbeat_age_s": round(now - float(info.get("beat_at", now)), 3),
            "pid": info.get("pid"),
            "shards": len(info.get("shards", [])),
            "devices": len(info.get("devices", [])),
            "held": sum(1 for o in owners.values() if o["agent"] == agent_id),
        }
        for agent_id, info in members.items()
    }
    free = [s for s in range(shards) if s not in owners]
    orphaned = sorted(s for s, o in owners.items() if o["agent"] not in members)
    return {
        "reachable": True,
        "shards": shards,
        "agents": agents,
        "owners": owners,
        "free": free,
        "orphaned": orphaned,  # held by an agent whose heartbeat expired: lease running out
        "stream_backlog": backlog,
        "healthy": bool(members) and not free and not orphaned,
    }


def to_text(state: dict[str, Any]) -> str:
    """A human summary of `snapshot()` (the cluster_status command)."""
    if not state.get("reachable"):
        return f"Redis unreachable: {state.get('error')}"
    lines = [
        f"shards: {state['shards']}, held: {len(state['owners'])}, free: {len(state['free'])}, "
        f"orphaned: {len(state['orphaned'])}, commands waiting in streams: "
        f"{state['stream_backlog']}, healthy: {'yes' if state['healthy'] else 'NO'}",
        "",
        f"{'agent':<24} {'heartbeat age':>13} {'shards':>6} {'devices':>7} {'pid':>8}",
    ]
    for agent_id, info in sorted(state["agents"].items()):
        lines.append(
            f"{agent_id:<24} {info['heartbeat_age_s']:>12.1f}s {info['held']:>6} "
            f"{info['devices']:>7} {info['pid'] or '':>8}"
        )
    lines += ["", "shard  owner                     epoch  lease left"]
    for shard in range(state["shards"]):
        owner = state["owners"].get(shard) or state["owners"].get(str(shard))
        if owner is None:
            lines.append(f"{shard:>5}  (free)")
        else:
            lines.append(
                f"{shard:>5}  {owner['agent']:<24} {owner['epoch']:>6}  {owner['ttl_ms'] / 1000:>8.1f}s"
            )
    return "\n".join(lines)


def to_json(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=2, sort_keys=True)

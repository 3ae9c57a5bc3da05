"""Redis backends: ``RedisQueue`` (reliable per-device command queue) and ``RedisHeartbeat``.

Key layout (``P`` = the prefix, ``commcenter:`` by default; ``<d>`` = device id)::

    P queue:<d>:pending   ZSET  pending envelopes; score = class and priority, member =
                                "<t>:<seq>:<command_id>:<score>|<envelope json>" (t 0 = put
                                back at the head, 1 = normal) so equal scores keep FIFO order
    P queue:<d>:inflight  HASH  command_id -> member, for envelopes taken and not yet acked
    P queue:<d>:ids       SET   command ids pending or in flight (de-duplication)
    P queue:<d>:seq       STR   sequence counter for the members
    P queue:<d>:signal    LIST  wake-up tokens: ``get`` blocks on it with BLPOP
    P queue:devices       SET   device ids that have queue keys (for ``recover()``)
    P agent:<agent_id>    HASH  info (JSON), beat_at, ttl; PEXPIRE ttl on every beat
    P agent-devices:<id>  SET   device ids whose status this agent wrote; same expiry
    P agents              SET   agent ids (index; dead entries are pruned on read)
    P device:<d>          HASH  agent, online, last_activity, return_code, op, updated_at,
                                detail; expiry refreshed by its agent's beats
    P devices             SET   device ids with a status (index; pruned on read)

Every change is one Lua script, hence atomic: taking an envelope moves it into the in-flight
hash in the same step, so a crash or a dropped connection between take and ack leaves it
there for ``recover``. Scripts derive some key names from the prefix, so this targets a
standalone Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.connection import (
    URL_QUERY_ARGUMENT_PARSERS,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationWrongNumberOfArgsError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import BackendUnavailable, CommandEnvelope, DeviceStatusRecord

__all__ = [
    "DEFAULT_PREFIX",
    "RedisHeartbeat",
    "RedisQueue",
    "check_redis_url",
    "plaintext_remote",
]

DEFAULT_PREFIX: Final = "commcenter:"
_SIGNAL_CAP: Final = 16  # wake-up tokens kept at most; surplus wake-ups are harmless
_ORPHAN_STATUS_TTL_MS: Final = 300_000  # status written by an agent that has not beaten yet
_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*):(?P<secret>[^@/\s]+)@")
# URL query options: redis-py's own parsers, plus the TLS keywords of SSLConnection, which
# redis-py passes through as text. Anything else would only fail at the first connect.
_URL_OPTIONS: Final = frozenset(URL_QUERY_ARGUMENT_PARSERS) | {
    "client_name",
    "username",
    "password",
}
_TLS_FILES: Final = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_TLS_OPTIONS: Final = frozenset(
    {*_TLS_FILES, "ssl_ca_path", "ssl_cert_reqs", "ssl_ciphers"}
    | {name for name in URL_QUERY_ARGUMENT_PARSERS if name.startswith("ssl_")}
)
_CERT_REQS: Final = frozenset({"none", "optional", "required"})
_LOCAL_NAMES: Final = frozenset({"localhost", "ip6-localhost"})
_DENIED: Final = (
    RedisConnectionError,  # includes AuthenticationError (WRONGPASS, NOAUTH)
    RedisTimeoutError,
    NoPermissionError,
    AuthenticationWrongNumberOfArgsError,
    OSError,  # includes ssl.SSLError
)


def check_redis_url(url: str) -> None:
    """Raise ValueError unless *url* is a Redis URL the backends can use; never echo it.

    Checked: the scheme, redis-py's parse, the query options (TLS ones only on
    ``rediss://``), that TLS files exist and ``ssl_cert_reqs`` is none/optional/required.
    """
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
    try:
        parse_url(url)
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    except ValueError as exc:
        raise ValueError(f"not a valid Redis URL ({_masked(str(exc))})") from None
    tls = url.startswith("rediss://")
    for name, values in query.items():
        value = values[-1] if values else ""
        if name in _TLS_OPTIONS:
            if not tls:
                raise ValueError(f"the Redis URL option {name!r} needs a rediss:// URL")
        elif name not in _URL_OPTIONS:
            known = ", ".join(sorted(_URL_OPTIONS | _TLS_OPTIONS))
            raise ValueError(f"unknown Redis URL option {name!r} (known: {known})")
        if name in _TLS_FILES and not Path(value).is_file():
            raise ValueError(f"Redis URL option {name}: no such file {value!r}")
        if name == "ssl_cert_reqs" and value.lower() not in _CERT_REQS:
            raise ValueError(f"ssl_cert_reqs must be none, optional or required, got {value!r}")


def plaintext_remote(url: str) -> str | None:
    """Where *url* points (no password) if it is plain-text ``redis://`` to a non-local host."""
    if not url.startswith("redis://"):
        return None
    host = (urlsplit(url).hostname or "localhost").lower()
    if host in _LOCAL_NAMES:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return _masked(url.split("?", 1)[0])


def _masked(text: str, secret: str | None = None) -> str:
    text = _CREDENTIALS.sub(r"\g<head>:***@", text)
    return text.replace(secret, "***") if secret else text


class _RedisBackend:
    def __init__(self, client: aioredis.Redis, *, prefix: str, close_client: bool) -> None:
        self._redis = client
        self._prefix = prefix
        self._close_client = close_client
        self._where = _describe(client)
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        # A blocking command must return before the socket timeout fires.
        self._max_block = None if timeout is None else max(float(timeout) / 2, 0.01)

    @classmethod
    def _client_from_url(cls, url: str, options: dict[str, Any]) -> aioredis.Redis:
        options.setdefault("socket_connect_timeout", 5.0)
        options.setdefault("socket_timeout", 10.0)
        options.setdefault("health_check_interval", 30)
        # A short retry rides over a blip; a real outage surfaces within ~1 s as
        # BackendUnavailable, and the agent's own backoff takes over.
        options.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2))
        options["decode_responses"] = True
        return aioredis.Redis.from_url(url, **options)

    async def close(self) -> None:
        if self._close_client:
            await self._redis.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._where} prefix={self._prefix!r}>"

    @asynccontextmanager
    async def _mapped(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except _DENIED as exc:
            # NOPERM (the ACL user may not touch these keys) is a configuration problem, but
            # the agent's reaction is the same: back off and retry until the ACL is fixed.
            secret = self._redis.connection_pool.connection_kwargs.get("password")
            reason = _masked(str(exc), secret) or type(exc).__name__
            raise BackendUnavailable(
                f"Redis at {self._where} failed during {what}: {reason}"
            ) from exc


class RedisQueue(_RedisBackend):
    """:class:`~.base.CommandQueue` on Redis (layout in the module docstring).

    A lost reply makes redis-py retry a script; that is harmless for ``put`` (de-duplicated),
    ``ack`` and ``release`` (no-ops the second time), and for ``get`` leaves the first envelope
    in flight until ``recover``: delivered later, never lost.
    """

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, close_client: bool = True
    ) -> None:
        super().__init__(client, prefix=prefix, close_client=close_client)
        self._put = client.register_script(_PUT)
        self._take = client.register_script(_TAKE)
        self._ack = client.register_script(_ACK)
        self._release = client.register_script(_RELEASE)
        self._recover = client.register_script(_RECOVER)
        self._purge = client.register_script(_PURGE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, **options: Any) -> RedisQueue:
        """Build from ``redis://[user:password@]host:port/db`` or ``rediss://...``.

        *options* go to ``redis.asyncio.Redis.from_url`` (e.g. ``socket_timeout``).
        """
        return cls(cls._client_from_url(url, options), prefix=prefix)

    async def put(self, envelope: CommandEnvelope) -> bool:
        score = (0 if envelope.immediate else 1) * 2**32 - envelope.priority
        keys = self._keys(envelope.device_id)
        async with self._mapped("put"):
            added = await self._put(
                keys=[
                    keys.ids,
                    keys.pending,
                    keys.signal,
                    keys.seq,
                    self._prefix + "queue:devices",
                ],
                args=[
                    envelope.command_id,
                    score,
                    envelope.to_json(),
                    envelope.device_id,
                    _SIGNAL_CAP,
                ],
            )
        return bool(added)

    async def get(self, device_id: int, timeout: float) -> CommandEnvelope | None:
        keys = self._keys(device_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._mapped("get"):
            while True:
                member = await self._take(keys=[keys.pending, keys.inflight, keys.signal])
                if member:
                    return _envelope(member)
                remaining = deadline - loop.time()
                if remaining < 0.001:  # BLPOP 0 would block forever
                    return None
                if self._max_block is not None:
                    remaining = min(remaining, self._max_block)
                await self._redis.blpop([keys.signal], timeout=remaining)

    async def ack(self, envelope: CommandEnvelope) -> None:
        keys = self._keys(envelope.device_id)
        async with self._mapped("ack"):
            await self._ack(keys=[keys.inflight, keys.ids], args=[envelope.command_id])

    async def release(self, envelope: CommandEnvelope) -> None:
        keys = self._keys(envelope.device_id)
        async with self._mapped("release"):
            await self._release(
                keys=[keys.inflight, keys.pending, keys.signal, keys.seq],
                args=[envelope.command_id],
            )

    async def recover(self, device_id: int | None = None) -> int:
        async with self._mapped("recover"):
            if device_id is None:
                members = await self._redis.smembers(self._prefix + "queue:devices")
                ids = sorted(int(member) for member in members)
            else:
                ids = [device_id]
            moved = 0
            for each in ids:
                keys = self._keys(each)
                moved += int(await self._recover(keys=[keys.inflight, keys.pending, keys.signal]))
            return moved

    async def depth(self, device_id: int) -> int:
        async with self._mapped("depth"):
            return int(await self._redis.zcard(self._keys(device_id).pending))

    async def in_flight(self, device_id: int) -> list[CommandEnvelope]:
        async with self._mapped("in_flight"):
            members = cast("list[str]", await self._redis.hvals(self._keys(device_id).inflight))
        return [_envelope(member) for member in sorted(members, key=_member_order)]

    async def purge(self, device_id: int) -> int:
        keys = self._keys(device_id)
        async with self._mapped("purge"):
            dropped = await self._purge(
                keys=[keys.pending, keys.inflight, keys.ids, keys.signal, keys.seq]
            )
        return int(dropped)

    def _keys(self, device_id: int) -> _QueueKeys:
        return _QueueKeys(f"{self._prefix}queue:{int(device_id)}:")


class RedisHeartbeat(_RedisBackend):
    """:class:`~.base.Heartbeat` on Redis hashes with PEXPIRE (layout in the module docstring)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, close_client: bool = True
    ) -> None:
        super().__init__(client, prefix=prefix, close_client=close_client)
        self._beat = client.register_script(_BEAT)
        self._set_status = client.register_script(_SET_STATUS)
        self._agents = client.register_script(_AGENTS)
        self._read_status = client.register_script(_READ_STATUS)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, **options: Any) -> RedisHeartbeat:
        """Build from ``redis://[user:password@]host:port/db`` or ``rediss://...``."""
        return cls(cls._client_from_url(url, options), prefix=prefix)

    async def beat(self, agent_id: str, ttl: float, info: Mapping[str, Any]) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        p = self._prefix
        async with self._mapped("beat"):
            await self._beat(
                keys=[p + "agent:" + agent_id, p + "agent-devices:" + agent_id, p + "agents"],
                args=[
                    agent_id,
                    max(1, round(ttl * 1000)),
                    json.dumps(dict(info)),
                    repr(time.time()),
                    p + "device:",
                ],
            )

    async def alive(self, agent_id: str) -> bool:
        async with self._mapped("alive"):
            return bool(await self._redis.exists(self._prefix + "agent:" + agent_id))

    async def agents(self) -> dict[str, dict[str, Any]]:
        async with self._mapped("agents"):
            flat = await self._agents(
                keys=[self._prefix + "agents"], args=[self._prefix + "agent:"]
            )
        found: dict[str, dict[str, Any]] = {}
        for agent_id, info, beat_at in zip(flat[0::3], flat[1::3], flat[2::3], strict=True):
            found[agent_id] = {**json.loads(info), "beat_at": float(beat_at)}
        return found

    async def set_device_status(
        self, agent_id: str, device_id: int, status: DeviceStatusRecord
    ) -> None:
        p = self._prefix
        fields = {
            "online": "1" if status.online else "0",
            "last_activity": "" if status.last_activity is None else repr(status.last_activity),
            "return_code": str(status.return_code),
            "op": status.op,
            "updated_at": repr(status.updated_at),
            "detail": status.detail,
        }
        async with self._mapped("set_device_status"):
            await self._set_status(
                keys=[
                    p + f"device:{int(device_id)}",
                    p + "agent:" + agent_id,
                    p + "agent-devices:" + agent_id,
                    p + "devices",
                ],
                args=[
                    agent_id,
                    int(device_id),
                    _ORPHAN_STATUS_TTL_MS,
                    *(item for pair in fields.items() for item in pair),
                ],
            )

    async def device_status(self, device_id: int) -> DeviceStatusRecord | None:
        found = await self._read([int(device_id)])
        return found.get(int(device_id))

    async def all_device_status(self) -> dict[int, DeviceStatusRecord]:
        return await self._read(None)

    async def clear_device_status(self, device_id: int) -> None:
        async with self._mapped("clear_device_status"), self._redis.pipeline() as pipe:
            pipe.delete(self._prefix + f"device:{int(device_id)}")
            pipe.srem(self._prefix + "devices", str(int(device_id)))
            await pipe.execute()

    async def _read(self, ids: list[int] | None) -> dict[int, DeviceStatusRecord]:
        p = self._prefix
        wanted: list[str | int] = ["*"] if ids is None else [*ids]
        async with self._mapped("device_status"):
            rows = await self._read_status(
                keys=[p + "devices"], args=[p + "device:", p + "agent:", *wanted]
            )
        return {int(row[0]): _status(row[1:]) for row in rows}


class _QueueKeys:
    __slots__ = ("ids", "inflight", "pending", "seq", "signal")

    def __init__(self, base: str) -> None:
        self.pending = base + "pending"
        self.inflight = base + "inflight"
        self.ids = base + "ids"
        self.seq = base + "seq"
        self.signal = base + "signal"


def _envelope(member: str) -> CommandEnvelope:
    return CommandEnvelope.from_json(member.split("|", 1)[1])


def _member_order(member: str) -> tuple[int, str]:
    head = member.split("|", 1)[0]
    return int(head.rsplit(":", 1)[1]), head  # score, then the member as ZSET orders it


def _status(flat: list[str]) -> DeviceStatusRecord:
    fields = dict(zip(flat[0::2], flat[1::2], strict=True))
    return DeviceStatusRecord(
        online=fields.get("online") == "1",
        last_activity=float(fields["last_activity"]) if fields.get("last_activity") else None,
        return_code=int(fields.get("return_code", "0")),
        op=fields.get("op", ""),
        updated_at=float(fields.get("updated_at", "0")),
        detail=fields.get("detail", ""),
    )


def _describe(client: aioredis.Redis) -> str:
    """Where *client* connects, as a URL without password (safe for logs and repr)."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    user = kwargs.get("username")
    auth = f"{user}:***@" if user and kwargs.get("password") else f"{user}@" if user else ""
    if issubclass(pool.connection_class, UnixDomainSocketConnection):
        return f"unix://{auth}{kwargs.get('path', '')}?db={kwargs.get('db', 0)}"
    scheme = "rediss" if issubclass(pool.connection_class, SSLConnection) else "redis"
    host = kwargs.get("host", "localhost")
    return f"{scheme}://{auth}{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


# --- Lua ---------------------------------------------------------------------------------
# Members are "<t>:<seq 16 digits>:<command_id>:<score>|<json>"; see the module docstring.

_PUT: Final = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
local n = redis.call('INCR', KEYS[4])
local member = '1:' .. string.format('%016d', n) .. ':' .. ARGV[1] .. ':' .. ARGV[2] .. '|' .. ARGV[3]
redis.call('ZADD', KEYS[2], ARGV[2], member)
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('SADD', KEYS[5], ARGV[4])
return 1
"""

_TAKE: Final = """
local member = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not member then return false end
redis.call('ZREM', KEYS[1], member)
redis.call('HSET', KEYS[2], string.match(member, '^%d:%d+:(%-?%d+):'), member)
if redis.call('ZCARD', KEYS[1]) > 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('LPUSH', KEYS[3], '1')  -- more work: wake the next waiting consumer
end
return member
"""

_ACK: Final = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""

_RELEASE: Final = """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local rest = string.match(member, '^%d:%d+:(.*)$')
local score = string.match(rest, '^%-?%d+:(%-?%d+)|')
local n = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[2], score, '0:' .. string.format('%016d', 1e15 - n) .. ':' .. rest)
redis.call('LPUSH', KEYS[3], '1')
return 1
"""

_RECOVER: Final = """
local members = redis.call('HVALS', KEYS[1])
for _, member in ipairs(members) do
  redis.call('ZADD', KEYS[2], string.match(member, '^%d:%d+:%-?%d+:(%-?%d+)|'), member)
end
redis.call('DEL', KEYS[1])
if #members > 0 then redis.call('LPUSH', KEYS[3], '1') end
return #members
"""

_PURGE: Final = """
local dropped = redis.call('ZCARD', KEYS[1]) + redis.call('HLEN', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return dropped
"""

_BEAT: Final = """
redis.call('HSET', KEYS[1], 'info', ARGV[3], 'beat_at', ARGV[4], 'ttl', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
for _, device in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[5] .. device
  if redis.call('HGET', key, 'agent') == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  else
    redis.call('SREM', KEYS[2], device)  -- gone, or taken over by another agent
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 0
"""

_SET_STATUS: Final = """
local fields = {'agent', ARGV[1]}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
local ttl = redis.call('PTTL', KEYS[2])
if ttl <= 0 then ttl = ARGV[3] end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('SADD', KEYS[4], ARGV[2])
return 0
"""

_AGENTS: Final = """
local out = {}
for _, agent in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local row = redis.call('HMGET', ARGV[1] .. agent, 'info', 'beat_at')
  if row[1] then
    out[#out + 1] = agent; out[#out + 1] = row[1]; out[#out + 1] = row[2]
  else
    redis.call('SREM', KEYS[1], agent)
  end
end
return out
"""

_READ_STATUS: Final = """
local ids = {}
if ARGV[3] == '*' then ids = redis.call('SMEMBERS', KEYS[1]) else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for _, device in ipairs(ids) do
  local key = ARGV[1] .. device
  local agent = redis.call('HGET', key, 'agent')
  if not agent then
    redis.call('SREM', KEYS[1], device)
  elseif redis.call('EXISTS', ARGV[2] .. agent) == 1 then
    local row = redis.call('HGETALL', key)
    table.insert(row, 1, device)
    out[#out + 1] = row
  end
end
return out
"""

"""Queue storage in Redis (redis.asyncio), shared by every process.

Keys (``<prefix>`` is DLQ_PREFIX, "dlq" by default):

- ``<prefix>:messages:<id>``  hash: the entry's fields; expires DLQ_TTL_DAYS after enqueue
- ``<prefix>:schedule:<kind>`` sorted set: id -> due time (epoch seconds); a
  claimed entry's score is its lease end, so it is due again if its worker dies
- ``<prefix>:kinds``          set: kinds that have a schedule

Claims and every write to a claimed entry run as Lua scripts, so they are
atomic across processes. The scripts build message keys from the prefix, so a
Redis Cluster is not supported (one Redis, or a primary with replicas).
"""
from __future__ import annotations

import contextlib
import heapq
from typing import Dict, Iterator, List, Optional, Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dlq.config import masked_url
from dlq.entry import DeadLetter
from dlq.errors import QueueUnavailable
from dlq.memory_queue import LEASE_EXPIRED_ERROR
from dlq.queue_store import ClaimedFields, ClaimResult

ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""

# KEYS: schedules of the wanted kinds. ARGV: now, lease_until, limit, token,
# message key prefix, lease-expired error. Returns {expired ids, {{kind index, id, fields}}}.
CLAIM = """
local now, lease_until, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local claimed, expired = {}, {}
for i = 1, #KEYS do
  if #claimed >= limit then break end
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'LIMIT', 0, limit - #claimed)
  for _, id in ipairs(ids) do
    local key = ARGV[5] .. id
    local kind = redis.call('TYPE', key)['ok']
    if kind == 'none' then
      redis.call('ZREM', KEYS[i], id)
      expired[#expired + 1] = id
    else
      redis.call('ZADD', KEYS[i], lease_until, id)
      local fields = {}
      if kind == 'hash' then
        if redis.call('HGET', key, 'status') == 'retrying' then
          local attempts = tonumber(redis.call('HGET', key, 'attempts'))
          if attempts then redis.call('HSET', key, 'attempts', tostring(attempts + 1)) end
          redis.call('HSET', key, 'error', ARGV[6])
        end
        redis.call('HSET', key, 'status', 'retrying', 'claim', ARGV[4], 'lease_until', lease_until, 'last_retry_at', now)
        fields = redis.call('HGETALL', key)
      end
      claimed[#claimed + 1] = {i, id, fields}
    end
  end
end
return {expired, claimed}
"""

# KEYS: message, schedule. ARGV: expected claim, id, due time, field pairs...
REPLACE = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
if (redis.call('HGET', KEYS[1], 'claim') or '') ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""

# KEYS: message. ARGV: expected claim, id, schedule key prefix, kind ('' = the stored one).
REMOVE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
local schedule = ARGV[4]
if kind == 'hash' then
  if (redis.call('HGET', KEYS[1], 'claim') or '') ~= ARGV[1] then return 0 end
  if schedule == '' then schedule = redis.call('HGET', KEYS[1], 'kind') or '' end
end
redis.call('DEL', KEYS[1])
if schedule ~= '' then redis.call('ZREM', ARGV[3] .. schedule, ARGV[2]) end
if kind == 'none' then return 0 end
return 1
"""

# KEYS: message. ARGV: id, now, schedule key prefix.
MAKE_DUE = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 'missing' end
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 'busy' end
local kind = redis.call('HGET', KEYS[1], 'kind')
redis.call('ZADD', ARGV[3] .. kind, ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'next_retry_at', ARGV[2])
return 'due'
"""


# Redis answers but cannot take writes: full (OOM with noeviction), a read-only
# replica after a failover, a replica cut off from its primary.
REFUSING_WRITES = (OutOfMemoryError, ReadOnlyError)


@contextlib.contextmanager
def _unavailable_as_queue_error(url: str) -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:  # BusyLoadingError is a ConnectionError
        raise QueueUnavailable(f"DLQ Redis {masked_url(url)} unavailable: {type(exc).__name__}") from exc
    except ResponseError as exc:
        if isinstance(exc, REFUSING_WRITES) or str(exc).startswith("MASTERDOWN"):
            raise QueueUnavailable(f"DLQ Redis {masked_url(url)} refuses writes: {str(exc)[:60]}") from exc
        raise


def _pairs(fields: Dict[str, str]) -> List[str]:
    return [item for pair in fields.items() for item in pair]


def _as_dict(flat: Sequence[str]) -> Dict[str, str]:
    return dict(zip(flat[::2], flat[1::2]))


class RedisQueueStore:
    def __init__(self, client: aioredis.Redis, prefix: str, url: str = "") -> None:
        self._redis = client
        self._url = url
        self.prefix = prefix
        self._enqueue = client.register_script(ENQUEUE)
        self._claim = client.register_script(CLAIM)
        self._replace = client.register_script(REPLACE)
        self._remove = client.register_script(REMOVE)
        self._make_due = client.register_script(MAKE_DUE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> "RedisQueueStore":
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
            retry_on_error=[RedisConnectionError],
        )
        return cls(client, prefix, url)

    def message_key(self, entry_id: str) -> str:
        return f"{self.prefix}:messages:{entry_id}"

    def schedule_key(self, kind: str) -> str:
        return f"{self.prefix}:schedule:{kind}"

    @property
    def kinds_key(self) -> str:
        return f"{self.prefix}:kinds"

    def _errors(self):
        return _unavailable_as_queue_error(self._url or "server")

    async def add(self, entry: DeadLetter, ttl_seconds: int) -> bool:
        keys = [self.message_key(entry.id), self.schedule_key(entry.kind), self.kinds_key]
        args = [entry.id, repr(entry.next_retry_at), ttl_seconds, entry.kind, *_pairs(entry.to_fields())]
        with self._errors():
            return bool(await self._enqueue(keys=keys, args=args))

    async def claim(self, kinds: Sequence[str], limit: int, now: float, lease_until: float, token: str) -> ClaimResult:
        keys = [self.schedule_key(kind) for kind in kinds]
        args = [repr(now), repr(lease_until), limit, token, f"{self.prefix}:messages:", LEASE_EXPIRED_ERROR]
        with self._errors():
            expired, claimed = await self._claim(keys=keys, args=args)
        return ClaimResult(
            claimed=[ClaimedFields(entry_id, kinds[int(index) - 1], _as_dict(flat)) for index, entry_id, flat in claimed],
            expired=list(expired),
        )

    async def load(self, entry_id: str) -> Optional[Dict[str, str]]:
        with self._errors():
            try:
                return await self._redis.hgetall(self.message_key(entry_id)) or None
            except ResponseError:  # WRONGTYPE: not a hash, so not an entry
                return None

    async def replace(self, entry: DeadLetter, expected_claim: str) -> bool:
        keys = [self.message_key(entry.id), self.schedule_key(entry.kind)]
        args = [expected_claim, entry.id, repr(entry.next_retry_at), *_pairs(entry.to_fields())]
        with self._errors():
            return bool(await self._replace(keys=keys, args=args))

    async def remove(self, entry_id: str, kind: Optional[str], expected_claim: str) -> bool:
        args = [expected_claim, entry_id, f"{self.prefix}:schedule:", kind or ""]
        with self._errors():
            return bool(await self._remove(keys=[self.message_key(entry_id)], args=args))

    async def make_due(self, entry_id: str, now: float) -> str:
        args = [entry_id, repr(now), f"{self.prefix}:schedule:"]
        with self._errors():
            return await self._make_due(keys=[self.message_key(entry_id)], args=args)

    async def _kinds(self) -> List[str]:
        return sorted(await self._redis.smembers(self.kinds_key))

    async def list(self, limit: int) -> List[Dict[str, str]]:
        with self._errors():
            kinds = await self._kinds()
            async with self._redis.pipeline(transaction=False) as pipe:
                for kind in kinds:
                    pipe.zrange(self.schedule_key(kind), 0, limit - 1, withscores=True)
                schedules = await pipe.execute()
            soonest = heapq.nsmallest(limit, (item for schedule in schedules for item in schedule), key=lambda item: item[1])
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id, _ in soonest:
                    pipe.hgetall(self.message_key(entry_id))
                found = await pipe.execute(raise_on_error=False)
        return [fields for fields in found if isinstance(fields, dict) and fields]  # skips non-hash values

    async def count(self) -> int:
        with self._errors():
            kinds = await self._kinds()
            async with self._redis.pipeline(transaction=False) as pipe:
                for kind in kinds:
                    pipe.zcard(self.schedule_key(kind))
                return sum(await pipe.execute())

    async def close(self) -> None:
        await self._redis.close()
        await self._redis.connection_pool.disconnect()

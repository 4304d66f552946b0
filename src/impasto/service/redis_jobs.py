"""The job store of the scale-out backend: every job a Redis hash, every state change one Lua script.

Keys (``PREFIX`` defaults to ``impasto:``):

- ``PREFIX job:<id>`` — the job's hash (fields as in :class:`~impasto.service.stores.Job`; ``params``,
  ``inputs`` and ``progress`` as JSON; a field that is None is absent);
- ``PREFIX queued`` — sorted set of queued ids by order of arrival (a requeued job goes to the head);
- ``PREFIX running`` — sorted set of running ids by lease expiry, so the expired ones are one range query;
- ``PREFIX finished`` — final ids by finish time (retention); ``PREFIX jobs`` and ``PREFIX owner:<who>`` —
  every id by creation time (listing, newest first).

A script runs atomically in Redis, so each transition (submit under the queue limit, claim with its
lease, renew only by the lease's holder, finish only while held, requeue of expired leases) is all or
nothing and seen by every process at once. Times come from the Redis server's clock (``TIME``), the one
clock every machine shares: a worker's lease expires when Redis says so, whatever the worker's clock.
"""

from __future__ import annotations

import time
from typing import Any

from .redis_client import check_url, connect, guarded
from .stores import LEASE, MAX_ATTEMPTS, QUEUED, RUNNING, Job, JobStore, Progress

_PRELUDE = """
local P = ARGV[1]
local function now() local t = redis.call('TIME'); return tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local function f(x) return string.format('%.6f', x) end
local function head_score()
  local first = redis.call('ZRANGE', P .. 'queued', 0, 0, 'WITHSCORES')
  if #first == 0 then return tonumber(redis.call('GET', P .. 'seq') or '0') end
  return tonumber(first[2]) - 1
end
local function take(key, id, worker, lease, t)
  redis.call('HSET', key, 'state', 'running', 'started_at', f(t), 'worker', worker, 'progress', '{}',
             'lease_until', f(t + lease))
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HINCRBY', key, 'progress_seq', 1)
  redis.call('ZREM', P .. 'queued', id)
  redis.call('ZADD', P .. 'running', t + lease, id)
  return redis.call('HGETALL', key)
end
local function to_final(key, id, state, t)
  redis.call('HSET', key, 'state', state, 'finished_at', f(t))
  redis.call('HDEL', key, 'worker', 'lease_until')
  redis.call('ZREM', P .. 'queued', id)
  redis.call('ZREM', P .. 'running', id)
  redis.call('ZADD', P .. 'finished', t, id)
end
local function to_queue(key, id)
  redis.call('HSET', key, 'state', 'queued')
  redis.call('HDEL', key, 'worker', 'lease_until')
  redis.call('ZREM', P .. 'running', id)
  redis.call('ZADD', P .. 'queued', head_score(), id)
end
-- a running job whose worker is gone: cancelled if asked, failed after max_attempts starts, else queued
local function lost(key, id, max_attempts, t)
  if redis.call('HGET', key, 'cancel_requested') == '1' then
    to_final(key, id, 'cancelled', t)
    return 0
  end
  local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0')
  if attempts >= max_attempts then
    to_final(key, id, 'failed', t)
    redis.call('HSET', key, 'error', 'the worker stopped ' .. attempts .. ' times while running this job')
    return 0
  end
  to_queue(key, id)
  return 1
end
-- several lost jobs at once: back in the order they started (the earliest at the head of the queue)
local function lose_all(ids, max_attempts, t)
  local started = {}
  for _, id in ipairs(ids) do started[id] = tonumber(redis.call('HGET', P .. 'job:' .. id, 'started_at') or '0') end
  table.sort(ids, function(a, b) return started[a] < started[b] end)
  local back = {}
  for i = #ids, 1, -1 do
    if lost(P .. 'job:' .. ids[i], ids[i], max_attempts, t) == 1 then table.insert(back, 1, ids[i]) end
  end
  return back
end
local function holds(key, worker)
  if redis.call('HGET', key, 'state') ~= 'running' then return false end
  return worker == '' or redis.call('HGET', key, 'worker') == worker
end
"""

_SCRIPTS = {
    # ARGV: P, id, kind, params, inputs, owner, max_pending ('' = no limit)
    "submit": """
local id = ARGV[2]
local key = P .. 'job:' .. id
if ARGV[7] ~= '' and redis.call('ZCARD', P .. 'queued') + redis.call('ZCARD', P .. 'running')
    >= tonumber(ARGV[7]) then
  return 0
end
if redis.call('EXISTS', key) == 1 then return -1 end
local t = now()
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', key, 'id', id, 'kind', ARGV[3], 'params', ARGV[4], 'inputs', ARGV[5], 'owner', ARGV[6],
           'state', 'queued', 'created_at', f(t), 'progress', '{}', 'progress_seq', 0, 'preview_seq', 0,
           'attempts', 0, 'cancel_requested', 0)
redis.call('ZADD', P .. 'queued', seq, id)
redis.call('ZADD', P .. 'jobs', t, id)
redis.call('ZADD', P .. 'owner:' .. ARGV[6], t, id)
return 1
""",
    # ARGV: P, worker, lease
    "claim_next": """
while true do
  local first = redis.call('ZRANGE', P .. 'queued', 0, 0)
  if #first == 0 then return false end
  local key = P .. 'job:' .. first[1]
  if redis.call('HGET', key, 'state') == 'queued' then
    return take(key, first[1], ARGV[2], tonumber(ARGV[3]), now())
  end
  redis.call('ZREM', P .. 'queued', first[1])
end
""",
    # ARGV: P, id, worker, lease, max_attempts
    "claim": """
local id = ARGV[2]
local key = P .. 'job:' .. id
local state = redis.call('HGET', key, 'state')
local t = now()
if state == 'queued' then return take(key, id, ARGV[3], tonumber(ARGV[4]), t) end
if state == 'running' then
  if tonumber(redis.call('HGET', key, 'lease_until') or '0') > t then return false end
  if lost(key, id, tonumber(ARGV[5]), t) == 1 then return take(key, id, ARGV[3], tonumber(ARGV[4]), t) end
end
return false
""",
    # ARGV: P, id, worker, lease
    "renew": """
local key = P .. 'job:' .. ARGV[2]
if not holds(key, ARGV[3]) then return 0 end
local until_ = now() + tonumber(ARGV[4])
redis.call('HSET', key, 'lease_until', f(until_))
redis.call('ZADD', P .. 'running', until_, ARGV[2])
return 1
""",
    # ARGV: P, id, progress, preview ('1'/'0'), worker ('' = anyone)
    "progress": """
local key = P .. 'job:' .. ARGV[2]
if not holds(key, ARGV[5]) then return 0 end
redis.call('HSET', key, 'progress', ARGV[3])
redis.call('HINCRBY', key, 'progress_seq', 1)
if ARGV[4] == '1' then redis.call('HINCRBY', key, 'preview_seq', 1) end
if redis.call('HGET', key, 'cancel_requested') == '1' then return 0 end
return 1
""",
    # ARGV: P, id, state, result ('' = none), error ('' = none), worker ('' = anyone)
    "finish": """
local id = ARGV[2]
local key = P .. 'job:' .. id
if not holds(key, ARGV[6]) then return 0 end
to_final(key, id, ARGV[3], now())
for i, name in ipairs({'result', 'error'}) do
  if ARGV[3 + i] == '' then redis.call('HDEL', key, name) else redis.call('HSET', key, name, ARGV[3 + i]) end
end
return 1
""",
    # ARGV: P, id, worker ('' = anyone)
    "requeue": """
local id = ARGV[2]
local key = P .. 'job:' .. id
if not holds(key, ARGV[3]) then return 0 end
local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0')
redis.call('HSET', key, 'attempts', math.max(attempts - 1, 0))
to_queue(key, id)
return 1
""",
    # ARGV: P, now ('' = the server's clock), max_attempts
    "requeue_expired": """
local t = now()
local cutoff = t
if ARGV[2] ~= '' then cutoff = tonumber(ARGV[2]) end
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', f(cutoff))) do
  local key = P .. 'job:' .. id
  if redis.call('HGET', key, 'state') ~= 'running' then
    redis.call('ZREM', P .. 'running', id)
  elseif tonumber(redis.call('HGET', key, 'lease_until') or '0') <= cutoff then
    table.insert(expired, id)
  end
end
return lose_all(expired, tonumber(ARGV[3]), t)
""",
    # ARGV: P, worker ('' = every worker), max_attempts
    "requeue_interrupted": """
local t = now()
local held = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'running', 0, -1)) do
  local key = P .. 'job:' .. id
  if redis.call('HGET', key, 'state') ~= 'running' then
    redis.call('ZREM', P .. 'running', id)
  elseif holds(key, ARGV[2]) then
    table.insert(held, id)
  end
end
return lose_all(held, tonumber(ARGV[3]), t)
""",
    # ARGV: P, id
    "cancel": """
local id = ARGV[2]
local key = P .. 'job:' .. id
local state = redis.call('HGET', key, 'state')
if state == 'queued' then
  redis.call('HSET', key, 'cancel_requested', 1)
  to_final(key, id, 'cancelled', now())
  return 1
elseif state == 'running' then
  redis.call('HSET', key, 'cancel_requested', 1)
  return 1
end
return 0
""",
    # ARGV: P, cutoff (final jobs that finished before it are deleted)
    "cleanup": """
local gone = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. ARGV[2])) do
  local key = P .. 'job:' .. id
  local owner = redis.call('HGET', key, 'owner')
  if owner then redis.call('ZREM', P .. 'owner:' .. owner, id) end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'jobs', id)
  redis.call('ZREM', P .. 'finished', id)
  table.insert(gone, id)
end
return gone
""",
}

Ids = list[str]  # (``list`` is a method name in the store's class body)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisJobStore(JobStore):
    """:class:`~impasto.service.stores.JobStore` in a Redis database, shared by every machine that has its
    URL; safe to use from many threads and processes. ``patience``: seconds a call keeps trying while
    Redis is unreachable (a worker rides out a restart; the API, at 0, answers 503 at once).
    ``progress_interval``: a running job's progress is written at most this often (a new preview, the
    last step and the cancel check always go through)."""

    def __init__(
        self, url: str, *, prefix: str = "impasto:", patience: float = 0.0, progress_interval: float = 0.0
    ) -> None:
        self.url = check_url(url)
        self.prefix, self.patience, self.progress_interval = prefix, patience, progress_interval
        self._written: dict[str, float] = {}  # job id → when its progress was last written
        self.client = connect(url, text=True)  # records are text: decoded by redis-py's parser
        self._scripts = {
            name: self.client.register_script(_PRELUDE + body) for name, body in _SCRIPTS.items()
        }

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](keys=[], args=[self.prefix, *args])

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    @staticmethod
    def _job(reply: Any) -> Job | None:
        """A job from an ``HGETALL`` reply (a dict from redis-py, a flat list from a script)."""
        if not reply:
            return None
        if isinstance(reply, dict):
            fields = {_text(k): _text(v) for k, v in reply.items()}
        else:
            fields = {_text(reply[i]): _text(reply[i + 1]) for i in range(0, len(reply), 2)}
        return Job.from_record(fields)

    # -- the JobStore protocol (its part that is the same for every store is in JobStore) ---------------
    @guarded
    def _add(
        self, job_id: str, kind: str, params: str, inputs: str, owner: str, max_pending: int | None
    ) -> bool:
        limit = "" if max_pending is None else str(max_pending)
        done = self._run("submit", job_id, kind, params, inputs, owner, limit)
        if done == -1:
            raise ValueError(f"job {job_id} already exists")
        return bool(done == 1)

    @guarded
    def get(self, job_id: str) -> Job | None:
        return self._job(self.client.hgetall(self._key(job_id)))

    def _many(self, ids: list[bytes]) -> list[Job]:
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self._key(_text(job_id)))
        return [job for job in map(self._job, pipe.execute()) if job is not None]

    @guarded
    def list(self, *, limit: int = 50, state: str | None = None, owner: str | None = None) -> list[Job]:
        if state in (QUEUED, RUNNING):  # few: all of them, newest first
            jobs = self._many(self.client.zrange(f"{self.prefix}{state}", 0, -1))
            jobs = [j for j in jobs if j.state == state and (owner is None or j.owner == owner)]
            return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]
        index = f"{self.prefix}jobs" if owner is None else f"{self.prefix}owner:{owner}"
        out: list[Job] = []
        start, page = 0, max(limit, 100)
        while len(out) < limit:
            ids = self.client.zrevrange(index, start, start + page - 1)
            if not ids:
                break
            out += [j for j in self._many(ids) if state is None or j.state == state]
            start += page
        return out[:limit]

    @guarded
    def pending(self) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.zcard(f"{self.prefix}queued")
        pipe.zcard(f"{self.prefix}running")
        return sum(pipe.execute())

    @guarded
    def queued(self) -> int:
        """Jobs waiting for a worker (``/healthz``)."""
        return int(self.client.zcard(f"{self.prefix}queued"))

    @guarded
    def cancel(self, job_id: str) -> Job | None:
        self._run("cancel", job_id)
        return self.get(job_id)

    @guarded
    def cancel_requested(self, job_id: str) -> bool:
        flag = self.client.hget(self._key(job_id), "cancel_requested")
        return flag is None or flag == "1"

    @guarded
    def claim_next(self, worker: str, *, lease: float = LEASE) -> Job | None:
        return self._job(self._run("claim_next", worker, lease))

    @guarded
    def claim(
        self, job_id: str, worker: str, *, lease: float = LEASE, max_attempts: int = MAX_ATTEMPTS
    ) -> Job | None:
        return self._job(self._run("claim", job_id, worker, lease, max_attempts))

    @guarded
    def renew(self, job_id: str, worker: str, *, lease: float = LEASE) -> bool:
        return self._run("renew", job_id, worker, lease) == 1

    @guarded
    def update_progress(
        self, job_id: str, progress: Progress, *, preview: bool = False, worker: str | None = None
    ) -> bool:
        now = time.monotonic()
        if (
            self.progress_interval
            and not preview
            and progress.step < progress.total
            and now - self._written.get(job_id, -1e9) < self.progress_interval
        ):
            return not self.cancel_requested(job_id)
        self._written[job_id] = now
        if len(self._written) > 1000:  # a long-lived worker: forget jobs long done
            self._written = {k: t for k, t in self._written.items() if now - t < 3600}
        go_on = self._run("progress", job_id, progress.to_json(), "1" if preview else "0", worker or "")
        return go_on == 1

    @guarded
    def _end(
        self, job_id: str, state: str, result: str | None, error: str | None, worker: str | None
    ) -> bool:
        return self._run("finish", job_id, state, result or "", error or "", worker or "") == 1

    @guarded
    def requeue(self, job_id: str, *, worker: str | None = None) -> bool:
        return self._run("requeue", job_id, worker or "") == 1

    @guarded
    def requeue_expired(self, *, max_attempts: int = MAX_ATTEMPTS, now: float | None = None) -> Ids:
        return [
            _text(i) for i in self._run("requeue_expired", "" if now is None else f"{now:.6f}", max_attempts)
        ]

    @guarded
    def requeue_interrupted(self, *, worker: str | None = None, max_attempts: int = MAX_ATTEMPTS) -> Ids:
        return [_text(i) for i in self._run("requeue_interrupted", worker or "", max_attempts)]

    @guarded
    def cleanup(self, older_than: float, *, now: float | None = None) -> Ids:
        if now is None:
            seconds, micros = self.client.time()
            now = seconds + micros / 1e6
        return [_text(i) for i in self._run("cleanup", f"{now - older_than:.6f}")]

    def close(self) -> None:
        self.client.connection_pool.disconnect(inuse_connections=False)


__all__ = ["RedisJobStore"]
